// Plans for fixed specs on a fixed host, compared with tests/unit/golden/plan_<name>.json.
// GAOL_UPDATE_GOLDEN=1 rewrites the files instead; read the diff before committing it.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/plan/plan.h"
#include "tests/unit/golden.h"
#include "tests/unit/plan_fixture.h"

namespace gaol {
namespace {

using testing::FixedHostFacts;
using testing::SpecOf;

// The plan for `spec` on `facts`, checked against golden/plan_<name>.json.
void CheckGolden(const std::string& name, const JobSpec& spec, const HostFacts& facts) {
  auto plan = MakePlan(spec, facts);
  INFO((plan ? std::string() : plan.error().Message()));
  REQUIRE(plan);
  testing::CheckGolden("plan_" + name, PlanToJson(*plan).dump(2) + "\n");
}

TEST_CASE("The fixed host names every host-view path", "[plan][golden]") {
  HostFacts facts = FixedHostFacts();
  for (const auto& path : HostViewPaths()) {
    INFO(path);
    CHECK(facts.Find(path) != nullptr);
  }
}

TEST_CASE("Golden plan: the default host view", "[plan][golden]") {
  CheckGolden("default", SpecOf({"/bin/sh", "-c", "echo hi"}), FixedHostFacts());
}

TEST_CASE("Golden plan: --rootfs with volumes and tmpfs", "[plan][golden]") {
  JobSpec spec = SpecOf({"./run", "--fast"});
  spec.rootfs = "/srv/rootfs";
  spec.workdir = "/work";
  spec.mounts = {
      // A child given before its parent: the plan mounts /work first.
      {.type = MountType::kBind, .source = "/srv/cache", .target = "/work/cache"},
      {.type = MountType::kBind, .source = "/srv/task", .target = "/work", .read_only = true},
      // Replaces the default /tmp.
      {.type = MountType::kTmpfs, .target = "/tmp", .size_bytes = 16ULL << 20},
      {.type = MountType::kTmpfs, .target = "/scratch"},
  };
  spec.ulimits["nofile"] = {64, 64};
  CheckGolden("rootfs_volumes", spec, FixedHostFacts());
}

TEST_CASE("Golden plan: --network host with shared ipc, uts and pid", "[plan][golden]") {
  JobSpec spec = SpecOf({"curl", "https://example.org"});
  spec.network = Network::kHost;
  spec.share.ipc = true;
  spec.share.uts = true;
  spec.share.pid = true;
  CheckGolden("host_network", spec, FixedHostFacts());
}

TEST_CASE("Golden plan: --map-users auto --map-groups auto", "[plan][golden]") {
  JobSpec spec = SpecOf({"/usr/bin/id"});
  spec.map_users.automatic = true;
  spec.map_groups.automatic = true;
  HostFacts facts = FixedHostFacts();
  facts.subuid = {{0, 100000, 65536}};
  facts.subgid = {{0, 200000, 65536}};
  CheckGolden("map_users_auto", spec, facts);
}

TEST_CASE("Golden plan: --clear-env with a custom env and a relative PATH entry",
          "[plan][golden]") {
  JobSpec spec = SpecOf({"python3", "main.py"});
  spec.clear_env = true;
  spec.env = {{"PATH", "bin:/opt/tools/bin::/usr/bin"}, {"LANG", "C"}, {"JOB", "42"}};
  spec.uid = 0;
  spec.gid = 0;
  spec.hostname = "box";
  CheckGolden("clear_env", spec, FixedHostFacts());
}

}  // namespace
}  // namespace gaol
