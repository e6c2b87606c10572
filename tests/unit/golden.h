// Golden files: text a test produces, compared with tests/unit/golden/<name>.json (or another
// extension) (the directory is GAOL_GOLDEN_DIR). GAOL_UPDATE_GOLDEN=1 rewrites the files instead;
// read the diff before committing it.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace gaol::testing {

inline std::string GoldenPath(const std::string& name, const std::string& ext = ".json") {
  return std::string(GAOL_GOLDEN_DIR) + "/" + name + ext;
}

// Checks `actual` against the golden file `name`, or with GAOL_UPDATE_GOLDEN=1 writes it there.
inline void CheckGolden(const std::string& name, const std::string& actual,
                        const std::string& ext = ".json") {
  const std::string path = GoldenPath(name, ext);
  const char* update = std::getenv("GAOL_UPDATE_GOLDEN");
  if (update && std::string(update) == "1") {
    std::ofstream out(path, std::ios::trunc);
    out << actual;
    REQUIRE(out.good());
    WARN("rewrote " << path);
    return;
  }
  std::ifstream in(path);
  INFO("golden file " << path << " (GAOL_UPDATE_GOLDEN=1 writes it)");
  REQUIRE(in.good());
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

}  // namespace gaol::testing
