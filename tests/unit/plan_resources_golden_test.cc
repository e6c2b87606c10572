// The plan for a job with resource limits on a host whose cgroup offers only memory and pids,
// compared with tests/unit/golden/plan_resources.json. GAOL_UPDATE_GOLDEN=1 rewrites the file
// instead (golden.h); a second test checks the resource part of the file by hand
// so a rewrite cannot bless a wrong plan unnoticed.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/plan/plan.h"
#include "tests/unit/golden.h"
#include "tests/unit/plan_fixture.h"

namespace gaol {
namespace {

using nlohmann::json;
using testing::CheckGolden;
using testing::FixedHostFacts;
using testing::GoldenPath;
using testing::SpecOf;

const std::string kGoldenPath = GoldenPath("plan_resources");

JobSpec ResourcesSpec() {
  JobSpec spec = SpecOf({"/usr/bin/python3", "solution.py"});
  spec.limits.memory_bytes = 256ULL << 20;
  spec.limits.pids = 64;
  spec.limits.cpus = 1.5;
  spec.limits.time_limit_seconds = 2.5;
  return spec;
}

HostFacts ResourcesHost() {
  HostFacts facts = FixedHostFacts();
  facts.cgroup =
      cgroup::Parent{"/sys/fs/cgroup/user.slice/user-1000.slice/gaol", {"memory", "pids"}, true};
  return facts;
}

TEST_CASE("Golden plan: memory pids cpus and time limits on a memory+pids cgroup",
          "[plan][golden][resources]") {
  auto plan = MakePlan(ResourcesSpec(), ResourcesHost());
  INFO((plan ? std::string() : plan.error().Message()));
  REQUIRE(plan);
  CheckGolden("plan_resources", PlanToJson(*plan).dump(2) + "\n");
}

TEST_CASE("Golden plan_resources.json holds the expected resource plan",
          "[plan][golden][resources]") {
  std::ifstream in(kGoldenPath);
  INFO("golden file " << kGoldenPath);
  REQUIRE(in.good());
  json golden = json::parse(in, nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(golden.is_discarded());
  const json& cg = golden.at("cgroup");
  CHECK(cg.at("parent") == "/sys/fs/cgroup/user.slice/user-1000.slice/gaol");
  CHECK(cg.at("controllers") == json{"memory", "pids"});
  CHECK(
      cg.at("limits") ==
      json::array({json::array({"memory.max", "268435456"}), json::array({"memory.swap.max", "0"}),
                   json::array({"memory.oom.group", "1"}), json::array({"pids.max", "64"})}));
  CHECK(golden.at("enforcement") ==
        json{{"cpu", "none"}, {"memory", "cgroup"}, {"pids", "cgroup"}, {"time_limit", "cgroup"}});
  CHECK(golden.at("time_limit_seconds") == 2.5);
  // core by default, and the CPU-time backstop ceil(2.5) + 1 / + 2; no as, no nproc.
  CHECK(golden.at("rlimits") == json{{{"name", "core"}, {"soft", 0}, {"hard", 0}},
                                     {{"name", "cpu"}, {"soft", 4}, {"hard", 5}}});
  CHECK(golden.at("argv") == json{"/usr/bin/python3", "solution.py"});
}

}  // namespace
}  // namespace gaol
