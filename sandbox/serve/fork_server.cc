#include "sandbox/serve/fork_server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "sandbox/common/fd_passing.h"
#include "sandbox/common/pidfd.h"
#include "sandbox/launch/child_report.h"
#include "sandbox/run.h"
#include "sandbox/serve/runner.h"

extern char** environ;

namespace gaol::serve {
namespace {

// What the server asks: a runner for a job (kLaunch, with its three descriptors), or one of the
// pool's sandboxes (kTake).
enum AskKind : std::uint32_t { kLaunch = 0, kTake = 1 };
struct Ask {
  std::uint64_t seq = 0;
  std::uint32_t kind = kLaunch;
  std::uint32_t pad = 0;
};

struct Reply {
  pid_t pid;
  int err;
  unsigned warm;
  unsigned depth;
};

// kTake's answer: a sandbox (pid > 0: its builder's, with the handover's descriptors), or none
// and why (`reason`: empty, failed, off).
struct TakeReply {
  Reply head;
  char reason[16];
  WarmHandover handover;
};

// A pool runner: its end of their socket, where word of its build comes (with the sandbox's
// handover), and where 't' goes when the server takes the sandbox.
struct PoolRunner {
  pid_t pid = -1;
  UniqueFd pidfd, sock;
  bool ready = false;  // handed over: `handover` and `fds` hold its sandbox
  WarmHandover handover;
  std::vector<UniqueFd> fds;
};

// Failed builds in a row after which the pool is turned off: a shape that cannot be pre-built
// here (a cgroup leaf per job, say) costs three lines on stderr, not one per job.
constexpr int kPoolFailures = 3;

// How long a job waits for a sandbox still being built before it starts cold (a build takes a
// few ms; the fork server serves no one else meanwhile).
constexpr std::uint64_t kBuildWaitMs = 250;

// The runner's side of the fork: what a forked runner is before it runs anything of a job.
void BecomeRunner() {
  signal(SIGCHLD, SIG_DFL);  // the runner reaps its sandbox with rusage
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  setpgid(0, 0);  // a signal to the server's process group stays out of the jobs
  // The name other launches check before reaping a leaf as an orphan (cgroup.cc).
  prctl(PR_SET_NAME, "gaol-runner");
}

// A new pool runner: it builds its sandbox at once and then waits for a job.
std::optional<PoolRunner> ForkPoolRunner(const std::string& shape) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return std::nullopt;
  UniqueFd ours(pair[0]), theirs(pair[1]);
  pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    // Nothing of the fork server's (the other pool runners' sockets, the running ones' pidfds)
    // stays with this runner: each runner's socket must hang up when the fork server drops it.
    int keep = theirs.Get();
    if (keep != 3 && dup2(keep, 3) < 0) _exit(1);
    close_range(4, ~0U, 0);
    BecomeRunner();
    _exit(PoolRunnerMain(3, shape));
  }
  PoolRunner runner;
  runner.pid = pid;
  runner.pidfd.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  runner.sock = std::move(ours);
  return runner;
}

}  // namespace

int ForkServerMain(int sock, unsigned pool, std::string shape) {
  // Runners are reaped by the kernel: their result travels on the pipe, not in an exit status.
  signal(SIGCHLD, SIG_IGN);
  // The server's SIGTERM drains; it must not reach the fork server or the runners directly.
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  // Closing a pool runner's socket (the server gone) ends it and its unused sandbox.
  std::deque<PoolRunner> waiting;
  // The runners given a job, by pidfd: a sandbox is built for the pool only when one of them
  // ends (or none runs), so that a build never competes with a running job for the CPU it came
  // in on (measured, one client, 30 ms apart: 3.9 ms a request against 5.4 ms with the build
  // started at the hand-over).
  std::vector<UniqueFd> running;
  auto refill = [&] {
    while (waiting.size() < pool) {
      auto runner = ForkPoolRunner(shape);
      if (!runner) break;
      waiting.push_back(std::move(*runner));
    }
  };
  int failures = 0;
  auto count_failure = [&] {
    if (++failures == kPoolFailures) {
      std::fprintf(stderr,
                   "gaol serve: %d pre-built sandboxes in a row failed or died before a job: no "
                   "more, every job starts cold\n",
                   kPoolFailures);
      pool = 0;
    }
  };
  // A waiting runner's word of its build (read when its socket is readable, or waited for): a
  // failure drops it (closing its socket ends it).
  auto heard = [&](std::size_t k) {
    PoolRunner& runner = waiting[k];
    if (runner.ready) {
      // Nothing more is said by a runner that handed its sandbox over: this is its end (its PID 1
      // died before a job came), a failure like a failed build.
      waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(k));
      count_failure();
      return true;
    }
    char said[1 + sizeof(WarmHandover)];
    int fds[kHandoverFds] = {-1, -1, -1, -1, -1};
    std::size_t nfds = 0;
    ssize_t got;
    got = ReceiveWithFds(runner.sock.Get(), said, sizeof said, fds, kHandoverFds, &nfds);
    std::vector<UniqueFd> owned;
    for (std::size_t i = 0; i < nfds; ++i) owned.emplace_back(fds[i]);
    if (got == static_cast<ssize_t>(sizeof said) && said[0] == 'k' && nfds >= kHandoverFds - 1) {
      failures = 0;
      std::memcpy(&runner.handover, said + 1, sizeof runner.handover);
      runner.fds = std::move(owned);
      runner.ready = true;
      return false;
    }
    // A failed build; or no word at all (EOF): the runner died before it had a job (killed,
    // or its build crashed). Both count, so that a build that always fails cannot make the
    // fork server fork for ever; a successful one ('k') resets the count.
    if (got > 0 && failures < kPoolFailures) {
      std::fprintf(stderr, "gaol serve: the pool's sandbox was not built: %.*s\n",
                   static_cast<int>(got - 1), said + 1);
    }
    count_failure();
    waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(k));
    return true;
  };
  for (;;) {
    if (running.empty()) refill();
    std::vector<pollfd> polled = {{sock, POLLIN, 0}};
    for (const UniqueFd& r : running) polled.push_back({r.Get(), POLLIN, 0});
    for (const PoolRunner& w : waiting) polled.push_back({w.sock.Get(), POLLIN, 0});
    if (poll(polled.data(), polled.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    bool ended = false;
    for (std::size_t i = polled.size(); i-- > 1 + running.size();) {
      if (polled[i].revents != 0 && heard(i - 1 - running.size())) ended = true;
    }
    for (std::size_t i = 1 + running.size(); i-- > 1;) {
      if (polled[i].revents == 0) continue;
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(i - 1));
      ended = true;
    }
    if (ended) refill();
    if (polled[0].revents == 0) continue;
    Ask ask;
    std::array<int, 3> fds{};
    std::size_t nfds = 0;
    ssize_t n = ReceiveWithFds(sock, &ask, sizeof ask, fds.data(), fds.size(), &nfds);
    if (n <= 0) {
      // The server closed its end: the waiting runners are told (their sockets hang up) and,
      // like the running ones, waited for (bounded), so that the server ends after its sandboxes.
      std::vector<UniqueFd> ending = std::move(running);
      for (PoolRunner& w : waiting) ending.push_back(std::move(w.pidfd));
      waiting.clear();
      auto deadline = MonotonicNs() + 5'000'000'000ULL;
      for (const UniqueFd& r : ending) {
        pollfd p = {r.Get(), POLLIN, 0};
        auto now = MonotonicNs();
        if (r && now < deadline) poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000));
      }
      return 0;
    }
    if (n == static_cast<ssize_t>(sizeof ask) && ask.kind == kTake) {
      for (std::size_t i = 0; i < nfds; ++i) close(fds[i]);
      // The oldest live pool runner's sandbox (one still building is waited for: sooner than a
      // cold start). A runner that died, or whose build failed, is dropped, and the next tried.
      TakeReply reply = {};
      reply.head = {-1, 0, 0, 0};
      const char* reason = pool > 0 ? "empty" : "off";
      std::optional<PoolRunner> taken;
      // The oldest sandbox ready (a runner whose PID 1 died meanwhile is dropped, a failure);
      // else the oldest still building, waited for within kBuildWaitMs in all: every job and
      // every cold start waits behind this one.
      auto deadline = MonotonicNs() + kBuildWaitMs * 1'000'000ULL;
      while (!waiting.empty() && !taken) {
        auto ready = std::find_if(waiting.begin(), waiting.end(),
                                  [](const PoolRunner& r) { return r.ready; });
        if (ready != waiting.end()) {
          PoolRunner runner = std::move(*ready);
          waiting.erase(ready);
          if (ProcessExited(runner.pidfd.Get()) || ProcessExited(runner.fds[0].Get())) {
            count_failure();
            reason = pool > 0 ? "failed" : "off";
            continue;
          }
          taken = std::move(runner);
          break;
        }
        auto now = MonotonicNs();
        pollfd p = {waiting.front().sock.Get(), POLLIN, 0};
        if (now >= deadline ||
            poll(&p, 1, static_cast<int>((deadline - now + 999'999) / 1'000'000)) <= 0)
          break;
        if (heard(0)) reason = pool > 0 ? "failed" : "off";
      }
      std::vector<int> out;
      if (taken) {
        reply.head = {taken->pid, 0, 1, 0};
        reply.handover = taken->handover;
        for (const UniqueFd& fd : taken->fds) out.push_back(fd.Get());
      }
      std::snprintf(reply.reason, sizeof reply.reason, "%s", taken ? "" : reason);
      reply.head.depth = static_cast<unsigned>(waiting.size());
      if (taken) {
        // Told before the server has it: once the server has it, the job may run and PID 1 end
        // before this process runs again, and a runner that saw its PID 1 end with no word
        // would take the sandbox for unused and remove its leaf under the server.
        (void)!send(taken->sock.Get(), "t", 1, MSG_NOSIGNAL);
        running.push_back(std::move(taken->pidfd));
      }
      bool replied = SendWithFds(sock, &reply, sizeof reply, out.data(), out.size());
      if (!replied) return 0;
      continue;
    }
    Reply reply = {-1, 0, 0, 0};
    UniqueFd pidfd;
    if (nfds != 3 || n != static_cast<ssize_t>(sizeof ask)) reply.err = EBADMSG;
    if (reply.err == 0) {
      pid_t pid = fork();
      if (pid == 0) {
        close(sock);
        waiting.clear();
        running.clear();
        BecomeRunner();
        _exit(RunnerMain(fds[0], fds[1], fds[2], nullptr, pool > 0 ? "empty" : "off"));
      }
      reply = {pid, pid < 0 ? errno : 0, 0, 0};
      if (pid > 0) {
        pidfd.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
        if (pidfd) running.emplace_back(fcntl(pidfd.Get(), F_DUPFD_CLOEXEC, 0));
      }
    }
    reply.depth = static_cast<unsigned>(waiting.size());
    int out = pidfd.Get();
    bool replied = SendWithFds(sock, &reply, sizeof reply, &out, pidfd ? 1 : 0);
    for (std::size_t i = 0; i < nfds; ++i) close(fds[i]);
    if (!replied) return 0;
  }
}

ForkServer::ForkServer(std::string exe, unsigned pool, std::string shape)
    : exe_(std::move(exe)), pool_(pool), shape_(std::move(shape)) {
  rlimit nofile = {};
  getrlimit(RLIMIT_NOFILE, &nofile);
  nofile_ = nofile.rlim_cur;
}

Status ForkServer::Start() {
  std::lock_guard lock(mu_);
  return StartLocked();
}

Status ForkServer::StartLocked() {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return Fail(Step::kClone, "socketpair", "fork server");
  }
  UniqueFd ours(pair[0]), theirs(pair[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, theirs.Get(), 3);
  // Nothing of the server's (sockets, pipes of other jobs) reaches the fork server (below).
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // The pool's shape, in a memfd at fd 4.
  UniqueFd shape;
  if (pool_ > 0) {
    shape.Reset(static_cast<int>(syscall(SYS_memfd_create, "gaol-shape", MFD_CLOEXEC)));
    if (!shape ||
        write(shape.Get(), shape_.data(), shape_.size()) != static_cast<ssize_t>(shape_.size()))
      return Fail(Step::kClone, "write the pool's shape", "memfd");
    posix_spawn_file_actions_adddup2(&actions, shape.Get(), 4);
    posix_spawn_file_actions_addclosefrom_np(&actions, 5);
  } else {
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  }
  std::string fd_arg = "3", pool_arg = std::to_string(pool_), nofile_arg = std::to_string(nofile_);
  char* argv[] = {exe_.data(),       const_cast<char*>("--fork-server-fd"),
                  fd_arg.data(),     const_cast<char*>("--pool"),
                  pool_arg.data(),   const_cast<char*>("--nofile"),
                  nofile_arg.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe_.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Fail(Step::kClone, "spawn the fork server", exe_, rc);
  pidfd_.Reset(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd_) return Fail(Step::kClone, "pidfd_open", "fork server");
  pid_ = pid;
  sock_ = std::move(ours);
  return {};
}

Result<Runner> ForkServer::Launch(int request_fd, int result_w, int cancel_r) {
  std::lock_guard lock(mu_);
  Ask ask;
  ask.seq = ++seq_;
  int fds[3] = {request_fd, result_w, cancel_r};
  bool sent = sock_ && SendWithFds(sock_.Get(), &ask, sizeof ask, fds, 3);
  if (!sent && !AliveLocked()) {
    // It died before this job reached it: the job is not its, so it goes to a new one.
    if (auto s = RestartLocked(); !s) return tl::unexpected(s.error());
    sent = SendWithFds(sock_.Get(), &ask, sizeof ask, fds, 3);
  }
  if (!sent) return Fail(Step::kClone, "send a job to the fork server", "", errno ? errno : EPIPE);
  Reply reply = {};
  std::array<int, 3> got{};
  std::size_t nfds = 0;
  ssize_t n = ReceiveWithFds(sock_.Get(), &reply, sizeof reply, got.data(), got.size(), &nfds);
  if (n != static_cast<ssize_t>(sizeof reply)) {
    for (std::size_t i = 0; i < nfds; ++i) close(got[i]);
    return Fail(Step::kClone, "the fork server ended while forking the job's runner", "",
                n < 0 ? errno : EPIPE);
  }
  if (reply.pid < 0) return Fail(Step::kClone, "fork the job's runner", "", reply.err);
  Runner runner;
  runner.pid = reply.pid;
  runner.warm = reply.warm != 0;
  runner.depth = reply.depth;
  if (nfds > 0) runner.pidfd.Reset(got[0]);
  for (std::size_t i = 1; i < nfds; ++i) close(got[i]);
  return runner;
}

Result<PoolSandbox> ForkServer::Take() {
  std::lock_guard lock(mu_);
  PoolSandbox out;
  if (pool_ == 0) {
    out.reason = "off";
    return out;
  }
  Ask ask;
  ask.seq = ++seq_;
  ask.kind = kTake;
  bool sent = sock_ && SendWithFds(sock_.Get(), &ask, sizeof ask, nullptr, 0);
  if (!sent && !AliveLocked()) {
    if (auto s = RestartLocked(); !s) return tl::unexpected(s.error());
    sent = SendWithFds(sock_.Get(), &ask, sizeof ask, nullptr, 0);
  }
  if (!sent)
    return Fail(Step::kClone, "ask the fork server for a sandbox", "", errno ? errno : EPIPE);
  auto reply = std::make_unique<TakeReply>();
  std::array<int, kHandoverFds> got{};
  std::size_t nfds = 0;
  ssize_t n =
      ReceiveWithFds(sock_.Get(), reply.get(), sizeof *reply, got.data(), got.size(), &nfds);
  std::vector<UniqueFd> fds;
  for (std::size_t i = 0; i < nfds; ++i) fds.emplace_back(got[i]);
  if (n != static_cast<ssize_t>(sizeof *reply))
    return Fail(Step::kClone, "the fork server ended while handing over a sandbox", "",
                n < 0 ? errno : EPIPE);
  out.depth = reply->head.depth;
  if (reply->head.pid <= 0) {
    reply->reason[sizeof reply->reason - 1] = 0;
    out.reason = reply->reason;
    return out;
  }
  out.builder = reply->head.pid;
  out.handover = reply->handover;
  out.fds = std::move(fds);
  return out;
}

bool ForkServer::AliveLocked() const { return !ProcessExited(pidfd_.Get()); }

Status ForkServer::RestartIfDead() {
  std::lock_guard lock(mu_);
  if (AliveLocked()) return {};
  return RestartLocked();
}

Status ForkServer::RestartLocked() {
  std::fprintf(stderr, "gaol serve: the fork server (pid %d) ended; starting a new one\n",
               pid_.load());
  sock_.Reset();
  if (pid_ > 0) waitpid(pid_, nullptr, WNOHANG);
  auto started = StartLocked();
  if (started) ++restarts_;
  return started;
}

void ForkServer::Stop() {
  std::lock_guard lock(mu_);
  sock_.Reset();  // EOF: the fork server returns
  if (pid_ > 0) {
    // The server's SIGCHLD may be ignored (auto-reaped): wait on the pidfd, bounded (the fork
    // server itself waits up to 5 s for its runners and their sandboxes).
    pollfd p = {pidfd_.Get(), POLLIN, 0};
    if (pidfd_) poll(&p, 1, 6000);
    waitpid(pid_, nullptr, WNOHANG);
  }
  pidfd_.Reset();
  pid_ = -1;
}

}  // namespace gaol::serve
