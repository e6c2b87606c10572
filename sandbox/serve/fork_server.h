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
#include <vector>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"
#include "sandbox/run.h"

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

// One of the pool's sandboxes, handed over to the server (builder > 0), or why there was none
// (`reason`: empty, failed, off).
struct PoolSandbox {
  pid_t builder = -1;
  WarmHandover handover;
  std::vector<UniqueFd> fds;  // in kHandoverFds order
  std::string reason;
  unsigned depth = 0;  // the pool's sandboxes left waiting
};

// The server's side. Launch and Take may be called from any thread; one at a time.
class ForkServer {
 public:
  // `exe` is run as `exe --fork-server-fd 3` (spawned, so it can be restarted from a threaded
  // process).
  // `pool`, `shape`: as ForkServerMain's (the shape passes in a memfd at its start).
  // The soft open-file limit at construction is the one every fork server starts with (the
  // server may raise its own afterwards).
  explicit ForkServer(std::string exe, unsigned pool = 0, std::string shape = {});
  ~ForkServer() { Stop(); }

  Status Start();
  Result<Runner> Launch(int request_fd, int result_w, int cancel_r);
  // The oldest of the pool's sandboxes (the server runs its job itself, AdoptWarmSandbox), or
  // none and why.
  Result<PoolSandbox> Take();
  unsigned Pool() const { return pool_; }
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
  std::uint64_t nofile_ = 0;
  mutable std::mutex mu_;
  std::uint64_t seq_ = 0;
  UniqueFd sock_, pidfd_;
  // Read by /healthz without the lock: the pid is set before the restart count moves.
  std::atomic<pid_t> pid_{-1};
  std::atomic<unsigned> restarts_{0};
};

}  // namespace gaol::serve
