// The launch pipeline's vocabulary: one name per step, used for logs, errors, metric labels and
// timings alike. The order of the enumerators is the order in which the steps run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

namespace gaol {

enum class Step : std::uint8_t {
  kValidate,    // parent: reject bad flags and spec fields
  kScope,       // parent: a transient systemd scope with Delegate=yes, when gaol asks for one
  kPlan,        // parent: the pure plan
  kOpenIo,      // parent: open --stdin/--stdout/--stderr files and the output pipes
  kCgroup,      // parent: the job's cgroup leaf, with its limits
  kClone,       // parent: clone3 into the new namespaces
  kIdMap,       // parent: uid_map, setgroups, gid_map; then release the child
  kFds,         // child: arrange fds 0-4, close every other one
  kMounts,      // child: build the new root on a tmpfs
  kNetwork,     // child: join the network namespace gaol made meanwhile (lo up)
  kPivotRoot,   // child: pivot_root (or chroot) into it, detach the old root
  kHostname,    // child: sethostname
  kSession,     // child: setsid (no controlling terminal) and a fresh session keyring
  kNoNewPrivs,  // child: PR_SET_NO_NEW_PRIVS
  kAttach,      // child: a pre-built sandbox's PID 1 takes its job's parts (gaol serve's pool)
  kInit,        // child: PID 1 forks the job
  kAppArmor,    // job: the AppArmor profile its execve enters (--security-opt apparmor=)
  kCaps,        // job: capabilities emptied (but what --cap-add keeps), securebits locked
  kLandlock,    // job: the Landlock ruleset from the mount plan
  kRlimits,     // job: setrlimit (after Landlock: a low nofile leaves no room for its ruleset)
  kSeccomp,     // job: the planned seccomp filter loaded, the last step before exec
  kExec,        // job: execve
  kSupervise,   // parent: the io_uring loop
  kCollect,     // parent: reap, rusage, verdict
  kTeardown,    // parent: PID 1's own exit, in which the kernel tears the namespaces down
  kCleanup,     // parent: nothing left behind
  kCount,
};

inline constexpr std::size_t kStepCount = static_cast<std::size_t>(Step::kCount);

inline constexpr std::string_view kStepNames[] = {
    "validate", "systemd_scope", "plan",     "open_io",    "cgroup",   "clone",   "id_map",
    "fds",      "mounts",        "network",  "pivot_root", "hostname", "session", "no_new_privs",
    "attach",   "init",          "apparmor", "caps",       "landlock", "rlimits", "seccomp",
    "exec",     "supervise",     "collect",  "teardown",   "cleanup",
};
static_assert(std::size(kStepNames) == kStepCount, "one name per step");

// The step a name (as StepName gives it) stands for; kValidate for an unknown name.
constexpr Step StepFromName(std::string_view name) {
  for (std::size_t i = 0; i < kStepCount; ++i) {
    if (kStepNames[i] == name) return static_cast<Step>(i);
  }
  return Step::kValidate;
}

constexpr std::string_view StepName(Step step) {
  auto i = static_cast<std::size_t>(step);
  return i < kStepCount ? kStepNames[i] : std::string_view("unknown");
}

constexpr std::size_t StepIndex(Step step) { return static_cast<std::size_t>(step); }

}  // namespace gaol
