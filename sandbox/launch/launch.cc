#include "sandbox/launch/launch.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "netns/netns.h"
#include "sandbox/child/child_init.h"
#include "sandbox/common/fd_passing.h"
#include "sandbox/common/syscalls.h"
#include "sandbox/launch/child_report.h"

namespace gaol {
namespace {

// [0] is PID 1's end, [1] gaol's.
Result<std::array<UniqueFd, 2>> MakeSyncChannel() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return Fail(Step::kClone, "socketpair", "sync channel");
  return std::array<UniqueFd, 2>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The report channel: a datagram-like socket pair, so that PID 1 can pass the seccomp listener
// (SCM_RIGHTS) along with its records, each of which arrives whole.
Result<std::array<UniqueFd, 2>> MakeReportChannel() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return Fail(Step::kClone, "socketpair", "report channel");
  return std::array<UniqueFd, 2>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// argv/envp as the child needs them: char* arrays into the plan's strings, built before clone.
std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

pid_t Clone3(std::uint64_t flags, int* pidfd, int cgroup_fd) {
  clone_args args = {};
  // Born in its leaf: no moment in which the sandbox runs outside it and its limits.
  if (cgroup_fd >= 0) {
    flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
  }
  args.flags = flags;
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
}

// The sandbox's network namespace is made here, beside PID 1, not by clone3: creating one is the
// costliest namespace (≈0.3 ms, and bringing lo up ≈0.1 ms more), and PID 1 has ≈0.5 ms of mounts
// to make first. A helper sharing gaol's memory and descriptors (gaol waits, as for vfork) joins
// the sandbox's user namespace, unshares the network namespace there (so that namespace belongs
// to the sandbox's user namespace, as clone3 would have made it), brings lo up and leaves a
// descriptor of it, which PID 1 receives and joins once its root is built (Step::kNetwork).
struct NetworkHelper {
  int userns_pidfd = -1;
  bool bring_up_lo = false;
  NetworkHandover out;
  int netns_fd = -1;
};

int MakeNetworkInHelper(void* arg) noexcept {
  auto* h = static_cast<NetworkHelper*>(arg);
  auto fail = [h](NetworkHandover::What what) {
    h->out.err = errno;
    h->out.what = what;
    return 1;
  };
  if (setns(h->userns_pidfd, CLONE_NEWUSER) != 0) return fail(NetworkHandover::kJoinUserns);
  if (unshare(CLONE_NEWNET) != 0) return fail(NetworkHandover::kUnshare);
  if (h->bring_up_lo) {
    if (int err = netns::BringUpLoopbackInChild(); err != 0) {
      errno = err;
      return fail(NetworkHandover::kLoopback);
    }
  }
  // Any socket's namespace is the one it was made in: this one.
  int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return fail(NetworkHandover::kDescriptor);
  h->netns_fd = ioctl(sock, SIOCGSKNS);
  if (h->netns_fd < 0) fail(NetworkHandover::kDescriptor);
  close(sock);
  return h->netns_fd < 0 ? 1 : 0;
}

// Runs the helper (gaol is suspended meanwhile; PID 1 is not) and sends PID 1 its outcome with the
// namespace's descriptor. Failing here is PID 1's to report, in its network step.
Status HandOverNetwork(const Plan& plan, int pidfd, int sync_fd) {
  NetworkHelper helper;
  helper.userns_pidfd = pidfd;
  helper.bring_up_lo = plan.bring_up_lo;
  static constexpr std::size_t kStack = 64 * 1024;
  auto stack = std::make_unique_for_overwrite<char[]>(kStack);  // not zero-filled per launch
  pid_t pid = clone(MakeNetworkInHelper, stack.get() + kStack,
                    CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &helper);
  if (pid < 0) {
    helper.out.err = errno;
    helper.out.what = NetworkHandover::kHelper;
  } else {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  UniqueFd netns(helper.netns_fd);
  int fd = netns.Get();
  // PID 1 gone (its report says why) is not this step's failure.
  if (!SendWithFds(sync_fd, &helper.out, sizeof(helper.out), &fd, netns ? 1 : 0) &&
      errno != EPIPE && errno != ECONNRESET)
    return Fail(Step::kNetwork, "hand the network namespace to PID 1", "sync channel");
  return {};
}

}  // namespace

int OwnedChild::Signal(int sig) const { return pidfd_ ? PidfdSendSignal(pidfd_.Get(), sig) : -1; }

// An adopted child's end, on its pidfd (readable once it exited).
static void AwaitExit(int pidfd) {
  pollfd p = {pidfd, POLLIN, 0};
  while (pidfd >= 0 && poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

Result<int> OwnedChild::Reap(struct rusage* usage) {
  if (adopted_) {
    AwaitExit(pidfd_.Get());
    if (usage) *usage = {};
    pid_ = -1;
    pidfd_.Reset();
    return SIGKILL;  // a wait status: killed by SIGKILL
  }
  int status = 0;
  pid_t got;
  do {
    got = wait4(pid_, &status, 0, usage);
  } while (got < 0 && errno == EINTR);
  if (got != pid_) return Fail(Step::kCollect, "wait4", std::to_string(pid_));
  pid_ = -1;
  pidfd_.Reset();
  return status;
}

void OwnedChild::KillAndReap() {
  if (pid_ <= 0) return;
  Signal(SIGKILL);
  if (adopted_) {
    AwaitExit(pidfd_.Get());
  } else {
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  pidfd_.Reset();
}

Result<Launched> LaunchSandbox(const Plan& plan, LaunchIo io, int cgroup_fd, bool warm) {
  auto report = MakeReportChannel();
  if (!report) return tl::unexpected(report.error());
  // Both ways: PID 1 says "armed" (its parent-death signal is set), gaol answers "go" once the ID
  // maps are written. EOF either way means the other side is gone.
  auto sync = MakeSyncChannel();
  if (!sync) return tl::unexpected(sync.error());
  std::vector<char*> argv = CStrings(plan.argv);
  std::vector<char*> envp = CStrings(plan.envp);
  std::vector<int> source_fds(plan.mounts.size(), -1);
  std::vector<int> given = io.given_sources;
  given.resize(plan.mounts.size(), -1);
  ChildContext ctx;
  ctx.plan = &plan;
  ctx.stdin_fd = io.stdin_fd;
  ctx.stdout_fd = io.stdout_w.Get();
  ctx.stderr_fd = io.stderr_w.Get();
  ctx.report_fd = (*report)[1].Get();
  ctx.sync_fd = (*sync)[0].Get();
  ctx.argv = argv.data();
  ctx.envp = envp.data();
  ctx.rootfs.source_fds = source_fds.data();
  ctx.rootfs.given_fds = given.data();
  ctx.warm = warm;

  Launched out;
  std::uint64_t start = MonotonicNs();
  int pidfd = -1;
  // The network namespace comes from HandOverNetwork below, in parallel with PID 1's mounts.
  pid_t pid = Clone3(plan.clone_flags & ~std::uint64_t{CLONE_NEWNET}, &pidfd, cgroup_fd);
  if (pid < 0 && cgroup_fd >= 0 && (errno == EACCES || errno == EPERM)) {
    // Moving into the leaf needs write access to cgroup.procs of the common ancestor of gaol's
    // cgroup and the leaf: a leaf outside gaol's own delegated subtree fails here, not the
    // namespaces. Said so, not blamed on user namespaces.
    return Fail(Step::kClone, "clone3 into the job's cgroup leaf (CLONE_INTO_CGROUP)",
                "the cgroup parent");
  }
  if (pid < 0)
    return Fail(Step::kClone, "clone3", "new user, mount, pid, uts, ipc, net, cgroup namespaces");
  if (pid == 0) RunSandboxInitInChild(ctx);  // never returns
  out.clone_ns = MonotonicNs() - start;
  out.child = OwnedChild(pid, UniqueFd(pidfd));
  // The parent keeps none of the sandbox's ends: EOF must mean the sandbox side closed them.
  (*report)[1].Reset();
  (*sync)[0].Reset();
  io.stdout_w.Reset();
  io.stderr_w.Reset();

  start = MonotonicNs();
  // PR_SET_PDEATHSIG set after gaol died fires never: had gaol been killed between clone3 and the
  // child's prctl, the sandbox would run on unsupervised (and, without a cgroup, without a wall
  // limit). So gaol writes nothing before PID 1 says it is armed; from then on gaol's death kills
  // it. EOF instead: PID 1 already failed (its report says why) or died.
  char armed = 0;
  ssize_t n;
  do {
    n = read((*sync)[1].Get(), &armed, 1);
  } while (n < 0 && errno == EINTR);
  if (n == 1) {
    if (auto s = WriteIdMapsFromParent(pid, plan.id_map); !s) return tl::unexpected(s.error());
    char go = 1;
    if (write((*sync)[1].Get(), &go, 1) != 1)
      return Fail(Step::kIdMap, "release the child", "sync channel");
  }
  out.id_map_ns = MonotonicNs() - start;
  if (n == 1 && (plan.clone_flags & CLONE_NEWNET)) {
    if (auto s = HandOverNetwork(plan, pidfd, (*sync)[1].Get()); !s)
      return tl::unexpected(s.error());
  }
  out.report_r = std::move((*report)[0]);
  if (warm) out.sync = std::move((*sync)[1]);
  return out;
}

}  // namespace gaol
