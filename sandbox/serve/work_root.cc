#include "sandbox/serve/work_root.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "sandbox/io/remove_tree.h"

namespace gaol::serve {
namespace {

// Roots of dead servers: `gaol-serve-*` directories of this uid whose lock nobody holds.
int ReapStale(int work_dir) {
  std::vector<std::string> stale;
  int copy = fcntl(work_dir, F_DUPFD_CLOEXEC, 0);
  DIR* d = copy >= 0 ? fdopendir(copy) : nullptr;
  if (!d) {
    if (copy >= 0) close(copy);
    return 0;
  }
  while (dirent* e = readdir(d)) {
    if (std::strncmp(e->d_name, "gaol-serve-", 11) != 0) continue;
    struct stat st = {};
    if (fstatat(work_dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid()) {
      continue;
    }
    std::string lock = std::string(e->d_name) + "/" + kWorkRootLock;
    // Without a lock file the root is some other program's, or one being made: left alone.
    UniqueFd fd(openat(work_dir, lock.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd && flock(fd.Get(), LOCK_EX | LOCK_NB) == 0) stale.push_back(e->d_name);
  }
  closedir(d);
  int reaped = 0;
  for (const auto& name : stale) reaped += io::RemoveTreeAt(work_dir, name) ? 1 : 0;
  return reaped;
}

}  // namespace

Result<WorkRoot> WorkRoot::Create(const std::string& work_dir, int* reaped) {
  // Readable, not O_PATH: its entries are listed.
  UniqueFd dir(open(work_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return Fail(Step::kValidate, "open --work-dir", work_dir);
  int n = ReapStale(dir.Get());
  if (reaped) *reaped = n;
  WorkRoot root;
  root.work_dir_ = work_dir;
  root.path_ = work_dir + "/gaol-serve-XXXXXX";
  if (!mkdtemp(root.path_.data())) return Fail(Step::kValidate, "mkdtemp in --work-dir", work_dir);
  root.name_ = root.path_.substr(work_dir.size() + 1);
  // Locked under another name, then renamed: a starting server that finds the lock file finds it
  // held, never in the moment between its creation and its flock.
  std::string lock = root.path_ + "/" + kWorkRootLock;
  std::string making = lock + ".new";
  root.lock_.Reset(open(making.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!root.lock_ || flock(root.lock_.Get(), LOCK_EX | LOCK_NB) != 0 ||
      rename(making.c_str(), lock.c_str()) != 0) {
    int err = errno;
    unlink(making.c_str());
    rmdir(root.path_.c_str());
    return Fail(Step::kValidate, "lock", lock, err);
  }
  return root;
}

WorkRoot::~WorkRoot() {
  if (path_.empty()) return;
  UniqueFd dir(open(work_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (dir) io::RemoveTreeAt(dir.Get(), name_);
}

}  // namespace gaol::serve
