// Resource limits in the plan: where each limit goes (cgroup controller, rlimit fallback or
// nowhere), the plan's JSON, and what --require-cgroup refuses.
#include <sys/resource.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sandbox/plan/plan.h"
#include "sandbox/spec/job_spec.h"
#include "tests/unit/plan_fixture.h"
#include "tests/unit/resources_fixture.h"

namespace gaol {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;
using testing::AllControllers;
using testing::AllLimits;
using testing::FactsWithCgroup;
using testing::FixedHostFacts;
using testing::kMiB;
using testing::kParentPath;
using testing::SpecOf;
using Limits = std::vector<std::pair<std::string, std::string>>;
using Enforcement = std::map<std::string, std::string>;

Plan PlanOf(const JobSpec& spec, const HostFacts& facts) {
  auto plan = MakePlan(spec, facts);
  INFO((plan ? std::string() : plan.error().Message()));
  REQUIRE(plan);
  return *plan;
}

Error PlanError(const JobSpec& spec, const HostFacts& facts) {
  auto plan = MakePlan(spec, facts);
  REQUIRE_FALSE(plan);
  return plan.error();
}

const RlimitOp* FindRlimit(const Plan& plan, const std::string& name) {
  auto it = std::find_if(plan.rlimits.begin(), plan.rlimits.end(),
                         [&](const RlimitOp& r) { return r.name == name; });
  return it == plan.rlimits.end() ? nullptr : &*it;
}

// ---------------------------------------------------------------------------------------------
// Planning

TEST_CASE("Resources: no limit asked for, no cgroup and no enforcement", "[resources][plan]") {
  Plan plan = PlanOf(SpecOf({"/bin/true"}), AllControllers());
  CHECK(plan.enforcement.empty());
  CHECK(plan.cgroup.controllers.empty());
  CHECK(plan.cgroup.limits.empty());
  CHECK_FALSE(plan.time_limit_seconds);
  // Only the default core limit.
  REQUIRE(plan.rlimits.size() == 1);
  CHECK(plan.rlimits[0].name == "core");
  Plan bare = PlanOf(SpecOf({"/bin/true"}), FixedHostFacts());
  CHECK_FALSE(bare.cgroup.parent);
  CHECK(bare.enforcement.empty());
}

TEST_CASE("Resources: every controller offered, every limit goes to the cgroup",
          "[resources][plan]") {
  Plan plan = PlanOf(AllLimits(), AllControllers());
  REQUIRE(plan.cgroup.parent);
  CHECK(plan.cgroup.parent->path == kParentPath);
  CHECK(plan.cgroup.controllers == std::set<std::string>{"cpu", "cpuset", "memory", "pids"});
  CHECK(plan.cgroup.limits == Limits{
                                  {"memory.max", "268435456"},
                                  {"memory.swap.max", "0"},
                                  {"memory.oom.group", "1"},
                                  {"pids.max", "64"},
                                  {"cpu.max", "150000 100000"},
                                  {"cpu.weight", "200"},
                                  {"cpuset.cpus", "0-1,3"},
                              });
  CHECK(plan.enforcement == Enforcement{{"memory", "cgroup"},
                                        {"pids", "cgroup"},
                                        {"cpu", "cgroup"},
                                        {"cpu_weight", "cgroup"},
                                        {"cpuset", "cgroup"},
                                        {"time_limit", "cgroup"}});
  REQUIRE(plan.time_limit_seconds);
  CHECK(*plan.time_limit_seconds == 2.5);
  // No rlimit stands in for what the cgroup enforces...
  CHECK(FindRlimit(plan, "as") == nullptr);
  CHECK(FindRlimit(plan, "nproc") == nullptr);
  // ...except the CPU-time backstop: ceil(2.5) + 1 soft, + 2 hard.
  const RlimitOp* cpu = FindRlimit(plan, "cpu");
  REQUIRE(cpu != nullptr);
  CHECK(cpu->resource == RLIMIT_CPU);
  CHECK(cpu->soft == 4u);
  CHECK(cpu->hard == 5u);
}

TEST_CASE("Resources: without a cgroup, rlimits stand in where one comes close",
          "[resources][plan]") {
  Plan plan = PlanOf(AllLimits(), FixedHostFacts());
  CHECK_FALSE(plan.cgroup.parent);
  CHECK(plan.cgroup.controllers.empty());
  CHECK(plan.cgroup.limits.empty());
  CHECK_FALSE(plan.time_limit_seconds);
  CHECK(plan.enforcement == Enforcement{{"memory", "rlimit"},
                                        {"pids", "rlimit"},
                                        {"cpu", "none"},
                                        {"cpu_weight", "none"},
                                        {"cpuset", "none"},
                                        {"time_limit", "rlimit"}});
  const RlimitOp* as = FindRlimit(plan, "as");
  REQUIRE(as != nullptr);
  CHECK(as->resource == RLIMIT_AS);
  CHECK(as->soft == 256 * kMiB);
  CHECK(as->hard == 256 * kMiB);
  // RLIMIT_NPROC counts the job's PID 1 as well.
  const RlimitOp* nproc = FindRlimit(plan, "nproc");
  REQUIRE(nproc != nullptr);
  CHECK(nproc->resource == RLIMIT_NPROC);
  CHECK(nproc->soft == 65u);
  CHECK(nproc->hard == 65u);
  // Whole seconds: ceil(2.5) soft, one more hard.
  const RlimitOp* cpu = FindRlimit(plan, "cpu");
  REQUIRE(cpu != nullptr);
  CHECK(cpu->resource == RLIMIT_CPU);
  CHECK(cpu->soft == 3u);
  CHECK(cpu->hard == 4u);
  // The default core limit is still there.
  const RlimitOp* core = FindRlimit(plan, "core");
  REQUIRE(core != nullptr);
  CHECK(core->soft == 0u);
}

TEST_CASE("Resources: a cgroup without some controllers falls back per limit",
          "[resources][plan]") {
  Plan plan = PlanOf(AllLimits(), FactsWithCgroup({"memory", "pids"}));
  REQUIRE(plan.cgroup.parent);
  CHECK(plan.cgroup.controllers == std::set<std::string>{"memory", "pids"});
  CHECK(plan.cgroup.limits == Limits{{"memory.max", "268435456"},
                                     {"memory.swap.max", "0"},
                                     {"memory.oom.group", "1"},
                                     {"pids.max", "64"}});
  CHECK(plan.enforcement == Enforcement{{"memory", "cgroup"},
                                        {"pids", "cgroup"},
                                        {"cpu", "none"},
                                        {"cpu_weight", "none"},
                                        {"cpuset", "none"},
                                        {"time_limit", "cgroup"}});
  CHECK(FindRlimit(plan, "as") == nullptr);
  CHECK(FindRlimit(plan, "nproc") == nullptr);

  // The other way round: cpu and cpuset offered, memory and pids fall back to rlimits.
  Plan other = PlanOf(AllLimits(), FactsWithCgroup({"cpu", "cpuset"}));
  CHECK(other.cgroup.controllers == std::set<std::string>{"cpu", "cpuset"});
  CHECK(other.cgroup.limits ==
        Limits{{"cpu.max", "150000 100000"}, {"cpu.weight", "200"}, {"cpuset.cpus", "0-1,3"}});
  CHECK(other.enforcement.at("memory") == "rlimit");
  CHECK(other.enforcement.at("pids") == "rlimit");
  CHECK(other.enforcement.at("cpu") == "cgroup");
  CHECK(other.enforcement.at("time_limit") == "cgroup");
  REQUIRE(FindRlimit(other, "as") != nullptr);
  CHECK(FindRlimit(other, "as")->soft == 256 * kMiB);
  REQUIRE(FindRlimit(other, "nproc") != nullptr);
  CHECK(FindRlimit(other, "nproc")->soft == 65u);
}

TEST_CASE("Resources: an empty controller list still gets the time limit by cgroup",
          "[resources][plan]") {
  // cpu.stat exists in every cgroup: the CPU-time limit needs no controller.
  JobSpec spec = SpecOf({"/bin/true"});
  spec.limits.time_limit_seconds = 1;
  Plan plan = PlanOf(spec, FactsWithCgroup({}));
  REQUIRE(plan.cgroup.parent);
  CHECK(plan.cgroup.controllers.empty());
  CHECK(plan.cgroup.limits.empty());
  CHECK(plan.enforcement == Enforcement{{"time_limit", "cgroup"}});
  REQUIRE(plan.time_limit_seconds);
  CHECK(*plan.time_limit_seconds == 1.0);
  const RlimitOp* cpu = FindRlimit(plan, "cpu");
  REQUIRE(cpu != nullptr);
  CHECK(cpu->soft == 2u);  // ceil(1) + 1
  CHECK(cpu->hard == 3u);
}

TEST_CASE("Resources: CPU-time rlimits round up to whole seconds", "[resources][plan]") {
  struct Case {
    double seconds;
    std::uint64_t soft, hard;        // without a cgroup
    std::uint64_t cg_soft, cg_hard;  // the backstop with one
  };
  const std::vector<Case> cases = {
      {0.001, 1, 2, 2, 3}, {0.5, 1, 2, 2, 3}, {1.0, 1, 2, 2, 3},
      {1.01, 2, 3, 3, 4},  {2.0, 2, 3, 3, 4}, {59.5, 60, 61, 61, 62},
  };
  for (const auto& c : cases) {
    INFO("time limit " << c.seconds);
    JobSpec spec = SpecOf({"/bin/true"});
    spec.limits.time_limit_seconds = c.seconds;
    Plan plain = PlanOf(spec, FixedHostFacts());
    const RlimitOp* cpu = FindRlimit(plain, "cpu");
    REQUIRE(cpu != nullptr);
    CHECK(cpu->soft == c.soft);
    CHECK(cpu->hard == c.hard);
    Plan with_cgroup = PlanOf(spec, FactsWithCgroup({"memory"}));
    const RlimitOp* backstop = FindRlimit(with_cgroup, "cpu");
    REQUIRE(backstop != nullptr);
    CHECK(backstop->soft == c.cg_soft);
    CHECK(backstop->hard == c.cg_hard);
    REQUIRE(with_cgroup.time_limit_seconds);
    CHECK(*with_cgroup.time_limit_seconds == c.seconds);
  }
}

TEST_CASE("Resources: cpu.max is the quota per 100ms period", "[resources][plan]") {
  const std::vector<std::pair<double, std::string>> cases = {
      {0.5, "50000 100000"},  {1, "100000 100000"},       {2, "200000 100000"},
      {0.25, "25000 100000"}, {1024, "102400000 100000"}, {0.333333, "33333 100000"},
  };
  for (const auto& [cpus, expected] : cases) {
    INFO("cpus " << cpus);
    JobSpec spec = SpecOf({"/bin/true"});
    spec.limits.cpus = cpus;
    Plan plan = PlanOf(spec, AllControllers());
    CHECK(plan.cgroup.limits == Limits{{"cpu.max", expected}});
    CHECK(plan.cgroup.controllers == std::set<std::string>{"cpu"});
  }
}

TEST_CASE("Resources: memory.swap.max is 0 by default, else swap minus memory",
          "[resources][plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.limits.memory_bytes = 100 * kMiB;
  CHECK(PlanOf(spec, AllControllers()).cgroup.limits ==
        Limits{{"memory.max", "104857600"}, {"memory.swap.max", "0"}, {"memory.oom.group", "1"}});
  spec.limits.memory_swap_bytes = 300 * kMiB;
  CHECK(PlanOf(spec, AllControllers()).cgroup.limits == Limits{{"memory.max", "104857600"},
                                                               {"memory.swap.max", "209715200"},
                                                               {"memory.oom.group", "1"}});
  // Swap equal to memory: no swap at all.
  spec.limits.memory_swap_bytes = 100 * kMiB;
  CHECK(PlanOf(spec, AllControllers()).cgroup.limits ==
        Limits{{"memory.max", "104857600"}, {"memory.swap.max", "0"}, {"memory.oom.group", "1"}});
  // Without the memory controller, RLIMIT_AS holds the memory limit; swap has no rlimit.
  spec.limits.memory_swap_bytes = 300 * kMiB;
  Plan fallback = PlanOf(spec, FactsWithCgroup({"pids"}));
  CHECK(fallback.cgroup.limits.empty());
  REQUIRE(FindRlimit(fallback, "as") != nullptr);
  CHECK(FindRlimit(fallback, "as")->soft == 100 * kMiB);
  CHECK(FindRlimit(fallback, "as")->hard == 100 * kMiB);
  CHECK(fallback.enforcement == Enforcement{{"memory", "rlimit"}});
}

TEST_CASE("Resources: a --ulimit tightens a limit's rlimit, never loosens it",
          "[resources][plan]") {
  JobSpec spec = AllLimits();                      // 256 MiB, 64 pids, 2.5 s of CPU
  spec.ulimits["as"] = {512 * kMiB, 1024 * kMiB};  // looser than the memory limit
  spec.ulimits["nproc"] = {10, 20};                // tighter than the pids limit
  spec.ulimits["cpu"] = {30, 40};                  // looser than the time limit
  using Want = std::tuple<const char*, std::uint64_t, std::uint64_t>;
  struct Case {
    HostFacts facts;
    std::vector<Want> want;
  };
  for (const Case& c : {
           // No cgroup: each limit is its rlimit, whatever the ulimit says above it.
           Case{FixedHostFacts(),
                {{"as", 256 * kMiB, 256 * kMiB}, {"nproc", 10, 20}, {"cpu", 3, 4}}},
           // A cgroup enforces memory: the ulimit's own `as` stands; the CPU backstop holds.
           Case{AllControllers(),
                {{"as", 512 * kMiB, 1024 * kMiB}, {"nproc", 10, 20}, {"cpu", 4, 5}}},
       }) {
    INFO((c.facts.cgroup ? "with a cgroup" : "without a cgroup"));
    Plan plan = PlanOf(spec, c.facts);
    for (auto [name, soft, hard] : c.want) {
      INFO(name);
      const RlimitOp* r = FindRlimit(plan, name);
      REQUIRE(r != nullptr);
      CHECK(r->soft == soft);
      CHECK(r->hard == hard);
      std::string rlimit = name;  // clang 14 captures no structured binding
      CHECK(std::count_if(plan.rlimits.begin(), plan.rlimits.end(),
                          [&](const RlimitOp& op) { return op.name == rlimit; }) == 1);
    }
  }
  Plan plain = PlanOf(spec, FixedHostFacts());
  CHECK(plain.enforcement.at("memory") == "rlimit");
  CHECK(plain.enforcement.at("time_limit") == "rlimit");
}

TEST_CASE("Resources: wall time and output limits are the supervisor's", "[resources][plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.limits.wall_time_limit_seconds = 5;
  spec.limits.output_limit_bytes = 1024;
  for (const HostFacts& facts : {FixedHostFacts(), AllControllers()}) {
    Plan plan = PlanOf(spec, facts);
    CHECK(plan.enforcement ==
          Enforcement{{"wall_time_limit", "supervisor"}, {"output_limit", "supervisor"}});
    CHECK(plan.cgroup.limits.empty());
    CHECK_FALSE(plan.time_limit_seconds);
  }
}

TEST_CASE("Resources: the plan's JSON carries cgroup, enforcement and time limit",
          "[resources][plan]") {
  json j = PlanToJson(PlanOf(AllLimits(), FactsWithCgroup({"memory", "pids"})));
  CHECK(j.at("cgroup").at("parent") == kParentPath);
  CHECK(j.at("cgroup").at("controllers") == json{"memory", "pids"});
  CHECK(
      j.at("cgroup").at("limits") ==
      json::array({json::array({"memory.max", "268435456"}), json::array({"memory.swap.max", "0"}),
                   json::array({"memory.oom.group", "1"}), json::array({"pids.max", "64"})}));
  CHECK(j.at("enforcement").at("cpu") == "none");
  CHECK(j.at("enforcement").at("memory") == "cgroup");
  CHECK(j.at("time_limit_seconds") == 2.5);
  json bare = PlanToJson(PlanOf(SpecOf({"/bin/true"}), FixedHostFacts()));
  CHECK(bare.at("cgroup").at("parent").is_null());
  CHECK(bare.at("time_limit_seconds").is_null());
  CHECK(bare.at("enforcement") == json::object());
}

TEST_CASE("Resources: pids fallback does not wrap around", "[resources][plan]") {
  // Once `pids + 1` wrapped to an RLIMIT_NPROC of 0; limits.pids is now capped at 4194304.
  JobSpec spec = SpecOf({"/bin/true"});
  spec.limits.pids = UINT64_MAX;
  auto plan = MakePlan(spec, FixedHostFacts());
  if (plan) {
    const RlimitOp* nproc = FindRlimit(*plan, "nproc");
    REQUIRE(nproc != nullptr);
    CHECK(nproc->soft != 0u);
    CHECK(nproc->soft == RLIM_INFINITY);
    CHECK(nproc->hard == RLIM_INFINITY);
  } else {
    CHECK_THAT(plan.error().Message(), Contains("limits.pids"));
  }
}

// ---------------------------------------------------------------------------------------------
// --require-cgroup

TEST_CASE("Resources: --require-cgroup without a cgroup is an error", "[resources][plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.require_cgroup = true;
  Error e = PlanError(spec, FixedHostFacts());
  CHECK(e.step == Step::kValidate);
  CHECK_THAT(e.Message(), Contains("--require-cgroup") && Contains("cgroup v2"));
  spec.limits.memory_bytes = 64 * kMiB;
  CHECK_THAT(PlanError(spec, FixedHostFacts()).Message(), Contains("--require-cgroup"));
  // Without the flag the same job falls back.
  spec.require_cgroup = false;
  CHECK(MakePlan(spec, FixedHostFacts()));
}

TEST_CASE("Resources: --require-cgroup names the limit its cgroup cannot enforce",
          "[resources][plan]") {
  struct Case {
    std::function<void(JobSpec&)> set;
    std::string limit;
  };
  const std::vector<Case> cases = {
      {[](JobSpec& s) { s.limits.memory_bytes = 64 * kMiB; }, "memory"},
      {[](JobSpec& s) { s.limits.pids = 10; }, "pids"},
      {[](JobSpec& s) { s.limits.cpus = 1; }, "cpu"},
      {[](JobSpec& s) { s.limits.cpu_weight = 50; }, "cpu_weight"},
      // A moved std::string: g++ 12 -O3's -Wrestrict misfires on assigning a one-byte literal.
      {[](JobSpec& s) { s.limits.cpuset_cpus = std::string("0"); }, "cpuset"},
  };
  for (const auto& c : cases) {
    INFO(c.limit);
    JobSpec spec = SpecOf({"/bin/true"});
    spec.require_cgroup = true;
    c.set(spec);
    // A cgroup offering none of these controllers: refused, naming the limit and the parent.
    Error e = PlanError(spec, FactsWithCgroup({"io"}));
    CHECK(e.step == Step::kValidate);
    CHECK_THAT(e.Message(), Contains("--require-cgroup") && Contains("`" + c.limit + "`") &&
                                Contains(kParentPath));
    // With every controller it plans.
    Plan plan = PlanOf(spec, AllControllers());
    CHECK(plan.enforcement.at(c.limit) == "cgroup");
  }
}

TEST_CASE("Resources: --require-cgroup accepts cgroup, supervisor and CPU-time limits",
          "[resources][plan]") {
  JobSpec spec = AllLimits();
  spec.require_cgroup = true;
  spec.limits.wall_time_limit_seconds = 10;
  spec.limits.output_limit_bytes = 1 << 20;
  Plan plan = PlanOf(spec, AllControllers());
  CHECK(plan.enforcement.at("wall_time_limit") == "supervisor");
  CHECK(plan.enforcement.at("time_limit") == "cgroup");
  // A time limit alone needs no controller.
  JobSpec time_only = SpecOf({"/bin/true"});
  time_only.require_cgroup = true;
  time_only.limits.time_limit_seconds = 3;
  CHECK(MakePlan(time_only, FactsWithCgroup({})));
  // The golden's host: memory and pids, so --cpus is what is missing.
  Error e = PlanError(spec, FactsWithCgroup({"memory", "pids"}));
  CHECK_THAT(e.Message(), Contains("--require-cgroup") && Contains("`cpu`"));
}

}  // namespace
}  // namespace gaol

namespace gaol {
namespace {

std::uint64_t TmpfsSize(const Plan& plan, const std::string& target) {
  for (const MountOp& op : plan.mounts) {
    if (op.kind == MountOpKind::kTmpfs && op.target == target) return op.size_bytes;
  }
  FAIL("no tmpfs at " << target);
  return 0;
}

}  // namespace

TEST_CASE("Resources: every tmpfs the job gets is capped at its memory limit",
          "[resources][plan]") {
  JobSpec spec = testing::SpecOf({"/bin/true"});
  spec.mounts.push_back({.type = MountType::kTmpfs, .target = "/big", .size_bytes = 1ULL << 30});
  spec.mounts.push_back({.type = MountType::kTmpfs, .target = "/small", .size_bytes = 1 << 20});
  spec.limits.memory_bytes = 32 * testing::kMiB;
  for (const HostFacts& facts : {testing::FixedHostFacts(), testing::AllControllers()}) {
    auto plan = MakePlan(spec, facts);
    REQUIRE(plan);
    CHECK(TmpfsSize(*plan, "/tmp") == 32 * testing::kMiB);  // 64 MiB by default
    CHECK(TmpfsSize(*plan, "/dev/shm") == 32 * testing::kMiB);
    CHECK(TmpfsSize(*plan, "/big") == 32 * testing::kMiB);
    CHECK(TmpfsSize(*plan, "/small") == 1 << 20);
    // The one the user sized is named; the defaults are capped without a word.
    auto named = [&](const char* what) {
      return std::count_if(plan->warnings.begin(), plan->warnings.end(),
                           [&](const std::string& w) { return w.find(what) != w.npos; });
    };
    CHECK(named("tmpfs `/big`") == 1);
    CHECK(named("tmpfs `/tmp`") == 0);
    // Without a cgroup the result says what RLIMIT_AS does not bound.
    CHECK(named("memfds and shared memory") == (facts.cgroup ? 0 : 1));
  }
  spec.limits.memory_bytes.reset();
  auto unlimited = MakePlan(spec, testing::FixedHostFacts());
  REQUIRE(unlimited);
  CHECK(TmpfsSize(*unlimited, "/big") == 1ULL << 30);
}

}  // namespace gaol
