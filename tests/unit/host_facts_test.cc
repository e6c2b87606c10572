// ParseSubordinateIds: the caller's lines of /etc/subuid, by name or numeric uid.
#include "sandbox/plan/host_facts.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace gaol {
namespace {

TEST_CASE("ParseSubordinateIds takes the user's lines by name and by uid", "[host_facts]") {
  const std::string text =
      "root:10000:5000\n"
      "alice:100000:65536\n"
      "bob:165536:65536\n"
      "1000:300000:1000\n"
      "alice:500000:10\n";
  CHECK(ParseSubordinateIds(text, "alice", 1000) ==
        std::vector<IdRange>{{0, 100000, 65536}, {0, 300000, 1000}, {0, 500000, 10}});
  CHECK(ParseSubordinateIds(text, "bob", 1001) == std::vector<IdRange>{{0, 165536, 65536}});
  // A user without a passwd name is found by uid alone.
  CHECK(ParseSubordinateIds(text, "", 1000) == std::vector<IdRange>{{0, 300000, 1000}});
  CHECK(ParseSubordinateIds(text, "carol", 1002).empty());
  CHECK(ParseSubordinateIds("", "alice", 1000).empty());
}

TEST_CASE("ParseSubordinateIds skips comments, garbage and empty ranges", "[host_facts]") {
  const std::string text =
      "# alice:1:1\n"
      "#alice:2:2\n"
      "\n"
      "alice\n"
      "alice:\n"
      "alice:100000\n"
      "alice:x:65536\n"
      "alice:100000:y\n"
      "alice:-1:5\n"
      "alice:100000:0\n"
      "alice:100000:65536:extra\n"
      "alice:4294967296:1\n"
      " alice:7:7\n"
      "alicex:8:8\n"
      "ali:9:9\n"
      "alice:200000:65536\n"
      "alice:300000:5";  // no final newline
  CHECK(ParseSubordinateIds(text, "alice", 1000) ==
        std::vector<IdRange>{{0, 200000, 65536}, {0, 300000, 5}});
}

}  // namespace
}  // namespace gaol
