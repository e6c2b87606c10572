#include "sandbox/child/child_init.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <iterator>

#include "sandbox/caps/caps.h"
#include "sandbox/child/child_attach.h"
#include "sandbox/child/child_confine.h"
#include "sandbox/child/sanitized.h"
#include "sandbox/common/fd_passing.h"
#include "sandbox/common/reap.h"
#include "sandbox/io/job_fds.h"
#include "sandbox/lsm/landlock.h"
#include "sandbox/seccomp/evaluate.h"

// The job runs on a stack of PID 1's own (SpawnJob) that ASan does not know: uninstrumented there,
// or its no-return hook warns into the job's stderr.
#if GAOL_SANITIZED
#define GAOL_ON_JOB_STACK __attribute__((no_sanitize("address")))
#else
#define GAOL_ON_JOB_STACK
#endif

namespace gaol {
namespace {

using StepFn = bool (*)(ChildContext&, ChildReport&) noexcept;
struct ChildStep {
  Step step;
  StepFn run;
};

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

bool ArrangeFds(ChildContext& ctx, ChildReport& report) noexcept {
  int fds[5] = {ctx.stdin_fd, ctx.stdout_fd, ctx.stderr_fd, ctx.report_fd, ctx.sync_fd};
  // What the caller gave for mounts (bind sources, a seed) goes to 5, 6, ... until they are made.
  int given = 0;
  for (std::size_t i = 0; i < ctx.plan->mounts.size(); ++i) {
    if (ctx.rootfs.given_fds && ctx.rootfs.given_fds[i] >= 0) ++given;
  }
  int above = 5 + given;
  // First lift every source above the targets, so no dup3 overwrites a source still needed.
  for (std::size_t i = 0; i < ctx.plan->mounts.size() && given > 0; ++i) {
    int& fd = ctx.rootfs.given_fds[i];
    if (fd < 0) continue;
    fd = fcntl(fd, F_DUPFD_CLOEXEC, above);
    if (fd < 0)
      return ChildFail(report, Step::kFds, errno, "duplicate a descriptor given for a mount");
  }
  for (int& fd : fds) {
    fd = fcntl(fd, F_DUPFD_CLOEXEC, above);
    if (fd < 0) {
      return ChildFail(report, Step::kFds, errno,
                       "duplicate a descriptor (the open-file limit, ulimit -n, is too low "
                       "for the descriptors gaol holds)");
    }
  }
  for (int target = 0; target < 5; ++target) {
    int flags = target >= kReportFd ? O_CLOEXEC : 0;
    if (dup3(fds[target], target, flags) < 0)
      return ChildFail(report, Step::kFds, errno, "dup3 onto fd %d", target);
  }
  int next = 5;
  for (std::size_t i = 0; i < ctx.plan->mounts.size() && given > 0; ++i) {
    int& fd = ctx.rootfs.given_fds[i];
    if (fd < 0) continue;
    if (dup3(fd, next, O_CLOEXEC) < 0)
      return ChildFail(report, Step::kFds, errno, "dup3 onto fd %d", next);
    fd = next++;
  }
  // No descriptor of the caller's reaches the sandbox beyond these (those given for mounts are
  // closed once used).
  if (close_range(static_cast<unsigned>(above), ~0U, 0) != 0)
    return ChildFail(report, Step::kFds, errno, "close_range(%d, ~0)", above);
  return true;
}

bool BuildRoot(ChildContext& ctx, ChildReport& report) noexcept {
  return BuildRootInChild(*ctx.plan, ctx.rootfs, report);
}

bool EnterRoot(ChildContext& ctx, ChildReport& report) noexcept {
  return EnterRootInChild(*ctx.plan, ctx.rootfs, report);
}

// What failed in gaol's network helper, by NetworkHandover::What.
constexpr const char* kHandoverFailures[] = {
    "make the network namespace",
    "start the network helper (clone)",
    "join the sandbox's user namespace (setns) to make its network namespace",
    "make the network namespace (unshare CLONE_NEWNET)",
    "bring up `lo` (RTM_NEWLINK)",
    "take a descriptor of the network namespace (SIOCGSKNS)",
};
static_assert(std::size(kHandoverFailures) == NetworkHandover::kDescriptor + 1,
              "words for every NetworkHandover::What");

// The network namespace gaol made beside this process while it built the root (launch.cc,
// HandOverNetwork), lo already up: received on the sync socket and joined.
bool SetUpNetwork(ChildContext& ctx, ChildReport& report) noexcept {
  if (!(ctx.plan->clone_flags & CLONE_NEWNET)) return true;
  NetworkHandover handover;
  int netns = -1;
  std::size_t passed = 0;
  ssize_t n = ReceiveWithFds(kSyncFd, &handover, sizeof(handover), &netns, 1, &passed);
  int err = errno;
  if (!ctx.warm) close(kSyncFd);
  if (n != static_cast<ssize_t>(sizeof(handover))) {
    if (netns >= 0) close(netns);
    return ChildFail(report, Step::kNetwork, n < 0 ? err : EPIPE,
                     "receive the network namespace from gaol");
  }
  if (handover.err != 0 || netns < 0) {
    if (netns >= 0) close(netns);
    auto what = static_cast<std::size_t>(handover.what);
    return ChildFail(report, Step::kNetwork, handover.err, "%s",
                     kHandoverFailures[what < std::size(kHandoverFailures) ? what : 0]);
  }
  bool joined = setns(netns, CLONE_NEWNET) == 0;
  err = errno;
  close(netns);
  return joined || ChildFail(report, Step::kNetwork, err, "join the network namespace (setns)");
}

bool SetHostname(ChildContext& ctx, ChildReport& report) noexcept {
  if (!ctx.plan->set_hostname) return true;
  const auto& name = ctx.plan->hostname;
  return sethostname(name.data(), name.size()) == 0 ||
         ChildFail(report, Step::kHostname, errno, "sethostname `%s`", name.c_str());
}

bool NewSession(ChildContext&, ChildReport& report) noexcept {
  // No controlling terminal: the job cannot push input into the caller's tty (TIOCSTI).
  if (setsid() < 0) return ChildFail(report, Step::kSession, errno, "setsid");
  // Nor the caller's session keyring, whose keys it could otherwise read (KEYCTL_READ where the
  // profile allows keyctl; /proc/keys lists them): a fresh anonymous one, as runc does. A kernel
  // without keys (ENOSYS) has nothing to leak.
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, nullptr) < 0 && errno != ENOSYS) {
    return ChildFail(report, Step::kSession, errno,
                     "join a new session keyring (keyctl KEYCTL_JOIN_SESSION_KEYRING; EDQUOT: "
                     "the user's key quota, kernel.keys.maxkeys, is used up)");
  }
  return true;
}

bool NoNewPrivs(ChildContext&, ChildReport& report) noexcept {
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ||
         ChildFail(report, Step::kNoNewPrivs, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
}

// The job's rlimits on process `pid` (0: this one). A pre-built sandbox's PID 1 sets them on its
// waiting job process (prlimit), which may no longer be allowed the call itself.
bool LimitProcess(pid_t pid, const ChildContext& ctx, ChildReport& report) noexcept {
  for (std::size_t i = 0; i < ctx.rlimit_count; ++i) {
    const WarmRlimit& op = ctx.rlimits[i];
    rlimit l = {static_cast<rlim_t>(op.soft), static_cast<rlim_t>(op.hard)};
    if (prlimit(pid, static_cast<__rlimit_resource>(op.resource), &l, nullptr) != 0) {
      return ChildFail(report, Step::kRlimits, errno, "setrlimit resource %d=%llu:%llu",
                       op.resource, static_cast<unsigned long long>(op.soft),
                       static_cast<unsigned long long>(op.hard));
    }
  }
  if (ctx.rlimits) return true;
  for (const RlimitOp& op : ctx.plan->rlimits) {
    rlimit l = {static_cast<rlim_t>(op.soft), static_cast<rlim_t>(op.hard)};
    if (prlimit(pid, static_cast<__rlimit_resource>(op.resource), &l, nullptr) != 0) {
      return ChildFail(report, Step::kRlimits, errno, "setrlimit %s=%llu:%llu", op.name.c_str(),
                       static_cast<unsigned long long>(op.soft),
                       static_cast<unsigned long long>(op.hard));
    }
  }
  return true;
}

bool SetRlimits(ChildContext& ctx, ChildReport& report) noexcept {
  return LimitProcess(0, ctx, report);
}

// The order is the security argument: the root is built and entered, the network and hostname
// set while PID 1 still holds its namespace capabilities; no_new_privs comes before the job.
constexpr ChildStep kInitSteps[] = {
    {Step::kMounts, BuildRoot},     {Step::kNetwork, SetUpNetwork}, {Step::kPivotRoot, EnterRoot},
    {Step::kHostname, SetHostname}, {Step::kSession, NewSession},   {Step::kNoNewPrivs, NoNewPrivs},
};
bool DropCaps(ChildContext& ctx, ChildReport& report) noexcept {
  const char* what = "";
  int err = caps::ApplyInChild(ctx.plan->keep_caps, ctx.plan->last_cap, &what);
  return err == 0 || ChildFail(report, Step::kCaps, err, "%s", what);
}

// The AppArmor profile the job's execve switches to (the admin loaded it; the kernel refuses an
// unknown name here, before the exec).
bool ChangeOnExec(ChildContext& ctx, ChildReport& report) noexcept {
  const std::string& cmd = ctx.plan->apparmor_exec;
  if (cmd.empty()) return true;
  int fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
  if (fd < 0) fd = open("/proc/self/attr/exec", O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && write(fd, cmd.data(), cmd.size()) == static_cast<ssize_t>(cmd.size());
  int err = errno;
  if (fd >= 0) close(fd);
  if (ok) return true;
  const char* name = cmd.c_str() + 5;  // after "exec "
  // The kernel answers ENOENT for a name it has no profile for.
  if (err == ENOENT && fd >= 0) {
    return ChildFail(report, Step::kAppArmor, err,
                     "AppArmor profile `%s` is not loaded (as root: apparmor_parser -r "
                     "/etc/apparmor.d/%s)",
                     name, name);
  }
  return ChildFail(report, Step::kAppArmor, err,
                   "switch to AppArmor profile `%s` at exec (write /proc/self/attr/apparmor/exec)",
                   name);
}

bool ApplyLandlock(ChildContext& ctx, ChildReport& report) noexcept {
  const char* what = "";
  int err = landlock::ApplyInChild(ctx.plan->landlock, &what);
  return err == 0 || ChildFail(report, Step::kLandlock, err, "%s", what);
}

// Raising a hard rlimit needs CAP_SYS_RESOURCE in the initial user namespace, which the sandbox
// never has, so rlimits do not need the capabilities dropped before them. They come after
// Landlock: a low nofile (the caller's own, given back) leaves no descriptor for its ruleset.
constexpr ChildStep kJobSteps[] = {{Step::kAppArmor, ChangeOnExec},
                                   {Step::kCaps, DropCaps},
                                   {Step::kLandlock, ApplyLandlock},
                                   {Step::kRlimits, SetRlimits}};
// A pre-built sandbox's job process runs these at build time; PID 1 sets its rlimits at attach.
constexpr ChildStep kPreparedSteps[] = {
    {Step::kAppArmor, ChangeOnExec}, {Step::kCaps, DropCaps}, {Step::kLandlock, ApplyLandlock}};
constexpr Step kInitOrder[] = {Step::kFds,        Step::kMounts,   Step::kNetwork,
                               Step::kPivotRoot,  Step::kHostname, Step::kSession,
                               Step::kNoNewPrivs, Step::kAttach,   Step::kInit};
constexpr Step kJobOrder[] = {Step::kAppArmor, Step::kCaps,    Step::kLandlock,
                              Step::kRlimits,  Step::kSeccomp, Step::kExec};

bool RunSteps(std::span<const ChildStep> steps, ChildContext& ctx, ChildReport& report) noexcept {
  for (const ChildStep& s : steps) {
    std::uint64_t start = MonotonicNs();
    if (!s.run(ctx, report)) return false;
    report.step_ns[StepIndex(s.step)] = MonotonicNs() - start;
  }
  return true;
}

[[noreturn]] GAOL_ON_JOB_STACK void Die(ChildReport& report, int code) noexcept {
  SendReport(report);
  _exit(code);
}

void ResetSignals() noexcept {
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

// The overlay first: loading the main filter, the seccomp() call must pass only the overlay.
int LoadSeccomp(ChildContext& ctx) noexcept {
  const auto& filter = ctx.plan->seccomp;
  if (!filter) return 0;
  for (const auto* bpf : {&filter->overlay, &filter->main}) {
    if (bpf->empty()) continue;
    sock_fprog prog = {static_cast<unsigned short>(bpf->size()),
                       const_cast<sock_filter*>(bpf->data())};
    unsigned flags = filter->flags;
    bool listen = bpf == &filter->main && filter->listener;
    if (listen) flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (fd < 0 && listen && errno == EMFILE) {
      // The job's nofile limit leaves no descriptor for the listener: the filter still kills,
      // only the call is not named (the result says signaled SIGSYS).
      listen = false;
      fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags & ~SECCOMP_FILTER_FLAG_NEW_LISTENER,
                   &prog);
    }
    if (fd < 0) return errno;
    if (listen) ctx.listener_fd = static_cast<int>(fd);
  }
  return 0;
}

bool LoadFilterOrFail(ChildContext& ctx, ChildReport& report) noexcept {
  int err = LoadSeccomp(ctx);
  return err == 0 ||
         ChildFail(report, Step::kSeccomp, err, "load the seccomp filter of profile `%s`",
                   ctx.plan->seccomp->profile.c_str());
}

bool LoadJobFilter(ChildContext& ctx, ChildReport& report) noexcept {
  std::uint64_t start = MonotonicNs();
  if (!LoadFilterOrFail(ctx, report)) return false;
  ctx.seccomp_ns = MonotonicNs() - start;
  return true;
}

// Past the filter: execve each candidate; only execve and exit_group from here on.
[[noreturn]] GAOL_ON_JOB_STACK void ExecCandidates(ChildContext& ctx) noexcept {
  int err = ENOENT;
  bool denied = false;
  // As execvp: a missing or unusable candidate moves on to the next directory of PATH.
  auto tried = [&](const char* path) {
    execve(path, ctx.argv, ctx.envp);
    err = errno;
    if (err == EACCES) denied = true;
    return err != ENOENT && err != ENOTDIR && err != EACCES;
  };
  if (ctx.candidates) {
    for (char* const* path = ctx.candidates; *path && !tried(*path);) ++path;
  } else {
    for (const auto& path : ctx.plan->exec_candidates) {
      if (tried(path.c_str())) break;
    }
  }
  if (denied && (err == ENOENT || err == ENOTDIR)) err = EACCES;
  ctx.exec_errno = err;  // PID 1 reports it: the filter may refuse this process a write()
  _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

[[noreturn]] GAOL_ON_JOB_STACK void ExecJob(ChildContext& ctx, ChildReport& report) noexcept {
  ResetSignals();
  if (!RunSteps(kJobSteps, ctx, report)) Die(report, 125);
  report.kind = ChildReport::kReady;
  report.exec_ns = MonotonicNs();
  SendReport(report);
  if (!LoadJobFilter(ctx, report)) Die(report, 125);
  ExecCandidates(ctx);
}

// PID 1, once the job has exec'd or died: what the job left in the shared context.
void CollectFromJob(ChildContext& ctx, ChildReport& report) noexcept {
  report.step_ns[StepIndex(Step::kSeccomp)] = ctx.seccomp_ns;
  if (ctx.listener_fd >= 0) {
    SendDescriptor(report, ChildReport::kListener, ctx.listener_fd);
    close(ctx.listener_fd);
  }
  if (ctx.exec_errno != 0) {
    ChildFail(report, Step::kExec, ctx.exec_errno, "execute `%s`", ctx.argv[0]);
    SendReport(report);
  }
}

void NoopHandler(int) {}

struct JobStart {
  ChildContext* ctx;
  const ChildReport* init_report;
  std::uint64_t start_ns;
};

GAOL_ON_JOB_STACK int JobMain(void* arg) noexcept {
  auto* start = static_cast<JobStart*>(arg);
  // The job's own record, on its own stack: the memory it shares with PID 1 stays untouched.
  ChildReport report = *start->init_report;
  report.step_ns[StepIndex(Step::kInit)] = MonotonicNs() - start->start_ns;
  ExecJob(*start->ctx, report);
}

// The job shares PID 1's memory until its execve (as posix_spawn does): no page tables to copy
// and no copy-on-write faults, which a plain fork of gaol's image costs on every launch. PID 1
// is suspended meanwhile (CLONE_VFORK), so nothing it holds changes under the job.
alignas(16) char g_job_stack[256 * 1024];

pid_t SpawnJob(ChildContext& ctx, const ChildReport& report) noexcept {
  JobStart start{&ctx, &report, MonotonicNs()};
  // CLONE_FILES: the seccomp listener the job creates lands in PID 1's table too; the job's
  // execve unshares the table and closes its own copy (the listener is CLOEXEC).
  return clone(JobMain, g_job_stack + sizeof(g_job_stack),
               CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &start);
}

// A pre-built sandbox's job process (gaol serve's pool) is started at build time, as SpawnJob's
// (sharing PID 1's memory and fd table), and confines itself then: signals reset, AppArmor,
// capabilities, Landlock and, where its filter lets it wait behind it, seccomp. It then waits
// for PID 1's word; on the request's path the job's side is only execve. The two meet on these
// words (futexes, shared rather than private: the kernel's CLONE_CHILD_CLEARTID wake is shared).
// They never run at once but for a few instructions around each hand-over, so the errno they
// share (one TLS) is never read across.
struct PreparedJob {
  // 1 while the job process confines itself, 2 once it waits; 0, written and woken by the kernel
  // (CLONE_CHILD_CLEARTID), once it has exec'd or exited.
  std::uint32_t stage = 0;
  std::uint32_t go = 0;   // PID 1: 1 once the job's parts are in place
  bool filtered = false;  // the seccomp filter was loaded before the wait
  bool reached_exec = false;
  std::uint64_t filter_start = 0;  // when the process began loading its filter (PID 1 times it)
  ChildReport report;              // the job process's step timings, or what failed
};
PreparedJob g_prepared;

long Futex(std::uint32_t* word, int op, std::uint32_t value) noexcept {
  return syscall(SYS_futex, word, op, value, nullptr, nullptr, 0);
}

// Whether the job's filter lets through the two calls the job process makes behind it while it
// waits (exactly these, with these arguments): the profile is the operator's, and a strict one
// may refuse futex. If not, the process waits before its filter and loads it once woken.
bool CanWaitFiltered(const ChildContext& ctx) noexcept {
#if defined(__x86_64__)
  if (!ctx.plan->seccomp) return false;
  seccomp_data wake = {}, wait = {};
  wake.nr = wait.nr = SYS_futex;
  wake.arch = wait.arch = AUDIT_ARCH_X86_64;
  wake.args[0] = reinterpret_cast<std::uintptr_t>(&g_prepared.stage);
  wake.args[1] = FUTEX_WAKE;
  wake.args[2] = 1;
  wait.args[0] = reinterpret_cast<std::uintptr_t>(&g_prepared.go);
  wait.args[1] = FUTEX_WAIT;
  return seccomp::Allows(*ctx.plan->seccomp, wake) && seccomp::Allows(*ctx.plan->seccomp, wait);
#else
  return false;
#endif
}

[[noreturn]] GAOL_ON_JOB_STACK void ExitPrepared() noexcept { _exit(125); }

// The filter loaded with no clock read behind it: where the vDSO cannot read the clock source,
// clock_gettime is a real call, which the filter may refuse (or hold for a listener no one reads
// yet). PID 1 times the load from filter_start.
bool LoadPreparedFilter(ChildContext& ctx, ChildReport& report) noexcept {
  g_prepared.filter_start = MonotonicNs();
  return LoadFilterOrFail(ctx, report);
}

GAOL_ON_JOB_STACK int PreparedMain(void* arg) noexcept {
  auto& ctx = *static_cast<ChildContext*>(arg);
  ChildReport& report = g_prepared.report;
  ResetSignals();
  if (!RunSteps(kPreparedSteps, ctx, report)) ExitPrepared();
  if (CanWaitFiltered(ctx)) {
    if (!LoadPreparedFilter(ctx, report)) ExitPrepared();
    g_prepared.filtered = true;
  }
  __atomic_store_n(&g_prepared.stage, 2, __ATOMIC_RELEASE);
  Futex(&g_prepared.stage, FUTEX_WAKE, 1);
  while (__atomic_load_n(&g_prepared.go, __ATOMIC_ACQUIRE) == 0) {
    // Never a spin: a refused wait (which CanWaitFiltered rules out) ends the process.
    if (Futex(&g_prepared.go, FUTEX_WAIT, 0) != 0 && errno != EAGAIN && errno != EINTR)
      ExitPrepared();
  }
  if (!g_prepared.filtered && ctx.plan->seccomp && !LoadPreparedFilter(ctx, report)) ExitPrepared();
  g_prepared.reached_exec = true;
  ExecCandidates(ctx);
}

// At build time: start the job process and wait until it waits, confined. What failed in it
// fails the build (the pool counts it), not a job.
bool PrepareJob(ChildContext& ctx, ChildReport& report, pid_t& job) noexcept {
  std::uint64_t start = MonotonicNs();
  g_prepared.report = report;
  g_prepared.stage = 1;
  // CLONE_PIDFD: PID 1 waits for its parts and for this process's end at once (AwaitParts).
  job = clone(PreparedMain, g_job_stack + sizeof(g_job_stack),
              CLONE_VM | CLONE_FILES | CLONE_CHILD_CLEARTID | CLONE_PIDFD | SIGCHLD, &ctx,
              &ctx.job_pidfd, nullptr, reinterpret_cast<pid_t*>(&g_prepared.stage));
  if (job < 0) return ChildFail(report, Step::kInit, errno, "start the job (clone CLONE_VM)");
  std::uint32_t stage;
  while ((stage = __atomic_load_n(&g_prepared.stage, __ATOMIC_ACQUIRE)) == 1)
    Futex(&g_prepared.stage, FUTEX_WAIT, 1);
  if (stage == 0) {
    if (g_prepared.report.kind != ChildReport::kError)
      return ChildFail(report, Step::kInit, 0, "the job's process ended while it was prepared");
    report = g_prepared.report;
    return false;
  }
  if (g_prepared.filtered) ctx.seccomp_ns = MonotonicNs() - g_prepared.filter_start;
  for (Step s : {Step::kAppArmor, Step::kCaps, Step::kLandlock})
    report.step_ns[StepIndex(s)] = g_prepared.report.step_ns[StepIndex(s)];
  report.step_ns[StepIndex(Step::kInit)] = MonotonicNs() - start;
  return true;
}

// At attach, the job's parts in place: its rlimits (prlimit), kReady on its behalf, its word;
// then PID 1 waits until it has exec'd or exited, as CLONE_VFORK makes it wait in the cold path.
bool ReleaseJob(ChildContext& ctx, pid_t job, ChildReport& report) noexcept {
  if (__atomic_load_n(&g_prepared.stage, __ATOMIC_ACQUIRE) != 2) {
    return ChildFail(report, Step::kAttach, ESRCH,
                     "the pre-built sandbox's job process ended while it waited");
  }
  std::uint64_t start = MonotonicNs();
  if (!LimitProcess(job, ctx, report)) return false;
  report.step_ns[StepIndex(Step::kRlimits)] = MonotonicNs() - start;
  // prlimit succeeds on a process that died meanwhile (a zombie): checked again before kReady.
  if (__atomic_load_n(&g_prepared.stage, __ATOMIC_ACQUIRE) != 2) {
    return ChildFail(report, Step::kAttach, ESRCH,
                     "the pre-built sandbox's job process ended while it waited");
  }
  report.step_ns[StepIndex(Step::kSeccomp)] = ctx.seccomp_ns;
  report.kind = ChildReport::kReady;
  report.exec_ns = MonotonicNs();
  SendReport(report);
  report.kind = ChildReport::kNone;
  __atomic_store_n(&g_prepared.go, 1, __ATOMIC_RELEASE);
  Futex(&g_prepared.go, FUTEX_WAKE, 1);
  std::uint32_t stage;
  while ((stage = __atomic_load_n(&g_prepared.stage, __ATOMIC_ACQUIRE)) != 0)
    Futex(&g_prepared.stage, FUTEX_WAIT, stage);
  // Loaded once woken: timed up to its execve.
  if (!g_prepared.filtered && g_prepared.filter_start != 0)
    ctx.seccomp_ns = MonotonicNs() - g_prepared.filter_start;
  // Its filter failed to load once woken: its record, as the cold path's job would send it.
  if (!g_prepared.reached_exec && g_prepared.report.kind == ChildReport::kError)
    SendReport(g_prepared.report);
  return true;
}

// PID 1 after the fork: reap everything, forward signals, and leave with the job's status.
[[noreturn]] void SuperviseJobAsInit(ChildContext& ctx, pid_t job, const sigset_t& waited,
                                     ChildReport& report) noexcept {
  int job_status = 0;
  for (bool job_done = false; !job_done;) {
    int sig = sigwaitinfo(&waited, nullptr);
    if (sig == SIGCHLD) {
      int status;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == job) {
          job_status = status;
          job_done = true;
        }
      }
    } else if (sig > 0) {
      // A stop signal from gaol's caller reaches every process of the sandbox (a shell's
      // children too), as a pid namespace's init alone can send it; SIGUSR1/2 the job only.
      bool stop = sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT;
      kill(stop && (ctx.plan->clone_flags & CLONE_NEWPID) ? -1 : job, sig);
    }
  }
  // The job is gone: end whatever it left behind and reap it, so that RUSAGE_CHILDREN counts
  // every process of the job. In our own pid namespace -1 means "the sandbox"; sharing the
  // caller's, this process is a subreaper and its descendants are exactly the job's.
  if (ctx.plan->clone_flags & CLONE_NEWPID) {
    kill(-1, SIGKILL);
    while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
    }
  } else {
    KillAllDescendants();
  }
  report.kind = ChildReport::kExit;
  report.wait_status = job_status;
  getrusage(RUSAGE_CHILDREN, &report.usage);
  SendReport(report);
  _exit(WIFEXITED(job_status) ? WEXITSTATUS(job_status) : 128 + WTERMSIG(job_status));
}

}  // namespace

bool CheckFdsInChild(ChildReport& report, bool allow_sync, int allow_listener) noexcept {
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return ChildFail(report, Step::kFds, errno, "open /proc/self/fd");
  alignas(8) char buf[4096];
  bool ok = true;
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n < 0) {
      ok = ChildFail(report, Step::kFds, errno, "read /proc/self/fd");
      break;
    }
    if (n == 0) break;
    for (long off = 0; off < n && ok;) {
      auto* e = reinterpret_cast<dirent64*>(buf + off);
      off += e->d_reclen;
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      int fd = 0;
      for (const char* c = e->d_name; *c; ++c) fd = fd * 10 + (*c - '0');
      if (fd == dir) continue;
      struct stat st = {};
      if (fstat(fd, &st) != 0) continue;  // closed since the listing
      if ((fd == kReportFd || (allow_sync && fd == kSyncFd)) && S_ISSOCK(st.st_mode)) continue;
      if (fd == allow_listener && fd > 2) continue;  // CLOEXEC: the job's execve closes it
      if (fd > 2) {
        ok = ChildFail(report, Step::kFds, 0,
                       "descriptor %d (mode 0%o) is open before the job starts; only 0, 1, 2 and "
                       "the report socket may be",
                       fd, st.st_mode & S_IFMT);
      } else if (io::RefusedStdioKind(st, S_ISCHR(st.st_mode) && isatty(fd)) != nullptr) {
        ok = ChildFail(report, Step::kFds, 0,
                       "the job's fd %d (mode 0%o) is not a regular file, a pipe, a terminal or "
                       "/dev/null",
                       fd, st.st_mode & S_IFMT);
      }
    }
    if (!ok) break;
  }
  close(dir);
  return ok;
}

std::span<const Step> InitStepOrder() { return kInitOrder; }
std::span<const Step> JobStepOrder() { return kJobOrder; }

void RunSandboxInitInChild(ChildContext& ctx) noexcept {
  ChildReport report;
  // If gaol dies, so does the sandbox (and with PID 1, everything in its pid namespace).
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  // Sharing the caller's pid namespace, this process is no init: orphans must still come here.
  if (!(ctx.plan->clone_flags & CLONE_NEWPID)) prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  // Signals PID 1 forwards or waits for must have a handler: a pid namespace's init drops
  // signals it has no handler for. Blocked, they are taken with sigwaitinfo;
  // from the start, so that none sent while the sandbox is built is lost.
  sigset_t waited;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  struct sigaction act = {};
  act.sa_handler = NoopHandler;
  sigaction(SIGCHLD, &act, nullptr);
  for (int sig : kForwarded) {
    sigaction(sig, &act, nullptr);
    sigaddset(&waited, sig);
  }
  sigprocmask(SIG_BLOCK, &waited, nullptr);
  std::uint64_t start = MonotonicNs();
  if (!ArrangeFds(ctx, report)) {
    // Not on kReportFd: until the arrangement is done, fd 3 may be anything of the caller's.
    SendReportOn(ctx.report_fd, report);
    _exit(125);
  }
  report.step_ns[StepIndex(Step::kFds)] = MonotonicNs() - start;
  // Armed (PR_SET_PDEATHSIG above): tell gaol, which writes the ID maps only now, so that its
  // death at any later moment kills this process. Then wait for them. EOF instead of the byte:
  // the parent failed or died.
  char go = 1;
  if (write(kSyncFd, &go, 1) != 1) _exit(125);
  ssize_t n;
  do {
    n = read(kSyncFd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(125);
  // With a network namespace of its own, gaol sends it on this socket later (SetUpNetwork).
  if (!(ctx.plan->clone_flags & CLONE_NEWNET) && !ctx.warm) close(kSyncFd);
  if (!RunSteps(kInitSteps, ctx, report)) Die(report, 125);
  start = MonotonicNs();
  if (!CheckFdsInChild(report, ctx.warm)) Die(report, 125);
  report.step_ns[StepIndex(Step::kFds)] += MonotonicNs() - start;
  // Not dumpable before the job exists: between the job's execve and ConfineInit below, PID 1
  // still holds its capabilities, and a job given CAP_SYS_PTRACE could otherwise trace it in that
  // moment. Dumpability belongs to the memory the job shares until its execve, which gives the
  // job memory of its own (dumpable as usual); PID 1's, created in gaol's user namespace, then
  // needs CAP_SYS_PTRACE there to be traced.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    ChildFail(report, Step::kInit, errno, "make PID 1 not dumpable");
    Die(report, 125);
  }
  // A pre-built sandbox's job process is made and confined before its parts come (it dies with
  // PID 1 only where PID 1 is a pid namespace's init; elsewhere it is started at attach).
  pid_t job = -1;
  bool prepared = ctx.warm && (ctx.plan->clone_flags & CLONE_NEWPID);
  if (prepared && !PrepareJob(ctx, report, job)) Die(report, 125);
  // The job's parts arrive only now; what they bring (stdio, a seed) is checked as the cold path's.
  if (ctx.warm && !AwaitParts(ctx, report)) Die(report, 125);
  if (ctx.job_pidfd >= 0) close(ctx.job_pidfd);
  if (ctx.warm && !CheckFdsInChild(report, false, ctx.listener_fd)) Die(report, 125);
  if (prepared) {
    if (!ReleaseJob(ctx, job, report)) Die(report, 125);
  } else if ((job = SpawnJob(ctx, report)) < 0) {
    ChildFail(report, Step::kInit, errno, "start the job (clone CLONE_VM|CLONE_VFORK)");
    Die(report, 125);
  }
  CollectFromJob(ctx, report);
  // PID 1 keeps no copy of the job's stdio: EOF on the pipes must mean the job side is gone.
  for (int fd = 0; fd < 3; ++fd) close(fd);
  if (!ConfineInit(ctx, report)) {
    kill(ctx.plan->clone_flags & CLONE_NEWPID ? -1 : job, SIGKILL);
    Die(report, 125);
  }
  SuperviseJobAsInit(ctx, job, waited, report);
}

}  // namespace gaol
