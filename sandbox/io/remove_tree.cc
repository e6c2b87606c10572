#include "sandbox/io/remove_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "sandbox/common/unique_fd.h"

namespace gaol::io {
namespace {

UniqueFd OpenDir(int parent, const char* name) {
  int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd dir(openat(parent, name, flags));
  if (!dir && errno == EACCES) {
    // A job may leave a directory 000: its owner may still change that.
    fchmodat(parent, name, 0700, 0);
    dir.Reset(openat(parent, name, flags));
  }
  return dir;
}

// The first entry of `dir` other than . and .., with whether it is a directory; false when empty.
bool FirstEntry(int dir, std::string* name, bool* is_dir) {
  int copy = fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return false;
  DIR* d = fdopendir(copy);
  if (!d) {
    close(copy);
    return false;
  }
  rewinddir(d);
  bool found = false;
  while (dirent* e = readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    *name = e->d_name;
    struct stat st = {};
    *is_dir = e->d_type == DT_DIR ||
              (e->d_type == DT_UNKNOWN && fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISDIR(st.st_mode));
    found = true;
    break;
  }
  closedir(d);
  return found;
}

}  // namespace

bool RemoveTreeAt(int parent, const std::string& name) {
  // The path from `parent` down, as names and the identity of each directory: going back up by
  // `..` is checked against it (nothing runs in the tree any more, but a check costs nothing).
  struct Level {
    std::string name;
    dev_t dev;
    ino_t ino;
  };
  std::vector<Level> path;
  UniqueFd top(fcntl(parent, F_DUPFD_CLOEXEC, 0));
  if (!top) return false;
  UniqueFd cur = OpenDir(parent, name.c_str());
  if (!cur) return unlinkat(parent, name.c_str(), 0) == 0 || errno == ENOENT;
  struct stat st = {};
  fstat(top.Get(), &st);
  path.push_back({name, st.st_dev, st.st_ino});  // the identity of the level's parent
  bool ok = true;
  std::string entry;
  while (!path.empty()) {
    fchmod(cur.Get(), 0700);
    bool is_dir = false;
    if (FirstEntry(cur.Get(), &entry, &is_dir)) {
      if (is_dir) {
        UniqueFd child = OpenDir(cur.Get(), entry.c_str());
        if (child) {
          fstat(cur.Get(), &st);
          path.push_back({entry, st.st_dev, st.st_ino});
          cur = std::move(child);
          continue;
        }
      }
      if (unlinkat(cur.Get(), entry.c_str(), is_dir ? AT_REMOVEDIR : 0) != 0) {
        // Cannot go: give up on this directory rather than loop on the same entry.
        ok = false;
      } else {
        continue;
      }
    }
    // Empty (or stuck): up one level, and remove it there.
    Level level = path.back();
    path.pop_back();
    UniqueFd up(path.empty() ? fcntl(top.Get(), F_DUPFD_CLOEXEC, 0)
                             : openat(cur.Get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!up || fstat(up.Get(), &st) != 0 || st.st_dev != level.dev || st.st_ino != level.ino) {
      return false;
    }
    cur = std::move(up);
    if (unlinkat(cur.Get(), level.name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      ok = false;
      // A directory that cannot go would be found again as the first entry: stop here.
      return false;
    }
  }
  return ok;
}

}  // namespace gaol::io
