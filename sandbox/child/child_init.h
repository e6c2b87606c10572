// The sandbox side of the launch: PID 1 runs the set-up steps in order, forks the job, reaps
// every process, forwards signals and exits with the job's status. Nothing here allocates.
#pragma once

#include <cstddef>
#include <span>

#include "sandbox/child/child_rootfs.h"
#include "sandbox/launch/child_report.h"
#include "sandbox/plan/plan.h"

namespace gaol {

struct ChildContext {
  const Plan* plan = nullptr;
  // In the parent's numbering; moved to 0, 1, 2, kReportFd and kSyncFd by the first step.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1, report_fd = -1, sync_fd = -1;
  char* const* argv = nullptr;  // null-terminated, built by the parent
  char* const* envp = nullptr;
  RootfsState rootfs;
  // A zygote (gaol serve's warm pool): after the set-up steps PID 1 keeps kSyncFd, says
  // kZygoteReady and waits for its job's parts (WarmParts) before it starts the job.
  bool warm = false;
  // Set from the parts of a warm start: the job's rlimits and exec candidates instead of the
  // plan's (argv and envp above likewise point into PID 1's own copy of the parts).
  const WarmRlimit* rlimits = nullptr;
  std::size_t rlimit_count = 0;
  char* const* candidates = nullptr;
  // Written by the job, which shares this memory and fd table until its execve, and read by PID 1
  // once the job has exec'd (or died): past the seccomp filter the job makes no call it could be
  // refused but execve and exit_group, so it leaves these instead of reporting.
  int listener_fd = -1;
  int exec_errno = 0;
  // A pre-built sandbox's job process, made at build time (CLONE_PIDFD): PID 1 watches it while it
  // waits for the parts, and closes it before the fd check.
  int job_pidfd = -1;
  std::uint64_t seccomp_ns = 0;
};

[[noreturn]] void RunSandboxInitInChild(ChildContext& ctx) noexcept;

// The last check before the job starts: walks this process's /proc/self/fd and fails (Step::kFds)
// if any descriptor but 0, 1, 2 and the report socket (kReportFd) is open, or if one of 0-2 is a
// directory, a socket or a device other than /dev/null and a terminal. A host directory held by
// the sandbox is a way out of its root (runc's CVE-2024-21626), whichever path it came by.
// `allow_sync`: a zygote's kSyncFd (a socket) may be open too, until its parts arrive;
// `allow_listener`: the seccomp listener its job process made at build time (CLOEXEC).
bool CheckFdsInChild(ChildReport& report, bool allow_sync = false,
                     int allow_listener = -1) noexcept;

// The order of the steps PID 1 runs, then the job; for the ordering test.
std::span<const Step> InitStepOrder();
std::span<const Step> JobStepOrder();

}  // namespace gaol
