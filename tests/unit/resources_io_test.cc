// io.max: --device-read-bps and friends, from flags and JSON to the plan.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "sandbox/cli/run_flags.h"
#include "tests/unit/flags_fixture.h"
#include "tests/unit/resources_fixture.h"

namespace gaol::testing {
namespace {

using Catch::Matchers::Contains;

JobSpec WithDevice() {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.limits.devices.push_back({.path = "/dev/vda", .read_bps = 1048576, .write_iops = 100});
  return spec;
}

HostFacts FactsWithDisk(std::set<std::string> controllers) {
  HostFacts facts = FactsWithCgroup(std::move(controllers));
  facts.block_devices["/dev/vda"] = "254:0";
  return facts;
}

TEST_CASE("io.max: one line per device, unset rates max", "[resources][io]") {
  auto plan = MakePlan(WithDevice(), FactsWithDisk({"io"}));
  REQUIRE(plan);
  CHECK(plan->cgroup.controllers == std::set<std::string>{"io"});
  CHECK(plan->cgroup.limits == std::vector<std::pair<std::string, std::string>>{
                                   {"io.max", "254:0 rbps=1048576 wbps=max riops=max wiops=100"}});
  CHECK(plan->enforcement.at("io") == "cgroup");
}

TEST_CASE("io.max: without the io controller the device limit is enforced by nothing",
          "[resources][io]") {
  auto plan = MakePlan(WithDevice(), FactsWithDisk({"memory"}));
  REQUIRE(plan);
  CHECK(plan->cgroup.limits.empty());
  CHECK(plan->enforcement.at("io") == "none");
  JobSpec strict = WithDevice();
  strict.require_cgroup = true;
  auto refused = MakePlan(strict, FactsWithDisk({"memory"}));
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().Message(), Contains("`io`"));
}

TEST_CASE("io.max: device limits round-trip and are validated", "[resources][io]") {
  JobSpec spec = WithDevice();
  auto back = SpecFromJson(SpecToJson(spec));
  REQUIRE(back);
  CHECK(*back == spec);
  spec.limits.devices[0] = {.path = "/dev/vda"};
  CHECK_THAT(ValidateSpec(spec).error().Message(), Contains("limits.devices[0]"));
  spec.limits.devices[0] = {.path = "dev/vda", .read_bps = 1};
  CHECK_THAT(ValidateSpec(spec).error().Message(), Contains("absolute device path"));
  spec.limits.devices[0] = {.path = "/dev/vda", .write_bps = 0};
  CHECK_THAT(ValidateSpec(spec).error().Message(), Contains("rates above 0"));
  auto wrong = SpecFromJsonText(
      R"({"command": ["x"], "limits": {"devices": [{"path": "/dev/vda", "rbps": 1}]}})");
  REQUIRE_FALSE(wrong);
  CHECK_THAT(wrong.error().Message(), Contains("limits.devices[0].rbps"));
}

TEST_CASE("io.max: the four flags merge by device", "[resources][io][flags]") {
  JobSpec spec = Build({"--device-read-bps", "/dev/vda:1mb", "--device-write-bps", "/dev/vda:2m",
                        "--device-read-iops", "/dev/vdb:50", "--device-write-iops", "/dev/vdb:60",
                        "--", "/bin/true"});
  REQUIRE(spec.limits.devices.size() == 2);
  CHECK(spec.limits.devices[0] ==
        DeviceIoSpec{.path = "/dev/vda", .read_bps = 1048576, .write_bps = 2097152});
  CHECK(spec.limits.devices[1] ==
        DeviceIoSpec{.path = "/dev/vdb", .read_iops = 50, .write_iops = 60});
  CHECK(spec.command == std::vector<std::string>{"/bin/true"});
  for (const char* bad : {"/dev/vda", "/dev/vda:", ":5", "/dev/vda:fast", "/dev/vda:0"}) {
    INFO(bad);
    CHECK_THAT(BuildError({"--device-read-bps", bad, "--", "/bin/true"}).Message(),
               Contains("--device-read-bps"));
  }
}

}  // namespace
}  // namespace gaol::testing
