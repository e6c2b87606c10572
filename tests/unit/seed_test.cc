// The seed gaol serve fills a job's workdir from: written by io::WriteSeed, planted by
// io::PlantSeed (what PID 1 runs) into a real directory, and refused where it would leave it.
#include "sandbox/io/seed.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using gaol::io::SeedFile;

struct Dir {
  std::string path;
  gaol::UniqueFd fd;
  Dir() {
    char name[] = "/tmp/gaol-seed-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
    fd.Reset(open(name, O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string Read(const std::string& rel) const {
    std::ifstream in(path + "/" + rel);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  mode_t Mode(const std::string& rel) const {
    struct stat st = {};
    REQUIRE(lstat((path + "/" + rel).c_str(), &st) == 0);
    return st.st_mode;
  }
};

int Plant(const std::vector<SeedFile>& files, const Dir& dir, std::string* where = nullptr) {
  auto seed = gaol::io::WriteSeed(files);
  REQUIRE(seed);
  char buf[256] = {};
  int err = gaol::io::PlantSeed(seed->Get(), dir.fd.Get(), buf, sizeof buf);
  if (where) *where = buf;
  return err;
}

}  // namespace

TEST_CASE("seed: files, nested directories, modes and empty and large contents arrive whole",
          "[seed]") {
  Dir dir;
  std::string big(3 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  std::string binary("a\0b\xff", 4);
  std::vector<SeedFile> files = {{"main.py", 0644, "print(1)\n"},
                                 {"bin/run", 0755, "#!/bin/sh\n"},
                                 {"a/b/c/empty", 0600, ""},
                                 {"a/b/big", 0644, big},
                                 {"a/binary", 0400, binary}};
  REQUIRE(Plant(files, dir) == 0);
  CHECK(dir.Read("main.py") == "print(1)\n");
  CHECK(dir.Read("a/b/big") == big);
  CHECK(dir.Read("a/binary") == binary);
  CHECK(dir.Read("a/b/c/empty").empty());
  CHECK((dir.Mode("bin/run") & 07777) == 0755);
  CHECK((dir.Mode("a/b/c/empty") & 07777) == 0600);
  CHECK((dir.Mode("a/binary") & 07777) == 0400);
  CHECK(S_ISDIR(dir.Mode("a/b/c")));
  CHECK((dir.Mode("a/b") & 07777) == 0755);
}

TEST_CASE("seed: the memfd is sealed; stdin's is read-only", "[seed]") {
  auto seed = gaol::io::WriteSeed(std::vector<SeedFile>{{"x", 0644, "y"}});
  REQUIRE(seed);
  CHECK(write(seed->Get(), "z", 1) < 0);
  CHECK(ftruncate(seed->Get(), 0) != 0);
  auto in = gaol::io::SealedMemfd("gaol-stdin", "input\n");
  REQUIRE(in);
  CHECK((fcntl(in->Get(), F_GETFL) & O_ACCMODE) == O_RDONLY);
  char buf[16] = {};
  CHECK(read(in->Get(), buf, sizeof buf) == 6);
  CHECK(std::string(buf) == "input\n");
  // Reopened for writing through /proc, the seals still refuse.
  std::string self = "/proc/self/fd/" + std::to_string(in->Get());
  int rw = open(self.c_str(), O_WRONLY | O_CLOEXEC);
  if (rw >= 0) {
    CHECK(write(rw, "z", 1) < 0);
    close(rw);
  }
}

TEST_CASE("seed: nothing is planted outside the root, through a link, or twice", "[seed]") {
  Dir outside;
  Dir dir;
  std::string where;
  CHECK(Plant({{"../escaped", 0644, "x"}}, dir, &where) == EINVAL);
  CHECK(where == "../escaped");
  for (const char* path : {"/abs", "a//b", "./a", "a/.", "a/"})
    CHECK(Plant({{path, 0644, "x"}}, dir) == EINVAL);
  // A link where a parent should be (a job could leave one in a reused root): never followed.
  REQUIRE(symlink(outside.path.c_str(), (dir.path + "/link").c_str()) == 0);
  CHECK(Plant({{"link/x", 0644, "x"}}, dir, &where) == ENOTDIR);
  CHECK(Plant({{"link", 0644, "x"}}, dir) == EEXIST);
  CHECK(access((outside.path + "/x").c_str(), F_OK) != 0);
  CHECK(Plant({{"twice", 0644, "1"}, {"twice", 0644, "2"}}, dir) == EEXIST);
  CHECK(Plant({{"f", 0644, "1"}, {"f/g", 0644, "2"}}, dir) == ENOTDIR);
}

TEST_CASE("seed: a malformed seed is refused, naming what", "[seed]") {
  Dir dir;
  char where[128] = {};
  int bad = memfd_create("bad", MFD_CLOEXEC);
  REQUIRE(bad >= 0);
  REQUIRE(write(bad, "NOTASEED\1\0\0\0", 12) == 12);
  CHECK(gaol::io::PlantSeed(bad, dir.fd.Get(), where, sizeof where) == EINVAL);
  CHECK(std::string(where) == "the seed's header");
  // A count past the entries: the missing entry is named.
  REQUIRE(ftruncate(bad, 0) == 0);
  REQUIRE(pwrite(bad, "GAOLSEED\2\0\0\0", 12, 0) == 12);
  CHECK(gaol::io::PlantSeed(bad, dir.fd.Get(), where, sizeof where) == EINVAL);
  CHECK(std::string(where) == "entry 0 of the seed");
  close(bad);
  // A path longer than any the writer makes is refused by the writer too.
  CHECK(!gaol::io::WriteSeed(std::vector<SeedFile>{{std::string(5000, 'a'), 0644, ""}}));
}
