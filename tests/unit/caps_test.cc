// Capability names to the mask the job keeps, and --cap-add / --cap-drop.
#include "sandbox/caps/caps.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/unit/flags_fixture.h"

namespace gaol::testing {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("capability names in Docker's forms", "[caps]") {
  int last = 40;
  CHECK(caps::MaskFromNames({}, "--cap-add", last).value() == 0u);
  CHECK(caps::MaskFromNames({"NET_BIND_SERVICE"}, "--cap-add", last).value() == 1u << 10);
  CHECK(caps::MaskFromNames({"cap_net_raw", "CHOWN"}, "--cap-add", last).value() ==
        ((1u << 13) | 1u));
  CHECK(caps::MaskFromNames({"all"}, "--cap-add", last).value() == (1ULL << 41) - 1);
  auto bad = caps::MaskFromNames({"NET_FLY"}, "--cap-add", last);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().Message(), Contains("`NET_FLY`") && Contains("expected"));
  // A capability the kernel does not have (above cap_last_cap) is refused too.
  CHECK_FALSE(caps::MaskFromNames({"CHECKPOINT_RESTORE"}, "--cap-add", 39));
  CHECK(caps::NameOf(10) == "NET_BIND_SERVICE");
}

TEST_CASE("Flags: cap-add keeps, cap-drop takes back, ALL drops everything", "[caps][flags]") {
  CHECK(Build({"--", "/bin/true"}).capabilities.empty());
  CHECK(Build({"--cap-add", "cap_net_raw", "--", "/bin/true"}).capabilities ==
        std::vector<std::string>{"NET_RAW"});
  CHECK(Build({"--cap-add", "NET_RAW", "--cap-add", "CHOWN", "--cap-drop", "cap_chown", "--",
               "/bin/true"})
            .capabilities == std::vector<std::string>{"NET_RAW"});
  CHECK(
      Build({"--cap-add", "NET_RAW", "--cap-drop", "ALL", "--", "/bin/true"}).capabilities.empty());
  JobSpec spec = Build({"--cap-add", "NET_RAW", "--", "/bin/true"});
  auto back = SpecFromJson(SpecToJson(spec));
  REQUIRE(back);
  CHECK(back->capabilities == spec.capabilities);
}

}  // namespace
}  // namespace gaol::testing
