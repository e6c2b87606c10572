// The flag syntaxes of `gaol run`: good inputs, and bad ones named with what was expected.
#include "sandbox/cli/run_flags.h"

#include <stdlib.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

namespace gaol::cli {
namespace {

using Catch::Matchers::Contains;
using EnvList = std::vector<std::pair<std::string, std::string>>;

template <class T>
void CheckBad(const Result<T>& result, const std::string& flag, const std::string& text) {
  INFO(flag << " " << text);
  REQUIRE_FALSE(result);
  CHECK(result.error().step == Step::kValidate);
  CHECK_THAT(result.error().Message(), Contains(flag) && Contains("expected"));
}

TEST_CASE("ParseVolume: SRC:DST[:ro|rw]", "[flags]") {
  auto rw = ParseVolume("/srv/task:/work");
  REQUIRE(rw);
  CHECK(*rw == MountSpec{.type = MountType::kBind, .source = "/srv/task", .target = "/work"});
  auto ro = ParseVolume("/srv/task:/work:ro");
  REQUIRE(ro);
  CHECK(ro->read_only);
  CHECK(ro->source == "/srv/task");
  auto explicit_rw = ParseVolume("/a:/b:rw");
  REQUIRE(explicit_rw);
  CHECK_FALSE(explicit_rw->read_only);
  for (const char* bad :
       {"", "/a", ":/b", "/a:", "/a:/b:", "/a:/b:ro:x", "/a:/b:z", "/a::/b", "/a:/b:RO"}) {
    CheckBad(ParseVolume(bad), "--volume", bad);
  }
}

TEST_CASE("ParseTmpfs: DST[:size=N]", "[flags]") {
  auto plain = ParseTmpfs("/tmp");
  REQUIRE(plain);
  CHECK(*plain == MountSpec{.type = MountType::kTmpfs, .target = "/tmp"});
  auto sized = ParseTmpfs("/scratch:size=64m");
  REQUIRE(sized);
  CHECK(sized->target == "/scratch");
  CHECK(sized->size_bytes == 64ULL << 20);
  auto bytes = ParseTmpfs("/x:size=4096");
  REQUIRE(bytes);
  CHECK(bytes->size_bytes == 4096u);
  for (const char* bad : {"/tmp:size=0", "/tmp:size=", "/tmp:size=abc", "/tmp:mode=1777",
                          "/tmp:", "/tmp:64m", "", ":size=1m"}) {
    CheckBad(ParseTmpfs(bad), "--tmpfs", bad);
  }
}

TEST_CASE("ParseUlimit: NAME=SOFT[:HARD]", "[flags]") {
  auto one = ParseUlimit("nofile=64");
  REQUIRE(one);
  CHECK(one->first == "nofile");
  CHECK(one->second == RlimitSpec{64, 64});
  auto two = ParseUlimit("nofile=64:128");
  REQUIRE(two);
  CHECK(two->second == RlimitSpec{64, 128});
  auto unlimited = ParseUlimit("core=unlimited");
  REQUIRE(unlimited);
  CHECK(unlimited->second == RlimitSpec{RLIM_INFINITY, RLIM_INFINITY});
  auto minus_one = ParseUlimit("stack=8388608:-1");
  REQUIRE(minus_one);
  CHECK(minus_one->second == RlimitSpec{8388608, RLIM_INFINITY});
  for (const auto& [name, value] : UlimitResources()) {
    INFO(name);
    CHECK(ParseUlimit(name + "=1"));
  }
  for (const char* bad : {"nofile", "bogus=1", "=1", "nofile=", "nofile=a", "nofile=1:",
                          "nofile=:1", "nofile=1:2:3", "NOFILE=1", "nofile=1.5", "nofile=-2"}) {
    CheckBad(ParseUlimit(bad), "--ulimit", bad);
  }
}

TEST_CASE("ParseIdMap: auto or INSIDE:OUTSIDE:COUNT,...", "[flags]") {
  auto automatic = ParseIdMap("--map-users", "auto");
  REQUIRE(automatic);
  CHECK(automatic->automatic);
  CHECK(automatic->ranges.empty());
  auto ranges = ParseIdMap("--map-users", "1:100000:65536,70000:200000:10");
  REQUIRE(ranges);
  CHECK_FALSE(ranges->automatic);
  CHECK(ranges->ranges == std::vector<IdRange>{{1, 100000, 65536}, {70000, 200000, 10}});
  for (const char* bad : {"", "AUTO", "1", "1:2", "1:2:0", "1:2:3:4", "a:b:c", "1:2:3,", ",1:2:3",
                          "-1:2:3", "1:2:4294967296", "auto,1:2:3"}) {
    CheckBad(ParseIdMap("--map-groups", bad), "--map-groups", bad);
  }
}

TEST_CASE("ParseEnvFile: KEY=VALUE lines, comments, bare names from the caller", "[flags]") {
  ::setenv("GAOL_TEST_FROM_CALLER", "caller value", 1);
  ::unsetenv("GAOL_TEST_UNSET");
  const std::string text =
      "# a comment\n"
      "\n"
      "A=1\n"
      "  B=two words\n"
      "\t# indented comment\n"
      "C=x=y\n"
      "EMPTY=\n"
      "GAOL_TEST_FROM_CALLER\n"
      "GAOL_TEST_UNSET\n"
      "A=again";
  auto env = ParseEnvFile(text, "job.env");
  REQUIRE(env);
  CHECK(*env == EnvList{{"A", "1"},
                        {"B", "two words"},
                        {"C", "x=y"},
                        {"EMPTY", ""},
                        {"GAOL_TEST_FROM_CALLER", "caller value"},
                        {"A", "again"}});
  auto bad = ParseEnvFile("A=1\n=oops\n", "job.env");
  CheckBad(bad, "--env-file", "=oops");
  CHECK_THAT(bad.error().Message(), Contains("job.env") && Contains("line 2"));
  auto empty = ParseEnvFile("", "empty.env");
  REQUIRE(empty);
  CHECK(empty->empty());
}

}  // namespace
}  // namespace gaol::cli
