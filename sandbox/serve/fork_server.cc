#include "sandbox/serve/fork_server.h"

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>

#include "sandbox/common/fd_passing.h"
#include "sandbox/serve/runner.h"

extern char** environ;

namespace gaol::serve {
namespace {

struct Reply {
  pid_t pid;
  int err;
};

}  // namespace

int ForkServerMain(int sock) {
  // Runners are reaped by the kernel: their result travels on the pipe, not in an exit status.
  signal(SIGCHLD, SIG_IGN);
  // The server's SIGTERM drains; it must not reach the fork server or the runners directly.
  signal(SIGTERM, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  for (;;) {
    std::uint64_t seq = 0;
    std::array<int, 3> fds{};
    std::size_t nfds = 0;
    ssize_t n = ReceiveWithFds(sock, &seq, sizeof seq, fds.data(), fds.size(), &nfds);
    if (n <= 0) return 0;  // the server closed its end: done
    Reply reply = {-1, 0};
    if (nfds != 3) {
      reply.err = EBADMSG;
    } else {
      pid_t pid = fork();
      if (pid == 0) {
        close(sock);
        signal(SIGCHLD, SIG_DFL);  // the runner reaps its sandbox with rusage
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        setpgid(0, 0);  // a signal to the server's process group stays out of the jobs
        // The name other launches check before reaping a leaf as an orphan (cgroup.cc).
        prctl(PR_SET_NAME, "gaol-runner");
        _exit(RunnerMain(fds[0], fds[1], fds[2]));
      }
      reply = {pid, pid < 0 ? errno : 0};
    }
    UniqueFd pidfd(reply.pid > 0 ? static_cast<int>(syscall(SYS_pidfd_open, reply.pid, 0)) : -1);
    for (std::size_t i = 0; i < nfds; ++i) close(fds[i]);
    int out = pidfd.Get();
    if (!SendWithFds(sock, &reply, sizeof reply, &out, pidfd ? 1 : 0)) return 0;
  }
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
  // Nothing of the server's (sockets, pipes of other jobs) reaches the fork server.
  posix_spawn_file_actions_addclosefrom_np(&actions, 4);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string fd_arg = "3";
  char* argv[] = {exe_.data(), const_cast<char*>("--fork-server-fd"), fd_arg.data(), nullptr};
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
  static std::uint64_t seq = 0;
  ++seq;
  int fds[3] = {request_fd, result_w, cancel_r};
  bool sent = sock_ && SendWithFds(sock_.Get(), &seq, sizeof seq, fds, 3);
  if (!sent && !AliveLocked()) {
    // It died before this job reached it: the job is not its, so it goes to a new one.
    if (auto s = RestartLocked(); !s) return tl::unexpected(s.error());
    sent = SendWithFds(sock_.Get(), &seq, sizeof seq, fds, 3);
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
  if (nfds > 0) runner.pidfd.Reset(got[0]);
  for (std::size_t i = 1; i < nfds; ++i) close(got[i]);
  return runner;
}

bool ForkServer::AliveLocked() const {
  pollfd p = {pidfd_.Get(), POLLIN, 0};
  return pidfd_ && poll(&p, 1, 0) == 0;  // a pidfd turns readable when its process exits
}

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
    // The server's SIGCHLD may be ignored (auto-reaped): wait on the pidfd, bounded.
    pollfd p = {pidfd_.Get(), POLLIN, 0};
    if (pidfd_) poll(&p, 1, 2000);
    waitpid(pid_, nullptr, WNOHANG);
  }
  pidfd_.Reset();
  pid_ = -1;
}

}  // namespace gaol::serve
