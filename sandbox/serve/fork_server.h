// The fork server (DESIGN.md, "Process model"): a single-threaded process, started before the
// server has any thread, that forks one runner per job. A child of a multi-threaded process may
// not touch malloc or locks; a child of this one may run the whole launch pipeline. The server
// sends it three descriptors per job over a SOCK_SEQPACKET socket (the request memfd, the result
// pipe's write end, the cancel pipe's read end) and gets the runner's pid and pidfd back.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <mutex>
#include <string>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"

namespace gaol::serve {

// The fork server's own loop, on descriptor `sock`; returns when the server closes it. With
// `pool` > 0 it keeps that many runners waiting, each with a sandbox pre-built for `shape` (a
// runner request, RequestToJson): a job goes to the oldest, and one more is forked after it.
int ForkServerMain(int sock, unsigned pool = 0, std::string shape = {});

struct Runner {
  pid_t pid = -1;
  UniqueFd pidfd;      // may be invalid if the runner was already gone when asked
  bool warm = false;   // a pool runner: its sandbox was built (or being built) before the job
  unsigned depth = 0;  // the pool's runners left waiting, once this one was taken
};

// The server's side. Launch may be called from any thread; one launch at a time.
class ForkServer {
 public:
  // `exe` is run as `exe --fork-server-fd 3` (spawned, so it can be restarted from a threaded
  // process).
  // `pool`, `shape`: as ForkServerMain's (the shape passes in a memfd at its start).
  explicit ForkServer(std::string exe, unsigned pool = 0, std::string shape = {})
      : exe_(std::move(exe)), pool_(pool), shape_(std::move(shape)) {}
  ~ForkServer() { Stop(); }

  Status Start();
  Result<Runner> Launch(int request_fd, int result_w, int cancel_r);
  // After the fork server died: a new one, unless the current one is alive (a Launch that found
  // it dead restarted it already). Runners it forked keep running.
  Status RestartIfDead();
  void Stop();
  pid_t Pid() const { return pid_; }
  int PidFd() const {
    std::lock_guard lock(mu_);
    return pidfd_.Get();
  }
  unsigned Restarts() const { return restarts_; }

 private:
  Status StartLocked();
  Status RestartLocked();
  bool AliveLocked() const;
  std::string exe_;
  unsigned pool_ = 0;
  std::string shape_;
  mutable std::mutex mu_;
  UniqueFd sock_, pidfd_;
  // Read by /healthz without the lock: the pid is set before the restart count moves.
  std::atomic<pid_t> pid_{-1};
  std::atomic<unsigned> restarts_{0};
};

}  // namespace gaol::serve
