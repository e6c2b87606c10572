#include "sandbox/run.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "sandbox/cgroup/cgroup.h"
#include "sandbox/common/fd_passing.h"
#include "sandbox/common/pidfd.h"
#include "sandbox/common/reap.h"
#include "sandbox/io/job_fds.h"
#include "sandbox/io/seed.h"
#include "sandbox/launch/child_report.h"
#include "sandbox/launch/launch.h"
#include "sandbox/plan/host_facts.h"
#include "sandbox/run_internal.h"
#include "sandbox/seccomp/compile.h"
#include "sandbox/supervisor/supervisor.h"

namespace gaol {
namespace internal {

// The caller's own path, opened as the caller; checked by what it turned out to be.
Result<UniqueFd> OpenFile(const std::string& path, int flags, const char* what) {
  UniqueFd fd(open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY, 0644));
  if (!fd) return Fail(Step::kOpenIo, fmt::format("open {}", what), path);
  if (auto s = io::CheckJobStdio(fd.Get(), what, path); !s) return tl::unexpected(s.error());
  return fd;
}

Result<JobIo> OpenIo(const JobSpec& spec, const CallerStdio& stdio) {
  JobIo io;
  if (spec.stdin_path && *spec.stdin_path == "-") {
    // gaol's own stdin goes to the job as it is: it must pass the same check as a file.
    if (auto s = io::CheckJobStdio(stdio.in, "gaol's own stdin (--stdin -)", ""); !s)
      return tl::unexpected(s.error());
    io.stdin_fd = stdio.in;
  } else {
    auto in = OpenFile(spec.stdin_path.value_or("/dev/null"), O_RDONLY, "--stdin");
    if (!in) return tl::unexpected(in.error());
    io.stdin_file = std::move(*in);
    io.stdin_fd = io.stdin_file.Get();
  }
  for (auto [path, file, dest, caller, what] :
       {std::tuple{&spec.stdout_path, &io.stdout_file, &io.stdout_dest, stdio.out, "--stdout"},
        std::tuple{&spec.stderr_path, &io.stderr_file, &io.stderr_dest, stdio.err, "--stderr"}}) {
    if (*path) {
      auto f = OpenFile(**path, O_WRONLY | O_CREAT | O_TRUNC, what);
      if (!f) return tl::unexpected(f.error());
      *file = std::move(*f);
      *dest = file->Get();
    } else {
      *dest = caller;
    }
  }
  for (auto [r, w] :
       {std::pair{&io.stdout_r, &io.launch.stdout_w}, {&io.stderr_r, &io.launch.stderr_w}}) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return Fail(Step::kOpenIo, "pipe2", "job output");
    r->Reset(fds[0]);
    w->Reset(fds[1]);
  }
  io.launch.stdin_fd = io.stdin_fd;
  return io;
}

double Seconds(std::uint64_t ns) { return static_cast<double>(ns) / 1e9; }
double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

Error ErrorFromReport(const ChildReport& report) {
  return Error{static_cast<Step>(report.step), report.err, report.detail, {}, {}};
}

// The verdict, from what the supervisor saw and what PID 1 reported.
const ChildReport* FindReport(const SuperviseOutcome& seen, ChildReport::Kind kind) {
  for (const auto& r : seen.reports) {
    if (r.kind == kind) return &r;
  }
  return nullptr;
}

void CollectTimings(const SuperviseOutcome& seen, std::uint64_t start_ns, RunResult& result) {
  const ChildReport* ready = FindReport(seen, ChildReport::kReady);
  const ChildReport* exit = FindReport(seen, ChildReport::kExit);
  // PID 1 timed its own steps, the job its own (init, rlimits) on its copy of the record.
  for (const ChildReport* timings : {exit, ready}) {
    if (!timings) continue;
    for (std::size_t i = StepIndex(Step::kFds); i < StepIndex(Step::kExec); ++i) {
      if (timings->step_ns[i])
        result.launch_steps[static_cast<Step>(i)] = Seconds(timings->step_ns[i]);
    }
  }
  if (ready) result.launch_total_seconds = Seconds(ready->exec_ns - start_ns);
  if (ready && seen.exit_ns > ready->exec_ns)
    result.wall_time_seconds = Seconds(seen.exit_ns - ready->exec_ns);
}

// CPU and memory from the leaf when there is one (exact, whatever ended the job); otherwise from
// PID 1's RUSAGE_CHILDREN, or the parent's wait4 of PID 1 when a kill took PID 1 too.
void Account(const SuperviseOutcome& seen, const struct rusage& init_usage,
             const std::optional<cgroup::Usage>& cg, RunResult& result) {
  const ChildReport* exit = FindReport(seen, ChildReport::kExit);
  const struct rusage& usage = exit ? exit->usage : init_usage;
  result.user_time_seconds = Seconds(usage.ru_utime);
  result.system_time_seconds = Seconds(usage.ru_stime);
  result.cpu_time_seconds = result.user_time_seconds + result.system_time_seconds;
  result.peak_memory_bytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
  if (cg && cg->usage_usec) {
    result.accounting = "cgroup";
    result.cpu_time_seconds = static_cast<double>(*cg->usage_usec) / 1e6;
    result.user_time_seconds = static_cast<double>(cg->user_usec.value_or(0)) / 1e6;
    result.system_time_seconds = static_cast<double>(cg->system_usec.value_or(0)) / 1e6;
  }
  if (cg && cg->memory_peak_bytes && !seen.memory_sampled_peak) {
    result.peak_memory_bytes = *cg->memory_peak_bytes;
    result.peak_memory_source = "memory.peak";
  } else if (seen.memory_sampled_peak) {
    // Sampling can miss a short spike: the largest process's own high-water mark bounds it below.
    result.peak_memory_bytes = std::max(result.peak_memory_bytes, *seen.memory_sampled_peak);
    result.peak_memory_source = "memory.current";
  }
  if (cg) result.pids_peak = cg->pids_peak;
  result.oom_killed = cg && cg->oom_kills > 0;
  result.stdout_bytes = seen.stdout_bytes;
  result.stderr_bytes = seen.stderr_bytes;
  result.output_truncated = seen.output_exceeded;
  for (auto [stream, err] :
       {std::pair{"stdout", seen.stdout_errno}, {"stderr", seen.stderr_errno}}) {
    if (err == 0) continue;
    result.output_error[stream] = err;
    // A reader that went away (`gaol run ... | head`) is the caller's choice: recorded, not warned.
    if (err != EPIPE) {
      result.warnings.push_back(fmt::format(
          "{}: writing the job's output failed ({}: {}); what followed was not delivered", stream,
          ErrnoName(err), std::strerror(err)));
    }
  }
}

// The verdict: gaol's own failure first, then the limit that ended the job, then how it ended.
RunStatus Decide(const SuperviseOutcome& seen, const Plan& plan,
                 const std::optional<cgroup::Usage>& cg, RunResult& result) {
  if (result.error) return RunStatus::kSetupError;
  if (seen.cancelled || seen.stop_escalated) return RunStatus::kCancelled;
  if (seen.seccomp_violation) return RunStatus::kSeccompViolation;
  // Killed by the kernel for the filter without a name (no listener, or the overlay's kill).
  if (plan.seccomp && result.signal == SIGSYS) return RunStatus::kSeccompViolation;
  if (seen.time_exceeded) return RunStatus::kTimeLimit;
  if (seen.wall_time_exceeded) return RunStatus::kWallTimeLimit;
  if (seen.output_exceeded) return RunStatus::kOutputLimit;
  if (result.oom_killed) return RunStatus::kMemoryLimit;
  // RLIMIT_CPU: SIGXCPU at the soft limit, SIGKILL at the hard one. The kernel checks it against
  // tick-sampled CPU time, which runs ahead of the exact time under contention: a SIGKILL counts
  // as the limit's from 90 % of it on.
  if (plan.enforcement.count("time_limit") && result.signal) {
    for (const auto& r : plan.rlimits) {
      if (r.name != "cpu") continue;
      if (result.signal == SIGXCPU) return RunStatus::kTimeLimit;
      if (result.signal == SIGKILL && result.cpu_time_seconds >= 0.9 * static_cast<double>(r.soft))
        return RunStatus::kTimeLimit;
    }
  }
  if (cg && cg->pids_max_hits > 0) return RunStatus::kPidsLimit;
  if (!FindReport(seen, ChildReport::kReady)) {
    result.error =
        Error{Step::kInit, 0, "the sandbox's PID 1 ended before the job started", {}, {}};
    return RunStatus::kSetupError;
  }
  if (result.signal) return RunStatus::kSignaled;
  return result.exit_code == 0 ? RunStatus::kOk : RunStatus::kNonzeroExit;
}

void Judge(const SuperviseOutcome& seen, int init_status, const struct rusage& init_usage,
           const Plan& plan, const std::optional<cgroup::Usage>& cg, RunResult& result) {
  for (const auto& r : seen.reports) {
    if (r.kind == ChildReport::kError) result.error = ErrorFromReport(r);
  }
  Account(seen, init_usage, cg, result);
  const ChildReport* exit = FindReport(seen, ChildReport::kExit);
  int status = exit ? exit->wait_status : init_status;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  result.status = Decide(seen, plan, cg, result);
  if (seen.seccomp_violation) {
    // As docker run: a job the filter killed ends with SIGSYS (exit status 159).
    result.signal = SIGSYS;
    result.exit_code.reset();
    auto [arch, nr] = *seen.seccomp_violation;
    result.seccomp_syscall = seccomp::SyscallName(arch, nr);
    result.seccomp_arch = seccomp::ArchName(arch, nr);
  }
  if (result.status == RunStatus::kSetupError) {
    result.exit_code.reset();
    result.signal.reset();
  }
  if (result.status == RunStatus::kWallTimeLimit) {
    result.wall_time_kill_latency_seconds = Seconds(seen.kill_latency_ns);
  }
}

// The caller's opened bind sources and its seed, placed by plan mount (a user bind or tmpfs whose
// target matches).
std::vector<int> GivenSources(const Plan& plan, const CallerStdio& stdio) {
  std::vector<int> out(plan.mounts.size(), -1);
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    const MountOp& op = plan.mounts[i];
    if (stdio.seed && op.kind == MountOpKind::kTmpfs && op.origin == "--tmpfs" &&
        op.target == stdio.seed->target) {
      out[i] = stdio.seed->fd;
    }
    if (op.kind != MountOpKind::kBind || op.origin != "--volume") continue;
    for (const auto& [target, fd] : stdio.bind_fds) {
      if (target == op.target) out[i] = fd;
    }
  }
  return out;
}

// gaol's own descriptors at the clone (about twenty) and one per mount held while PID 1 builds
// the root must fit under RLIMIT_NOFILE. A soft limit below that is raised as far as needed, never
// past the hard one, and the job gets the caller's own limit back (unless the spec sets nofile).
Status MakeDescriptorRoom(Plan& plan) {
  rlimit now = {};
  if (getrlimit(RLIMIT_NOFILE, &now) != 0) return Fail(Step::kOpenIo, "getrlimit", "RLIMIT_NOFILE");
  rlim_t needed = 16;  // measured: 28 for the default host view's 20 such mounts
  for (const MountOp& op : plan.mounts) {
    needed += op.kind == MountOpKind::kBind || op.kind == MountOpKind::kTmpfs ||
              op.kind == MountOpKind::kProc || op.kind == MountOpKind::kDevpts;
  }
  if (now.rlim_cur >= needed) return {};
  if (now.rlim_max < needed) {
    return Fail(Step::kOpenIo,
                fmt::format("the open-file limit (ulimit -n {}, hard {}) is below the {} "
                            "descriptors gaol needs to build this sandbox; raise it: ulimit -n {}",
                            now.rlim_cur, now.rlim_max, needed, needed),
                "", 0);
  }
  rlimit raised = {needed, now.rlim_max};
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
    return Fail(Step::kOpenIo, "setrlimit", "RLIMIT_NOFILE");
  bool spec_sets = std::any_of(plan.rlimits.begin(), plan.rlimits.end(),
                               [](const RlimitOp& op) { return op.resource == RLIMIT_NOFILE; });
  if (!spec_sets) plan.rlimits.push_back({RLIMIT_NOFILE, now.rlim_cur, now.rlim_max, "nofile"});
  return {};
}

// After the verdict: PID 1's own exit (the namespaces' teardown) when it reported first, what a
// shared pid namespace left with gaol, and the leaf, which must be empty to go.
Status TearDown(OwnedChild& init, bool reported, bool subreaper, std::optional<cgroup::Leaf>& leaf,
                RunResult& result) {
  if (reported) {
    std::uint64_t t0 = MonotonicNs();
    struct rusage usage = {};
    if (auto status = init.Reap(&usage); !status) return tl::unexpected(status.error());
    result.launch_steps[Step::kTeardown] = Seconds(MonotonicNs() - t0);
  }
  if (subreaper) KillAllDescendants();
  if (leaf) {
    std::uint64_t t0 = MonotonicNs();
    if (auto s = leaf->Remove(); !s) return tl::unexpected(s.error());
    result.launch_steps[Step::kCleanup] = Seconds(MonotonicNs() - t0);
  }
  return {};
}

Status SuperviseAndJudge(const JobSpec& spec, const Plan& plan, JobIo& io, const CallerStdio& stdio,
                         Sandbox& sandbox, int signal_fd, std::uint64_t start_ns,
                         LaunchObserver* observer, RunResult& result) {
  Launched& launched = sandbox.launched;
  SuperviseRequest request;
  request.pidfd = launched.child.PidFd();
  request.report_r = launched.report_r.Get();
  request.stdout_r = io.stdout_r.Get();
  request.stderr_r = io.stderr_r.Get();
  request.stdout_dest = io.stdout_dest;
  request.stderr_dest = io.stderr_dest;
  request.signal_fd = signal_fd;
  request.wall_time_limit_seconds = spec.limits.wall_time_limit_seconds;
  request.output_limit_bytes = spec.limits.output_limit_bytes;
  request.cpu_stat_fd = sandbox.cpu_stat.Get();
  request.time_limit_seconds = plan.time_limit_seconds;
  request.cpus = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  request.memory_current_fd = sandbox.memory_current.Get();
  request.cancel_fd = stdio.cancel;
  request.stop_timeout_seconds = stdio.stop_timeout_seconds;
  auto seen = Supervise(request);
  if (!seen) return tl::unexpected(seen.error());
  if (stdio.seed && stdio.seed->root) *stdio.seed->root = std::move(seen->seeded_root);
  // PID 1 reported the end after reaping the whole job: the leaf's figures are final (what
  // remains in it is PID 1's own exit, gaol's code, not the job's).
  bool reported = FindReport(*seen, ChildReport::kExit) != nullptr;
  auto& leaf = sandbox.leaf;
  bool wait = !reported || leaf || sandbox.subreaper || stdio.wait_for_teardown;
  struct rusage usage = {};
  int init_status = 0;
  std::optional<cgroup::Usage> cg;
  if (wait && !reported) {
    bool adopted = launched.child.Adopted();
    auto status = launched.child.Reap(&usage);
    if (!status) return tl::unexpected(status.error());
    init_status = *status;
    if (leaf) cg = leaf->ReadUsage();
    // A handed-over sandbox's PID 1 gone without a word, and not by the supervisor's kill nor the
    // leaf's OOM killer (memory.oom.group takes PID 1 with the job): its builder, whose child it
    // is, was killed (PR_SET_PDEATHSIG), or someone killed PID 1. Gaol's failure, not the job's.
    bool killed_here = seen->time_exceeded || seen->wall_time_exceeded || seen->output_exceeded ||
                       seen->stop_escalated || seen->cancelled || seen->seccomp_violation ||
                       (cg && cg->oom_kills > 0);
    if (adopted && !killed_here) {
      result.error = Error{Step::kSupervise,
                           0,
                           "the pre-built sandbox's PID 1 ended before it reported the job's end "
                           "(killed, or its runner ended without a result)",
                           {},
                           {}};
    }
  } else if (leaf) {
    cg = leaf->ReadUsage();
  }
  CollectTimings(*seen, start_ns, result);
  Judge(*seen, init_status, usage, plan, cg, result);
  if (observer) observer->OnVerdict(result);
  if (!wait) {
    launched.child.Release();
    return {};
  }
  return TearDown(launched.child, reported, sandbox.subreaper.has_value(), leaf, result);
}

Status LaunchAndSupervise(const JobSpec& spec, const Plan& plan, JobIo& io,
                          const CallerStdio& stdio, std::uint64_t start_ns,
                          LaunchObserver* observer, RunResult& result) {
  Sandbox sandbox;
  if (plan.cgroup.parent) {
    std::uint64_t t0 = MonotonicNs();
    cgroup::ReapOrphans(*plan.cgroup.parent);
    auto made =
        cgroup::Leaf::Create(*plan.cgroup.parent, plan.cgroup.controllers, plan.cgroup.limits);
    if (!made) return tl::unexpected(made.error());
    sandbox.leaf = std::move(*made);
    if (auto s = OpenLeafCounters(*sandbox.leaf, sandbox); !s) return s;
    result.launch_steps[Step::kCgroup] = Seconds(MonotonicNs() - t0);
  }
  ForwardedSignals signals;
  if (!(plan.clone_flags & CLONE_NEWPID)) sandbox.subreaper.emplace();
  auto launched =
      LaunchSandbox(plan, std::move(io.launch), sandbox.leaf ? sandbox.leaf->DirFd() : -1);
  if (!launched) return tl::unexpected(launched.error());
  sandbox.launched = std::move(*launched);
  result.launch_steps[Step::kClone] = Seconds(sandbox.launched.clone_ns);
  result.launch_steps[Step::kIdMap] = Seconds(sandbox.launched.id_map_ns);
  return SuperviseAndJudge(spec, plan, io, stdio, sandbox, signals.Fd(), start_ns, observer,
                           result);
}

Status OpenLeafCounters(cgroup::Leaf& leaf, Sandbox& sandbox) {
  auto fd = leaf.OpenCpuStat();
  if (!fd) return tl::unexpected(fd.error());
  sandbox.cpu_stat = std::move(*fd);
  sandbox.memory_current = leaf.OpenMemoryCurrentWithoutPeak();
  return {};
}

RunResult Failed(Error e, LaunchObserver* observer, RunResult& result) {
  result.status = RunStatus::kSetupError;
  result.error = std::move(e);
  if (observer) observer->OnFinished(result);
  return result;
}

void DescribePlan(const JobSpec& spec, const Plan& plan, RunResult& result) {
  result.enforcement = plan.enforcement;
  result.warnings = plan.warnings;
  if (plan.seccomp) result.seccomp_profile = plan.seccomp->profile;
  if (spec.landlock) result.landlock_abi = plan.landlock.abi;
  if (spec.landlock && plan.landlock.abi == 0) {
    result.warnings.push_back(
        "Landlock is unavailable in this kernel (or disabled): the job's "
        "writes are limited by its read-only mounts alone");
  }
}

// The workdir's tmpfs among the plan's mounts (a tmpfs whose target is the workdir), or null.

}  // namespace internal

using namespace internal;

std::string HintFor(const Error& error) {
  if (error.step == Step::kClone && error.op.find("CLONE_INTO_CGROUP") != std::string::npos) {
    return "gaol may not move a process into that cgroup: --cgroup-parent must be beneath a "
           "subtree delegated to you, and gaol must run inside it (write access to cgroup.procs "
           "of the common ancestor); `gaol check` shows yours";
  }
  if (error.step == Step::kClone &&
      (error.err == EPERM || error.err == ENOSPC || error.err == EACCES)) {
    return "unprivileged user namespaces are unavailable here; `gaol check` names the fix "
           "(sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone, or Ubuntu's "
           "kernel.apparmor_restrict_unprivileged_userns)";
  }
  if (error.step == Step::kNetwork && error.err == ENOSPC) {
    return "the limit on network namespaces is reached (sysctl user.max_net_namespaces, here or "
           "in an enclosing user namespace); --network host shares the host's instead";
  }
  if (error.err == EMFILE) {
    return "too many open files: raise the open-file limit (ulimit -n; gaol raises a soft limit "
           "up to the hard one itself)";
  }
  if (error.step == Step::kSupervise && (error.err == EPERM || error.err == ENOSYS)) {
    return "io_uring is disabled here: sysctl -w kernel.io_uring_disabled=0";
  }
  return {};
}

RunResult RunJob(const JobSpec& spec, const CallerStdio& stdio, LaunchObserver* observer) {
  RunResult result;
  std::uint64_t start = MonotonicNs();
  if (observer) observer->OnStarted();
  auto fail = [&](Error e) { return Failed(std::move(e), observer, result); };
  auto facts = GatherHostFacts(spec);
  if (!facts) return fail(facts.error());
  // Asking systemd for a scope happens while gathering the host facts: its own step.
  if (!facts->systemd_scope.empty()) {
    result.launch_steps[Step::kScope] = facts->scope_seconds;
    result.systemd_scope = facts->systemd_scope;
  }
  auto plan = MakePlan(spec, *facts);
  if (!plan) return fail(plan.error());
  std::uint64_t planned = MonotonicNs();
  result.launch_steps[Step::kPlan] = Seconds(planned - start) - facts->scope_seconds;
  if (auto room = MakeDescriptorRoom(*plan); !room) return fail(room.error());
  auto io = OpenIo(spec, stdio);
  if (!io) return fail(io.error());
  io->launch.given_sources = GivenSources(*plan, stdio);
  result.launch_steps[Step::kOpenIo] = Seconds(MonotonicNs() - planned);
  DescribePlan(spec, *plan, result);
  if (auto s = LaunchAndSupervise(spec, *plan, *io, stdio, start, observer, result); !s)
    return fail(s.error());
  if (observer) observer->OnFinished(result);
  return result;
}

}  // namespace gaol
