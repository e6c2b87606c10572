// What run.cc (RunJob) shares with warm.cc (the pool's pre-built sandboxes, RunWarm): the job's
// stdio, the caller's signals, a running sandbox, its supervision and verdict. Not an interface
// beyond those two files.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include <cstdint>
#include <optional>

#include "sandbox/cgroup/cgroup.h"
#include "sandbox/common/unique_fd.h"
#include "sandbox/launch/child_report.h"
#include "sandbox/launch/launch.h"
#include "sandbox/plan/plan.h"
#include "sandbox/run.h"

namespace gaol::internal {

struct JobIo {
  UniqueFd stdin_file;  // when --stdin FILE (or /dev/null)
  int stdin_fd = -1;
  UniqueFd stdout_r, stderr_r;
  LaunchIo launch;
  UniqueFd stdout_file, stderr_file;
  int stdout_dest = -1, stderr_dest = -1;
};

// The caller's SIGTERM/SIGINT/SIGHUP/SIGQUIT go to the sandbox, not to gaol: blocked here and read
// from a signalfd by the supervisor. Restored when the run is over.
class ForwardedSignals {
 public:
  ForwardedSignals() {
    sigemptyset(&set_);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&set_, sig);
    sigprocmask(SIG_BLOCK, &set_, &old_);
    fd_.Reset(signalfd(-1, &set_, SFD_CLOEXEC));
  }
  ~ForwardedSignals() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
  int Fd() const { return fd_.Get(); }

 private:
  sigset_t set_, old_;
  UniqueFd fd_;
};

// PR_SET_CHILD_SUBREAPER for the lifetime of the object, then as it was.
class Subreaper {
 public:
  Subreaper() {
    prctl(PR_GET_CHILD_SUBREAPER, &old_, 0, 0, 0);
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  }
  ~Subreaper() { prctl(PR_SET_CHILD_SUBREAPER, old_, 0, 0, 0); }
  Subreaper(const Subreaper&) = delete;
  Subreaper& operator=(const Subreaper&) = delete;

 private:
  int old_ = 0;
};

// A sandbox being run: PID 1, and what gaol holds beside it.
struct Sandbox {
  std::optional<cgroup::Leaf> leaf;
  UniqueFd cpu_stat, memory_current;
  // Sharing the caller's pid namespace, nothing ends the job's processes with PID 1 (a wall-time
  // kill takes PID 1 alone): gaol is their subreaper meanwhile and ends them once PID 1 is gone.
  std::optional<Subreaper> subreaper;
  Launched launched;
};

Result<JobIo> OpenIo(const JobSpec& spec, const CallerStdio& stdio);
double Seconds(std::uint64_t ns);
Error ErrorFromReport(const ChildReport& report);
// Raises a soft open-file limit that leaves too little room for gaol's descriptors; the rlimit
// the job gets back is then part of the plan.
Status MakeDescriptorRoom(Plan& plan);
// The leaf's counters the supervisor reads while the job runs (cpu.stat, memory.current).
Status OpenLeafCounters(cgroup::Leaf& leaf, Sandbox& sandbox);
Status SuperviseAndJudge(const JobSpec& spec, const Plan& plan, JobIo& io, const CallerStdio& stdio,
                         Sandbox& sandbox, int signal_fd, std::uint64_t start_ns,
                         LaunchObserver* observer, RunResult& result);
// A set-up error as the result, told to the observer.
RunResult Failed(Error e, LaunchObserver* observer, RunResult& result);
// What the result says of the plan, whichever way the job starts.
void DescribePlan(const JobSpec& spec, const Plan& plan, RunResult& result);

}  // namespace gaol::internal
