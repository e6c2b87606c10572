// Resource limit tests: the fixed host with a cgroup parent offering chosen controllers, and a
// spec asking for every resource limit at once.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "sandbox/cgroup/cgroup.h"
#include "sandbox/plan/plan.h"
#include "sandbox/spec/job_spec.h"
#include "tests/unit/plan_fixture.h"

namespace gaol::testing {

inline constexpr std::uint64_t kMiB = 1ULL << 20;
inline constexpr const char* kParentPath = "/sys/fs/cgroup/user.slice/gaol-test";

inline HostFacts FactsWithCgroup(std::set<std::string> controllers) {
  HostFacts facts = FixedHostFacts();
  facts.cgroup = cgroup::Parent{kParentPath, std::move(controllers), true};
  return facts;
}

inline HostFacts AllControllers() {
  return FactsWithCgroup({"cpu", "cpuset", "io", "memory", "pids"});
}

// Every resource limit asked for at once.
inline JobSpec AllLimits() {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.limits.memory_bytes = 256 * kMiB;
  spec.limits.pids = 64;
  spec.limits.cpus = 1.5;
  spec.limits.cpu_weight = 200;
  spec.limits.cpuset_cpus = "0-1,3";
  spec.limits.time_limit_seconds = 2.5;
  return spec;
}

}  // namespace gaol::testing
