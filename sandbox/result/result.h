// RunResult: the whole outcome of one run (schema gaol.result/v1). A job that crashes or runs
// out of time is a successful run with a verdict; only gaol's own failure is an error.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/common/error.h"

namespace gaol {

inline constexpr const char* kResultSchema = "gaol.result/v1";

enum class RunStatus {
  kOk,
  kNonzeroExit,
  kSignaled,
  kTimeLimit,
  kMemoryLimit,
  kPidsLimit,
  kWallTimeLimit,
  kOutputLimit,
  kSeccompViolation,
  kCancelled,  // gaol serve's DELETE /v1/jobs/{id}: killed on request
  kSetupError,
};

std::string_view RunStatusName(RunStatus status);
// The status a name (as RunStatusName gives it) stands for; kSetupError for an unknown name.
RunStatus RunStatusFromName(std::string_view name);

struct RunResult {
  RunStatus status = RunStatus::kSetupError;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double wall_time_seconds = 0;
  double cpu_time_seconds = 0;
  double user_time_seconds = 0;
  double system_time_seconds = 0;
  std::uint64_t peak_memory_bytes = 0;  // memory.peak of the leaf, else the largest ru_maxrss
  // memory.peak (5.19+), memory.current (sampled every 10 ms, at least the largest ru_maxrss) or
  // rusage (the largest ru_maxrss of one process).
  std::string peak_memory_source = "rusage";
  bool oom_killed = false;
  std::optional<std::uint64_t>
      pids_peak;                      // pids.peak of the leaf; null without the pids controller
  std::string accounting = "rusage";  // where the CPU and memory figures come from: cgroup, rusage
  bool output_truncated = false;
  std::uint64_t stdout_bytes = 0;
  std::uint64_t stderr_bytes = 0;
  // A destination of the job's output that failed ("stdout" -> errno): what followed was counted
  // but not delivered. Empty when every byte reached its destination.
  std::map<std::string, int> output_error;
  double wall_time_kill_latency_seconds = 0;       // deadline to kill, when the wall limit fired
  std::map<std::string, std::string> enforcement;  // limit -> "supervisor" | "rlimit" | ...
  std::vector<std::string> warnings;               // what the caller should know (stderr too)
  std::string systemd_scope;        // the transient scope gaol moved into for a cgroup; empty: none
  double launch_total_seconds = 0;  // gaol's start to the job's execve
  std::map<Step, double> launch_steps;  // seconds per step, parent's and child's
  // Run on a sandbox built before the job came (gaol serve's pool): how long that build took. Its
  // steps' figures are in launch_steps; launch_total_seconds counts from the job's arrival.
  std::optional<double> prebuilt_build_seconds;
  std::optional<Error> error;
  // The seccomp profile loaded (none: unconfined) and, on seccomp_violation, the call refused.
  int landlock_abi = -1;  // -1: --landlock off; 0: the kernel has none; else the ABI applied
  std::optional<std::string> seccomp_profile;
  std::optional<std::string> seccomp_syscall;  // "ptrace"; null when the kernel killed unnamed
  std::optional<std::string> seccomp_arch;     // "x86_64", "x86", "x32"

  // gaol's exit status, as `docker run`: the job's own, 128+N for signal N, 125 when gaol
  // failed, 126 when the command cannot be executed, 127 when it is not found.
  int ExitStatus() const;
};

nlohmann::json ResultToJson(const RunResult& result);

}  // namespace gaol
