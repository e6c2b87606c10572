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
#include "sandbox/common/reap.h"
#include "sandbox/io/job_fds.h"
#include "sandbox/io/seed.h"
#include "sandbox/launch/child_report.h"
#include "sandbox/launch/launch.h"
#include "sandbox/plan/host_facts.h"
#include "sandbox/seccomp/compile.h"
#include "sandbox/supervisor/supervisor.h"

namespace gaol {
namespace {

struct JobIo {
  UniqueFd stdin_file;  // when --stdin FILE (or /dev/null)
  int stdin_fd = -1;
  UniqueFd stdout_r, stderr_r;
  LaunchIo launch;
  UniqueFd stdout_file, stderr_file;
  int stdout_dest = -1, stderr_dest = -1;
};

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

// A sandbox being run: PID 1, and what gaol holds beside it.
struct Sandbox {
  std::optional<cgroup::Leaf> leaf;
  UniqueFd cpu_stat, memory_current;
  // Sharing the caller's pid namespace, nothing ends the job's processes with PID 1 (a wall-time
  // kill takes PID 1 alone): gaol is their subreaper meanwhile and ends them once PID 1 is gone.
  std::optional<Subreaper> subreaper;
  Launched launched;
};

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
  if (wait && !reported) {
    auto status = launched.child.Reap(&usage);
    if (!status) return tl::unexpected(status.error());
    init_status = *status;
  }
  std::optional<cgroup::Usage> cg;
  if (leaf) cg = leaf->ReadUsage();
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
    auto fd = sandbox.leaf->OpenCpuStat();
    if (!fd) return tl::unexpected(fd.error());
    sandbox.cpu_stat = std::move(*fd);
    sandbox.memory_current = sandbox.leaf->OpenMemoryCurrentWithoutPeak();
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

// A set-up error as the result, told to the observer.
RunResult Failed(Error e, LaunchObserver* observer, RunResult& result) {
  result.status = RunStatus::kSetupError;
  result.error = std::move(e);
  if (observer) observer->OnFinished(result);
  return result;
}

// What the result says of the plan, whichever way the job starts.
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
const MountOp* WorkdirTmpfs(const Plan& plan) {
  for (const MountOp& op : plan.mounts) {
    if (op.kind == MountOpKind::kTmpfs && op.target == plan.workdir) return &op;
  }
  return nullptr;
}

bool SameBpf(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(sock_filter)) == 0);
}

// Whether a sandbox built for plan `built` is the one `plan` would build: every field but what the
// job's parts bring at the last moment (argv, env, exec candidates, rlimits, the limits the
// supervisor keeps, the tmpfs sizes, which follow the memory limit, and its leaf's limits).
// Compared field by field: serialising both plans cost 0.3-0.45 ms on the request's path
// (measured), this a few µs.
bool SameShape(const Plan& plan, const Plan& built) {
  auto same_mount = [&](const MountOp& x, const MountOp& y) {
    bool tmpfs = x.kind == MountOpKind::kTmpfs;
    return std::tie(x.kind, x.source, x.target, x.read_only, x.is_file, x.noexec, x.nodev, x.mode,
                    x.origin) == std::tie(y.kind, y.source, y.target, y.read_only, y.is_file,
                                          y.noexec, y.nodev, y.mode, y.origin) &&
           (tmpfs || x.size_bytes == y.size_bytes);
  };
  if (plan.mounts.size() != built.mounts.size()) return false;
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    if (!same_mount(plan.mounts[i], built.mounts[i])) return false;
  }
  const auto& a = plan.id_map;
  const auto& b = built.id_map;
  const auto& la = plan.landlock;
  const auto& lb = built.landlock;
  bool same_seccomp = plan.seccomp.has_value() == built.seccomp.has_value();
  if (same_seccomp && plan.seccomp) {
    const auto& fa = *plan.seccomp;
    const auto& fb = *built.seccomp;
    same_seccomp = fa.profile == fb.profile && fa.listener == fb.listener && fa.flags == fb.flags &&
                   SameBpf(fa.main, fb.main) && SameBpf(fa.overlay, fb.overlay);
  }
  // A leaf's limits are written when the job comes; where it goes and what it can be given not.
  const auto& ca = plan.cgroup;
  const auto& cb = built.cgroup;
  bool same_cgroup = ca.parent.has_value() == cb.parent.has_value() &&
                     (!ca.parent || (ca.parent->path == cb.parent->path &&
                                     ca.parent->move_self == cb.parent->move_self &&
                                     ca.controllers == cb.controllers));
  return same_seccomp && same_cgroup &&
         std::tie(plan.clone_flags, plan.uid, plan.gid, plan.rootfs, plan.read_only_root,
                  plan.chroot, plan.bring_up_lo, plan.set_hostname, plan.hostname, plan.workdir,
                  plan.keep_caps, plan.last_cap, plan.apparmor_exec) ==
             std::tie(built.clone_flags, built.uid, built.gid, built.rootfs, built.read_only_root,
                      built.chroot, built.bring_up_lo, built.set_hostname, built.hostname,
                      built.workdir, built.keep_caps, built.last_cap, built.apparmor_exec) &&
         std::tie(a.uid_map, a.gid_map, a.use_helpers, a.newuidmap_args, a.newgidmap_args) ==
             std::tie(b.uid_map, b.gid_map, b.use_helpers, b.newuidmap_args, b.newgidmap_args) &&
         std::tie(la.abi, la.handled_fs, la.scoped, la.writable) ==
             std::tie(lb.abi, lb.handled_fs, lb.scoped, lb.writable);
}

}  // namespace

// A sandbox built before its job (gaol serve's pool), PID 1 waiting on launched.sync.
struct WarmSandbox {
  JobSpec shape;
  HostFacts facts;
  Plan plan;
  bool looks_for_cgroup = false;
  std::optional<RlimitOp> nofile;    // the caller's own, when MakeDescriptorRoom raised it
  std::optional<cgroup::Leaf> leaf;  // PID 1's, made without limits: the job's come with it
  UniqueFd empty_seed;               // the workdir's, so that PID 1 hands its root back
  Launched launched;
  double build_seconds = 0;
};

void WarmSandboxDelete::operator()(WarmSandbox* sandbox) const { delete sandbox; }

namespace {

// PID 1 ended while it built the sandbox: the error it reported.
Error BuildError(int report_r) {
  Error error{Step::kInit, 0, "the pre-built sandbox's PID 1 ended before it was ready", {}, {}};
  ChildReport report;
  for (;;) {
    std::size_t nfds = 0;
    int fd = -1;
    ssize_t n = ReceiveWithFds(report_r, &report, sizeof report, &fd, 1, &nfds);
    if (nfds > 0) close(fd);
    if (n != static_cast<ssize_t>(sizeof report)) break;
    if (report.kind == ChildReport::kError) error = ErrorFromReport(report);
  }
  return error;
}

}  // namespace

namespace {
bool EncodeParts(const Plan& plan, const Plan& built, bool seed, std::string* out);

// The request's path run once on the shape itself, after the build: a pool runner is a fresh
// fork, and the job's own plan would otherwise pay for the first touch of the code and heap it
// uses (copy-on-write and page faults).
void PrimeWarmPath(const WarmSandbox& sandbox) {
  auto plan = MakePlan(sandbox.shape, sandbox.facts);
  if (!plan) return;
  std::string parts;
  if (SameShape(*plan, sandbox.plan)) EncodeParts(*plan, sandbox.plan, false, &parts);
}
}  // namespace

Result<WarmSandboxPtr> BuildWarmSandbox(const JobSpec& shape) {
  std::uint64_t start = MonotonicNs();
  WarmSandboxPtr sandbox(new WarmSandbox);
  sandbox->shape = shape;
  auto facts = GatherHostFacts(shape);
  if (!facts) return tl::unexpected(facts.error());
  sandbox->facts = std::move(*facts);
  auto plan = MakePlan(shape, sandbox->facts);
  if (!plan) return tl::unexpected(plan.error());
  sandbox->plan = std::move(*plan);
  Plan& p = sandbox->plan;
  // What the warm start cannot give a job: a systemd scope (gaol moved into one while gathering
  // the facts), the caller's pid namespace (gaol its subreaper).
  if (!sandbox->facts.systemd_scope.empty() || !(p.clone_flags & CLONE_NEWPID))
    return Invalid("the pool's sandbox shape",
                   "a pid namespace of its own, and a cgroup found without systemd's help");
  // Nor a bind mount of the spec's: its source must be opened beneath its allowed directory for
  // the request that names it (gaol serve's runner), never by path ahead of time.
  for (const MountOp& op : p.mounts) {
    if (op.kind == MountOpKind::kBind && op.origin == "--volume")
      return Invalid("the pool's sandbox shape", "no bind mounts (`" + op.target + "` is one)");
  }
  std::size_t rlimits = p.rlimits.size();
  if (auto room = MakeDescriptorRoom(p); !room) return tl::unexpected(room.error());
  if (p.rlimits.size() > rlimits) sandbox->nofile = p.rlimits.back();
  sandbox->looks_for_cgroup = LooksForCgroup(shape);
  // Placeholders until the job's own stdio comes with its parts.
  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd null_out(open("/dev/null", O_WRONLY | O_CLOEXEC));
  UniqueFd null_err(open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!null_in || !null_out || !null_err) return Fail(Step::kOpenIo, "open", "/dev/null");
  LaunchIo io;
  io.stdin_fd = null_in.Get();
  io.stdout_w = std::move(null_out);
  io.stderr_w = std::move(null_err);
  io.given_sources.assign(p.mounts.size(), -1);
  if (const MountOp* workdir = WorkdirTmpfs(p)) {
    auto seed = io::WriteSeed({});
    if (!seed) return tl::unexpected(seed.error());
    sandbox->empty_seed = std::move(*seed);
    io.given_sources[static_cast<std::size_t>(workdir - p.mounts.data())] =
        sandbox->empty_seed.Get();
  }
  if (p.cgroup.parent) {
    // Born in its leaf, as a cold sandbox is; nothing of a job runs there before its limits.
    cgroup::ReapOrphans(*p.cgroup.parent);
    auto made = cgroup::Leaf::Create(*p.cgroup.parent, p.cgroup.controllers, {});
    if (!made) return tl::unexpected(made.error());
    sandbox->leaf = std::move(*made);
  }
  auto launched =
      LaunchSandbox(p, std::move(io), sandbox->leaf ? sandbox->leaf->DirFd() : -1, /*warm=*/true);
  if (!launched) return tl::unexpected(launched.error());
  sandbox->launched = std::move(*launched);
  sandbox->empty_seed.Reset();
  // The room was for the build: the job's own start (cold, should its shape differ) finds the
  // caller's limit again.
  if (sandbox->nofile) {
    rlimit was = {static_cast<rlim_t>(sandbox->nofile->soft),
                  static_cast<rlim_t>(sandbox->nofile->hard)};
    setrlimit(RLIMIT_NOFILE, &was);
  }
  char ready = 0;
  ssize_t n;
  do {
    n = read(sandbox->launched.sync.Get(), &ready, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || ready != kZygoteReady)
    return tl::unexpected(BuildError(sandbox->launched.report_r.Get()));
  sandbox->build_seconds = Seconds(MonotonicNs() - start);
  PrimeWarmPath(*sandbox);
  return sandbox;
}

double WarmSandboxBuildSeconds(const WarmSandbox& sandbox) { return sandbox.build_seconds; }

namespace {

// The job's parts as PID 1 reads them (WarmParts); false when they do not fit one message.
bool EncodeParts(const Plan& plan, const Plan& built, bool seed, std::string* out) {
  WarmParts parts;
  parts.argc = static_cast<std::uint32_t>(plan.argv.size());
  parts.envc = static_cast<std::uint32_t>(plan.envp.size());
  parts.candidates = static_cast<std::uint32_t>(plan.exec_candidates.size());
  if (plan.rlimits.size() > kWarmRlimitsMax ||
      plan.argv.size() + plan.envp.size() + plan.exec_candidates.size() + 3 > kWarmPointersMax)
    return false;
  parts.rlimits = static_cast<std::uint32_t>(plan.rlimits.size());
  for (std::size_t i = 0; i < plan.rlimits.size(); ++i) {
    parts.rlimit[i] = {plan.rlimits[i].resource, plan.rlimits[i].soft, plan.rlimits[i].hard};
  }
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    const MountOp& op = plan.mounts[i];
    if (op.kind != MountOpKind::kTmpfs || op.size_bytes == built.mounts[i].size_bytes) continue;
    // Unbounded (the kernel's default) is only as built: tmpfs's size=0 means no limit at all.
    if (op.size_bytes == 0 || parts.resizes == kWarmResizesMax) return false;
    parts.resize[parts.resizes++] = {static_cast<std::uint32_t>(i), op.size_bytes};
  }
  parts.seed = seed ? 1 : 0;
  std::string strings;
  for (const auto* list : {&plan.argv, &plan.envp, &plan.exec_candidates}) {
    for (const auto& s : *list) {
      if (s.find('\0') != std::string::npos) return false;
      strings.append(s);
      strings.push_back('\0');
    }
  }
  if (strings.size() > kWarmStringsMax) return false;
  parts.strings_bytes = static_cast<std::uint32_t>(strings.size());
  out->assign(reinterpret_cast<const char*>(&parts), sizeof parts);
  out->append(strings);
  return true;
}

}  // namespace

namespace {

// Whether the host facts gathered for `shape` are the ones `spec` would gather: every spec field
// GatherHostFacts reads the host for (a profile file's text, the Landlock ABI, AppArmor, the
// subordinate ids, a cgroup) is the shape's own.
bool SameFacts(const JobSpec& spec, const JobSpec& shape) {
  return spec.seccomp == shape.seccomp && spec.landlock == shape.landlock &&
         spec.apparmor == shape.apparmor && spec.map_users == shape.map_users &&
         spec.map_groups == shape.map_groups && spec.rootfs == shape.rootfs &&
         spec.cgroup_parent == shape.cgroup_parent && spec.require_cgroup == shape.require_cgroup &&
         spec.limits.devices.empty() && shape.limits.devices.empty() &&
         LooksForCgroup(spec) == LooksForCgroup(shape);
}

bool Alive(const OwnedChild& child) {
  pollfd p = {child.PidFd(), POLLIN, 0};
  return child.PidFd() >= 0 && poll(&p, 1, 0) == 0;  // a pidfd turns readable at the exit
}

}  // namespace

std::optional<RunResult> RunWarm(WarmSandbox& sandbox, const JobSpec& spec,
                                 const CallerStdio& stdio, LaunchObserver* observer) {
  std::uint64_t start = MonotonicNs();
  // A sandbox whose PID 1 is gone (killed while it waited) is the cold path's to replace.
  if (!sandbox.launched.sync || !Alive(sandbox.launched.child) || !SameFacts(spec, sandbox.shape))
    return std::nullopt;
  // A plan the pre-built sandbox cannot give this job is the cold path's to refuse or run.
  auto made = MakePlan(spec, sandbox.facts);
  if (!made) return std::nullopt;
  Plan& plan = *made;
  bool sets_nofile = std::any_of(plan.rlimits.begin(), plan.rlimits.end(),
                                 [](const RlimitOp& op) { return op.resource == RLIMIT_NOFILE; });
  if (sandbox.nofile && !sets_nofile) plan.rlimits.push_back(*sandbox.nofile);
  if (!SameShape(plan, sandbox.plan)) return std::nullopt;
  if (stdio.seed && (!WorkdirTmpfs(plan) || stdio.seed->target != plan.workdir))
    return std::nullopt;
  std::string parts;
  if (!EncodeParts(plan, sandbox.plan, stdio.seed.has_value(), &parts)) return std::nullopt;

  RunResult result;
  // The observer hears of the job once it started; a failure before that is still its job's.
  bool started = false;
  auto fail = [&](Error e) {
    if (observer && !started) observer->OnStarted();
    return Failed(std::move(e), observer, result);
  };
  result.prebuilt_build_seconds = sandbox.build_seconds;
  result.launch_steps[Step::kPlan] = Seconds(MonotonicNs() - start);
  std::uint64_t planned = MonotonicNs();
  auto io = OpenIo(spec, stdio);
  if (!io) return fail(io.error());
  result.launch_steps[Step::kOpenIo] = Seconds(MonotonicNs() - planned);
  DescribePlan(spec, plan, result);
  Sandbox running;
  if (sandbox.leaf) {
    std::uint64_t t0 = MonotonicNs();
    if (auto s = sandbox.leaf->Write(plan.cgroup.limits); !s) return fail(s.error());
    auto fd = sandbox.leaf->OpenCpuStat();
    if (!fd) return fail(fd.error());
    running.cpu_stat = std::move(*fd);
    running.memory_current = sandbox.leaf->OpenMemoryCurrentWithoutPeak();
    result.launch_steps[Step::kCgroup] = Seconds(MonotonicNs() - t0);
  }
  ForwardedSignals signals;
  int fds[4] = {io->launch.stdin_fd, io->launch.stdout_w.Get(), io->launch.stderr_w.Get(),
                stdio.seed ? stdio.seed->fd : -1};
  bool sent =
      SendWithFds(sandbox.launched.sync.Get(), parts.data(), parts.size(), fds, stdio.seed ? 4 : 3);
  int err = errno;
  // The sandbox keeps the only write ends: EOF on the pipes means the job side is gone.
  io->launch.stdout_w.Reset();
  io->launch.stderr_w.Reset();
  sandbox.launched.sync.Reset();
  // PID 1 died after the check above: nothing of the job ran; the cold path takes it (the
  // caller destroys this sandbox, and its leaf, first).
  if (!sent && (err == EPIPE || err == ECONNRESET)) return std::nullopt;
  if (!sent) return fail(Fail(Step::kAttach, "send the job's parts", "sync channel", err).value());
  started = true;
  if (observer) observer->OnStarted();
  running.leaf = std::move(sandbox.leaf);
  sandbox.leaf.reset();
  running.launched = std::move(sandbox.launched);
  if (auto s =
          SuperviseAndJudge(spec, plan, *io, stdio, running, signals.Fd(), start, observer, result);
      !s)
    return fail(s.error());
  if (observer) observer->OnFinished(result);
  return result;
}

namespace {}  // namespace

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
