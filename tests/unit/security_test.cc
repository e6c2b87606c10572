// The security flags and what the plan makes of them: --security-opt, --landlock, and the
// Landlock ruleset derived from the mount plan.
#include <catch2/catch.hpp>

#include "sandbox/plan/plan.h"
#include "tests/unit/flags_fixture.h"
#include "tests/unit/plan_fixture.h"

using gaol::testing::Build;
using gaol::testing::BuildError;

TEST_CASE("Flags: --security-opt seccomp, apparmor, no-new-privileges", "[flags][security]") {
  CHECK(Build({"true"}).seccomp == "default");
  CHECK(Build({"--security-opt", "seccomp=strict", "true"}).seccomp == "strict");
  CHECK(Build({"--security-opt=seccomp=unconfined", "true"}).seccomp == "unconfined");
  CHECK(Build({"--security-opt", "seccomp=./p.json", "true"}).seccomp == "./p.json");
  CHECK(Build({"--security-opt", "apparmor=gaol-job", "true"}).apparmor == "gaol-job");
  CHECK_FALSE(Build({"--security-opt", "apparmor=unconfined", "true"}).apparmor);
  CHECK(Build({"--security-opt", "no-new-privileges", "true"}).seccomp == "default");
  CHECK(Build({"--security-opt", "no-new-privileges=true", "true"}).seccomp == "default");
  for (const char* bad : {"no-new-privileges=false", "label=disable", "seccomp=", "apparmor"}) {
    INFO(bad);
    CHECK(BuildError({"--security-opt", bad, "true"}).Message().find("--security-opt") !=
          std::string::npos);
  }
}

TEST_CASE("Flags: --landlock on or off", "[flags][security]") {
  CHECK(Build({"true"}).landlock);
  CHECK_FALSE(Build({"--landlock", "off", "true"}).landlock);
  CHECK(Build({"--landlock=on", "true"}).landlock);
  CHECK(BuildError({"--landlock", "no", "true"}).Message().find("on or off") != std::string::npos);
}

namespace {

gaol::Plan PlanFor(std::vector<std::string> args, int abi) {
  gaol::JobSpec spec = Build(std::move(args));
  gaol::HostFacts facts = gaol::testing::FixedHostFacts();
  facts.landlock_abi = abi;
  auto plan = gaol::MakePlan(spec, facts);
  INFO((plan ? "" : plan.error().Message()));
  REQUIRE(plan);
  return *plan;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("Landlock: writable paths come from the mount plan", "[plan][security]") {
  auto plan = PlanFor({"-v", "/srv/out:/out", "--ro-bind", "/srv/in", "/in", "true"}, 7);
  const auto& w = plan.landlock.writable;
  CHECK(Has(w, "/tmp"));
  CHECK(Has(w, "/dev/shm"));
  CHECK(Has(w, "/dev/null"));
  CHECK(Has(w, "/out"));
  CHECK_FALSE(Has(w, "/in"));
  CHECK_FALSE(Has(w, "/proc"));
  CHECK_FALSE(Has(w, "/"));
  CHECK_FALSE(Has(w, "/usr"));
  CHECK(plan.landlock.scoped == 0x3);  // abstract sockets and signals, from ABI 6
  CHECK(plan.landlock.handled_fs == gaol::landlock::WriteRights(7));
}

TEST_CASE("Landlock: a writable root, old ABIs, no Landlock, --landlock off", "[plan][security]") {
  CHECK(Has(PlanFor({"--read-only=false", "true"}, 7).landlock.writable, "/"));
  auto abi3 = PlanFor({"true"}, 3);
  CHECK(abi3.landlock.scoped == 0);
  CHECK(abi3.landlock.handled_fs == gaol::landlock::WriteRights(3));
  CHECK(gaol::landlock::WriteRights(1) < gaol::landlock::WriteRights(3));
  CHECK(PlanFor({"true"}, 0).landlock.abi == 0);
  CHECK(PlanFor({"--landlock", "off", "true"}, 7).landlock.abi == 0);
}
