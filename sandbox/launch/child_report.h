// What the sandbox's processes tell the parent, over one CLOEXEC SOCK_SEQPACKET socket (fd 3 in
// the sandbox). Each record is one message, so records never interleave:
//   kError  a set-up step failed (PID 1), or execve failed (the job); step, errno, detail
//   kReady  the job is about to execve: the step timings and the monotonic time of the exec
//   kExit   PID 1 reaped the job: its wait status and the rusage of everything PID 1 reaped
//   kListener  PID 1 passes the job's seccomp listener (SCM_RIGHTS) once the job has exec'd
//   kSeeded  PID 1 passes the root of the tmpfs it filled from the caller's seed (SCM_RIGHTS)
// Between clone and exec nothing allocates: records are filled with snprintf and sent as is.
#pragma once

#include <sys/resource.h>

#include <cstdint>

#include "sandbox/common/step.h"

namespace gaol {

struct ChildReport {
  enum Kind : std::uint32_t {
    kNone = 0,
    kError = 1,
    kReady = 2,
    kExit = 3,
    kListener = 4,
    kSeeded = 5
  };
  std::uint32_t kind = kNone;
  std::uint32_t step = 0;
  std::int32_t err = 0;
  std::int32_t wait_status = 0;
  std::uint64_t exec_ns = 0;               // CLOCK_MONOTONIC at the job's execve
  std::uint64_t step_ns[kStepCount] = {};  // how long each step took, in the sandbox
  struct rusage usage = {};
  char detail[1024] = {};
};
static_assert(sizeof(ChildReport) < 4096, "a report must be written atomically (PIPE_BUF)");

// Fixed descriptors inside the sandbox, before the job's execve.
inline constexpr int kReportFd = 3;  // CLOEXEC: the job's exec closes it
// PID 1 writes "armed"; gaol answers once the ID maps are in place, then (with a network namespace
// of its own) sends a NetworkHandover with the namespace's descriptor.
inline constexpr int kSyncFd = 4;

// What gaol's network helper sends PID 1: err 0 and the namespace (SCM_RIGHTS), or what failed.
struct NetworkHandover {
  enum What : int { kNone, kHelper, kJoinUserns, kUnshare, kLoopback, kDescriptor };
  int err = 0;
  What what = kNone;
};

// A pre-built sandbox (a zygote, gaol serve's warm pool): PID 1 has run every set-up step and
// waits on kSyncFd. It writes kZygoteReady there, then reads one message: a WarmParts header, the
// strings it counts (argv, then envp, then the exec candidates, each NUL-terminated), and the
// job's stdin, stdout, stderr and, when `seed`, a seed for the workdir tmpfs (SCM_RIGHTS).
inline constexpr char kZygoteReady = 'z';
inline constexpr std::size_t kWarmStringsMax = 120 * 1024;  // one SOCK_SEQPACKET message
inline constexpr std::size_t kWarmPointersMax = 4096;       // argv + envp + candidates + NULLs
inline constexpr std::size_t kWarmRlimitsMax = 16;          // RLIM_NLIMITS
inline constexpr std::size_t kWarmResizesMax = 16;

// A tmpfs of the plan (by index) sized for this job: its limits cap every tmpfs it has.
struct WarmResize {
  std::uint32_t mount = 0;
  std::uint64_t size = 0;
};

struct WarmRlimit {
  int resource = 0;
  std::uint64_t soft = 0, hard = 0;
};

struct WarmParts {
  std::uint32_t argc = 0, envc = 0, candidates = 0, rlimits = 0;
  WarmRlimit rlimit[kWarmRlimitsMax] = {};
  std::uint32_t resizes = 0;
  WarmResize resize[kWarmResizesMax] = {};
  std::uint32_t seed = 0;  // a fourth descriptor: the seed to plant in the workdir
  std::uint32_t strings_bytes = 0;
};

std::uint64_t MonotonicNs() noexcept;

// Fills an error record ("<what>: ..." in detail) and returns false, for `return Fail...` in
// the child's step functions.
bool ChildFail(ChildReport& report, Step step, int err, const char* fmt, ...) noexcept
    __attribute__((format(printf, 4, 5)));
void SendReport(const ChildReport& report) noexcept;
// The same on another descriptor: before fd 3 is the report socket.
void SendReportOn(int fd, const ChildReport& report) noexcept;
// A record of `kind` (kListener, kSeeded) carrying `fd`; `report` is left as it was.
void SendDescriptor(ChildReport& report, ChildReport::Kind kind, int fd) noexcept;

}  // namespace gaol
