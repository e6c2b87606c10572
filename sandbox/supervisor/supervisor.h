// Step kSupervise: one io_uring loop (liburing) that watches the sandbox's PID 1 through its
// pidfd, copies the job's output to its destinations under the output cap, reads the sandbox's
// reports, arms the wall-time deadline once the job has exec'd, and forwards the caller's
// SIGTERM/SIGINT/SIGHUP/SIGQUIT to PID 1.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"
#include "sandbox/launch/child_report.h"

namespace gaol {

struct SuperviseRequest {
  int pidfd = -1;
  int report_r = -1;
  int stdout_r = -1, stderr_r = -1;        // the job's output pipes
  int stdout_dest = -1, stderr_dest = -1;  // where the output goes
  int signal_fd = -1;                      // signalfd of the signals to forward, or -1
  std::optional<double> wall_time_limit_seconds;
  std::optional<std::uint64_t> output_limit_bytes;  // stdout and stderr together
  int cpu_stat_fd = -1;                             // the job's cgroup cpu.stat, or -1
  std::optional<double> time_limit_seconds;         // CPU time, checked against cpu_stat_fd
  unsigned cpus = 1;                                // how fast CPU time can accrue
  int memory_current_fd = -1;  // the leaf's memory.current, sampled where there is no memory.peak
  double stop_timeout_seconds = 5.0;  // after a forwarded stop signal, then SIGKILL
  int cancel_fd = -1;  // readable or hung up: kill the sandbox now (gaol serve's cancellation)
};

struct SuperviseOutcome {
  std::vector<ChildReport> reports;
  std::uint64_t exit_ns = 0;  // CLOCK_MONOTONIC when PID 1 was seen to exit
  bool wall_time_exceeded = false;
  bool output_exceeded = false;
  bool stop_escalated = false;          // a forwarded stop signal's grace ran out: killed
  bool cancelled = false;               // cancel_fd fired before the job ended
  bool time_exceeded = false;           // CPU time reached --time-limit (cpu.stat)
  std::uint64_t time_at_kill_usec = 0;  // cpu.stat usage_usec when the kill was sent
  std::uint64_t kill_latency_ns = 0;    // from the deadline to the kill, when one was due
  std::uint64_t stdout_bytes = 0, stderr_bytes = 0;  // captured and passed on
  int stdout_errno = 0, stderr_errno = 0;  // the first failed write to each destination, or 0
  std::optional<std::uint64_t> memory_sampled_peak;  // highest memory.current seen
  // A syscall the seccomp filter refused with a kill: AUDIT_ARCH_* and number, from the listener.
  struct SeccompViolation {
    std::uint32_t arch = 0;
    int nr = 0;
  };
  std::optional<SeccompViolation> seccomp_violation;
  UniqueFd seeded_root;  // the seeded tmpfs's root (O_PATH), when the caller gave a seed
};

Result<SuperviseOutcome> Supervise(const SuperviseRequest& request);

}  // namespace gaol
