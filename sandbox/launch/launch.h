// The parent side of the launch: clone3 into the new namespaces, write the ID maps, release the
// child. Only this module forks.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <array>
#include <utility>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"
#include "sandbox/plan/plan.h"

namespace gaol {

// Owns the sandbox's PID 1 through its pidfd: kills and reaps it unless released.
class OwnedChild {
 public:
  OwnedChild() = default;
  // `adopted`: another process's child (a sandbox handed over, WarmHandover): waited for on its
  // pidfd, its status and rusage unknown (its parent reaps it).
  OwnedChild(pid_t pid, UniqueFd pidfd, bool adopted = false)
      : pid_(pid), pidfd_(std::move(pidfd)), adopted_(adopted) {}
  OwnedChild(OwnedChild&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)),
        pidfd_(std::move(other.pidfd_)),
        adopted_(other.adopted_) {}
  OwnedChild& operator=(OwnedChild&& other) noexcept {
    if (this != &other) {
      KillAndReap();
      pid_ = std::exchange(other.pid_, -1);
      pidfd_ = std::move(other.pidfd_);
      adopted_ = other.adopted_;
    }
    return *this;
  }
  ~OwnedChild() { KillAndReap(); }

  pid_t Pid() const { return pid_; }
  bool Adopted() const { return adopted_; }
  int PidFd() const { return pidfd_.Get(); }
  int Signal(int sig) const;
  // wait4 on the exited child; the child is no longer owned afterwards. An adopted one: its end,
  // as killed (SIGKILL), with no rusage.
  Result<int> Reap(struct rusage* usage);
  // Neither killed nor reaped: a PID 1 that reported the job's end and is on its way out, left to
  // whoever reaps this process's children once it exits.
  void Release() {
    pid_ = -1;
    pidfd_.Reset();
  }

 private:
  void KillAndReap();
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  bool adopted_ = false;
};

// Descriptors the job's stdio is made of, in the parent's numbering; the write ends of the pipes
// are closed in the parent by LaunchSandbox.
struct LaunchIo {
  int stdin_fd = -1;
  UniqueFd stdout_w;
  UniqueFd stderr_w;
  // Per plan mount: a bind source the caller opened (O_PATH), or -1 (opened by path in the child).
  std::vector<int> given_sources;
};

struct Launched {
  OwnedChild child;
  UniqueFd report_r;  // ChildReport records; EOF when PID 1 is gone
  UniqueFd sync;      // a zygote's: kZygoteReady comes here, its job's parts go (WarmParts)
  std::uint64_t clone_ns = 0;
  std::uint64_t id_map_ns = 0;
};

// cgroup_fd: the job's leaf (clone3 CLONE_INTO_CGROUP), or -1. `warm`: a zygote, whose PID 1
// waits for its job's parts on Launched::sync once the sandbox is built.
Result<Launched> LaunchSandbox(const Plan& plan, LaunchIo io, int cgroup_fd = -1,
                               bool warm = false);

// The single-ID case writes /proc/PID/{setgroups,uid_map,gid_map}; ranges go through the setuid
// helpers newuidmap/newgidmap.
Status WriteIdMapsFromParent(pid_t pid, const IdMapPlan& maps);

}  // namespace gaol
