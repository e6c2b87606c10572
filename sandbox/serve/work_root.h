// gaol serve's directory for job directories: `gaol-serve-XXXXXX` under --work-dir, holding a
// lock file that the server keeps locked (flock) for its lifetime. A server killed by SIGKILL
// leaves its root behind with the lock released; the next server to start in the same --work-dir
// removes every such root (its owner's, whose lock it can take) before making its own.
#pragma once

#include <string>
#include <utility>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"

namespace gaol::serve {

class WorkRoot {
 public:
  // Reaps stale roots in `work_dir`, then makes and locks a new one. `reaped` counts the former.
  static Result<WorkRoot> Create(const std::string& work_dir, int* reaped = nullptr);
  WorkRoot() = default;
  WorkRoot(WorkRoot&& other) noexcept
      : work_dir_(std::move(other.work_dir_)),
        name_(std::move(other.name_)),
        path_(std::exchange(other.path_, {})),
        lock_(std::move(other.lock_)) {}
  WorkRoot& operator=(WorkRoot&&) = delete;
  ~WorkRoot();  // removes the root and everything left in it

  const std::string& Path() const { return path_; }

 private:
  std::string work_dir_, name_, path_;
  UniqueFd lock_;
};

inline constexpr const char* kWorkRootLock = ".gaol-serve.lock";

}  // namespace gaol::serve
