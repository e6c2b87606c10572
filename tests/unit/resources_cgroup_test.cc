// The cgroup helpers behind resource limits: FindParent's error for a directory that is not a
// cgroup, and FlatKeyedValue.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "sandbox/cgroup/cgroup.h"

namespace gaol {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("Resources: FindParent refuses a directory that is not cgroup v2",
          "[resources][cgroup]") {
  for (const char* dir : {"/tmp", "/", "/nonexistent/gaol/cgroup"}) {
    INFO(dir);
    auto parent = cgroup::FindParent(std::string(dir));
    REQUIRE_FALSE(parent);
    CHECK(parent.error().step == Step::kValidate);
    CHECK_THAT(parent.error().Message(), Contains("--cgroup-parent") &&
                                             Contains(std::string("`") + dir + "`") &&
                                             Contains("cgroup v2"));
  }
}

TEST_CASE("Resources: FlatKeyedValue reads one key of a flat keyed file", "[resources][cgroup]") {
  const std::string cpu_stat =
      "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 0\n"
      "nr_throttled 0\nthrottled_usec 0\n";
  CHECK(cgroup::FlatKeyedValue(cpu_stat, "usage_usec") == 123456u);
  CHECK(cgroup::FlatKeyedValue(cpu_stat, "user_usec") == 100000u);
  CHECK(cgroup::FlatKeyedValue(cpu_stat, "system_usec") == 23456u);
  CHECK(cgroup::FlatKeyedValue(cpu_stat, "throttled_usec") == 0u);
  CHECK_FALSE(cgroup::FlatKeyedValue(cpu_stat, "missing"));
  // A key that is a prefix of another is not confused with it, in either order.
  const std::string events = "low 0\nhigh 0\nmax 7\noom 1\noom_kill 2\noom_group_kill 0\n";
  CHECK(cgroup::FlatKeyedValue(events, "oom") == 1u);
  CHECK(cgroup::FlatKeyedValue(events, "oom_kill") == 2u);
  CHECK(cgroup::FlatKeyedValue(events, "max") == 7u);
  CHECK(cgroup::FlatKeyedValue("oom_kill 2\noom 3\n", "oom") == 3u);
  CHECK_FALSE(cgroup::FlatKeyedValue("oom_kill 2\n", "oom"));
  CHECK_FALSE(cgroup::FlatKeyedValue("usage 5\n", "usage_usec"));
  // The last line needs no newline; a value spans all 64 bits.
  CHECK(cgroup::FlatKeyedValue("populated 1", "populated") == 1u);
  CHECK(cgroup::FlatKeyedValue("populated 0\nfrozen 0\n", "populated") == 0u);
  CHECK(cgroup::FlatKeyedValue("big 18446744073709551615\n", "big") == UINT64_MAX);
  // Not a number, no value, or empty text: nothing.
  CHECK_FALSE(cgroup::FlatKeyedValue("max abc\n", "max"));
  CHECK_FALSE(cgroup::FlatKeyedValue("max \n", "max"));
  CHECK_FALSE(cgroup::FlatKeyedValue("max\n", "max"));
  CHECK_FALSE(cgroup::FlatKeyedValue("max -1\n", "max"));
  CHECK_FALSE(cgroup::FlatKeyedValue("", "max"));
  // The key must start the line.
  CHECK_FALSE(cgroup::FlatKeyedValue("xmax 3\n", "max"));
}

}  // namespace
}  // namespace gaol
