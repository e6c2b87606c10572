// ValidateSpec: cross-field rules and value ranges, each failure naming the field.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/spec/job_spec.h"
#include "tests/unit/spec_fixture.h"

namespace gaol {
namespace {

using Catch::Matchers::Contains;
using testing::CheckInvalid;
using testing::CheckValid;
using testing::ValidSpec;

MountSpec Bind(std::string source, std::string target) {
  return {.type = MountType::kBind, .source = std::move(source), .target = std::move(target)};
}

MountSpec Tmpfs(std::string target) { return {.type = MountType::kTmpfs, .target = target}; }

TEST_CASE("A spec with a command and defaults is valid", "[validate]") {
  CHECK(ValidateSpec(ValidSpec()));
}

TEST_CASE("The command must be given", "[validate]") {
  CheckInvalid([](JobSpec& s) { s.command.clear(); }, "command");
  CheckInvalid([](JobSpec& s) { s.command = {""}; }, "command");
  CheckInvalid([](JobSpec& s) { s.command = {"", "arg"}; }, "command");
  CheckValid([](JobSpec& s) { s.command = {"true"}; });  // PATH search happens in the plan
}

TEST_CASE("The workdir must be a clean absolute path", "[validate]") {
  for (const char* bad : {"a", "", "/a/../b", "/a/", "/a/./b", "/a//b", "./a", "/.."}) {
    INFO(bad);
    CheckInvalid([&](JobSpec& s) { s.workdir = bad; }, "spec field `workdir`");
  }
  for (const char* good : {"/", "/a", "/work/dir", "/a..b/.c"}) {
    INFO(good);
    CheckValid([&](JobSpec& s) { s.workdir = good; });
  }
}

TEST_CASE("The hostname is 1 to 64 letters, digits, '-' or '.'", "[validate]") {
  for (std::string bad : {std::string(), std::string(65, 'a'), std::string("a b"),
                          std::string("a_b"), std::string("a/b"), std::string("héllo")}) {
    INFO(bad);
    CheckInvalid([&](JobSpec& s) { s.hostname = bad; }, "spec field `hostname`");
  }
  for (std::string good : {std::string(64, 'a'), std::string("a"), std::string("judge-1.local")}) {
    CheckValid([&](JobSpec& s) { s.hostname = good; });
  }
}

TEST_CASE("Mount targets are clean, absolute, not / nor under /proc, and unique", "[validate]") {
  for (const char* bad :
       {"/", "relative", "", "/a/../b", "/a/..", "/a/", "/proc", "/proc/sys", "/proc/self/fd"}) {
    INFO(bad);
    CheckInvalid([&](JobSpec& s) { s.mounts = {Bind("/src", bad)}; },
                 "spec field `mounts[0].target`");
    CheckInvalid(
        [&](JobSpec& s) {
          s.mounts = {Tmpfs("/ok"), Tmpfs(bad)};
        },
        "spec field `mounts[1].target`");
  }
  CheckValid([](JobSpec& s) { s.mounts = {Tmpfs("/procfs"), Tmpfs("/srv/proc")}; });
  CheckInvalid(
      [](JobSpec& s) {
        s.mounts = {Bind("/a", "/data"), Tmpfs("/x"), Tmpfs("/data")};
      },
      "spec field `mounts[2].target`");
  Status dup = [] {
    JobSpec s = ValidSpec();
    s.mounts = {Bind("/a", "/data"), Bind("/b", "/data")};
    return ValidateSpec(s);
  }();
  REQUIRE_FALSE(dup);
  CHECK_THAT(dup.error().Message(), Contains("/data") && Contains("twice"));
}

TEST_CASE("A bind's source is a clean absolute host path", "[validate]") {
  for (const char* bad : {"", "src", "./src", "/a/../etc"}) {
    INFO(bad);
    CheckInvalid([&](JobSpec& s) { s.mounts = {Bind(bad, "/data")}; },
                 "spec field `mounts[0].source`");
  }
  CheckValid([](JobSpec& s) { s.mounts = {Bind("/", "/host")}; });
}

TEST_CASE("Sizes: tmpfs above 0, none on a bind", "[validate]") {
  CheckInvalid(
      [](JobSpec& s) {
        s.mounts = {Tmpfs("/tmp")};
        s.mounts[0].size_bytes = 0;
      },
      "spec field `mounts[0].size_bytes`");
  CheckInvalid(
      [](JobSpec& s) {
        s.mounts = {Bind("/a", "/b")};
        s.mounts[0].size_bytes = 1024;
      },
      "spec field `mounts[0].size_bytes`");
  CheckValid([](JobSpec& s) {
    s.mounts = {Tmpfs("/tmp")};
    s.mounts[0].size_bytes = 1;
  });
}

TEST_CASE("Environment names have no '=' and values no NUL", "[validate]") {
  // Moved std::strings: g++ 12 -O3's -Wrestrict misfires on assigning a one-byte literal.
  CheckInvalid([](JobSpec& s) { s.env["A=B"] = std::string("1"); }, "spec field `env.A=B`");
  CheckInvalid([](JobSpec& s) { s.env[""] = std::string("1"); }, "spec field `env.`");
  CheckInvalid([](JobSpec& s) { s.env["A"] = std::string("x\0y", 3); }, "spec field `env.A`");
  CheckValid([](JobSpec& s) { s.env["A"] = "B=C"; });
}

TEST_CASE("A ulimit's soft limit is not above its hard limit, and its name is known",
          "[validate]") {
  CheckInvalid([](JobSpec& s) { s.ulimits["nofile"] = {128, 64}; }, "spec field `ulimits.nofile`");
  CheckInvalid(
      [](JobSpec& s) {
        s.ulimits["core"] = {RLIM_INFINITY, 0};
      },
      "spec field `ulimits.core`");
  CheckValid([](JobSpec& s) { s.ulimits["nofile"] = {64, 64}; });
  CheckValid([](JobSpec& s) { s.ulimits["stack"] = {8 << 20, RLIM_INFINITY}; });
  // The JSON reader and the flag refuse unknown names; a spec built in code must be refused too,
  // or the plan has no resource for it.
  CheckInvalid([](JobSpec& s) { s.ulimits["bogus"] = {1, 1}; }, "spec field `ulimits.bogus`");
  // Too small to lay out a program: the exec would die of SIGSEGV, so it is bad input instead.
  for (const char* name : {"as", "data", "stack"}) {
    INFO(name);
    CheckInvalid(
        [&](JobSpec& s) {
          s.ulimits[name] = {1, 1};
        },
        std::string("spec field `ulimits.") + name + "`");
    CheckInvalid(
        [&](JobSpec& s) {
          s.ulimits[name] = {(1 << 20) - 1, 1 << 20};
        },
        std::string("spec field `ulimits.") + name + "`");
    CheckValid([&](JobSpec& s) { s.ulimits[name] = {1 << 20, 1 << 20}; });
  }
}

TEST_CASE("The rootfs is a clean absolute host path", "[validate]") {
  for (const char* bad : {"rootfs", "", "/srv/../etc", "/srv/root/"}) {
    INFO(bad);
    CheckInvalid([&](JobSpec& s) { s.rootfs = bad; }, "spec field `rootfs`");
  }
  CheckValid([](JobSpec& s) { s.rootfs = "/srv/root"; });
}

TEST_CASE("The output limit is above 0", "[validate]") {
  CheckInvalid([](JobSpec& s) { s.limits.output_limit_bytes = 0; },
               "spec field `limits.output_limit_bytes`");
  CheckValid([](JobSpec& s) { s.limits.output_limit_bytes = 1; });
}

TEST_CASE("Stdio paths, when given, are not empty", "[validate]") {
  CheckInvalid([](JobSpec& s) { s.stdin_path = ""; }, "spec field `stdin`");
  CheckInvalid([](JobSpec& s) { s.stdout_path = ""; }, "spec field `stdout`");
  CheckInvalid([](JobSpec& s) { s.stderr_path = ""; }, "spec field `stderr`");
  CheckValid([](JobSpec& s) { s.stdin_path = std::string("-"); });
}

TEST_CASE("ID ranges hold at least one ID and stay below 4294967295", "[validate]") {
  CheckInvalid(
      [](JobSpec& s) {
        s.map_users.ranges = {{0, 100000, 0}};
      },
      "spec field `map_users[0]`");
  CheckInvalid(
      [](JobSpec& s) {
        s.map_users.ranges = {{0, 100000, 1}, {4294967295u, 1, 1}};
      },
      "spec field `map_users[1]`");
  CheckInvalid(
      [](JobSpec& s) {
        s.map_groups.ranges = {{0, 4294967290u, 10}};
      },
      "spec field `map_groups[0]`");
  CheckInvalid(
      [](JobSpec& s) {
        s.map_groups.ranges = {{4294967295u, 0, 4294967295u}};
      },
      "spec field `map_groups[0]`");
  CheckValid([](JobSpec& s) { s.map_users.ranges = {{4294967294u, 100000, 1}}; });
  CheckValid([](JobSpec& s) { s.map_groups.ranges = {{0, 1, 4294967294u}}; });
}

TEST_CASE("The uid and gid inside are not 4294967295 (-1)", "[validate]") {
  // The flags refuse it; a spec file must not get past with it either.
  CheckInvalid([](JobSpec& s) { s.uid = 4294967295u; }, "spec field `uid`");
  CheckInvalid([](JobSpec& s) { s.gid = 4294967295u; }, "spec field `gid`");
  CheckValid([](JobSpec& s) {
    s.uid = 4294967294u;
    s.gid = 0;
  });
}

}  // namespace
}  // namespace gaol
