#include "sandbox/child/child_rootfs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sandbox/io/seed.h"

namespace gaol {
namespace {

// The new root is assembled on a mount attached here, in our private mount namespace only; every
// bind source was opened before, so whatever this hides on the host stays reachable.
constexpr const char* kStaging = "/tmp";

int OpenInRoot(int root_fd, const char* path, int flags) noexcept {
  open_how how = {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  // Symlinks resolve as if root_fd were "/", so a link planted in a rootfs cannot send a mount
  // to a host path; /proc magic links are refused outright.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  while (*path == '/') ++path;
  if (*path == '\0') path = ".";
  return static_cast<int>(syscall(SYS_openat2, root_fd, path, &how, sizeof(how)));
}

// mkdir -p inside the root; returns an O_PATH fd of the final directory, or -1 with errno.
int MakeDirsInRoot(int root_fd, const char* path) noexcept {
  // Most paths exist already (a parent such as /etc): one call.
  int whole = OpenInRoot(root_fd, path, O_PATH | O_DIRECTORY);
  if (whole >= 0 || errno != ENOENT) return whole;
  char prefix[4096];
  std::size_t len = 0;
  int dir = -1;  // the last directory found; -1 for root_fd itself (not ours to close)
  for (const char* p = path; *p;) {
    while (*p == '/') ++p;
    const char* end = p;
    while (*end && *end != '/') ++end;
    if (end == p) break;
    std::size_t n = static_cast<std::size_t>(end - p);
    if (len + n + 2 >= sizeof(prefix)) {
      if (dir >= 0) close(dir);
      errno = ENAMETOOLONG;
      return -1;
    }
    prefix[len++] = '/';
    std::memcpy(prefix + len, p, n);
    len += n;
    prefix[len] = '\0';
    int next = OpenInRoot(root_fd, prefix, O_PATH | O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
      char name[256];
      std::snprintf(name, sizeof(name), "%.*s", static_cast<int>(n), p);
      // `dir` was resolved in the root; a plain name under it follows no link.
      if (mkdirat(dir < 0 ? root_fd : dir, name, 0755) != 0 && errno != EEXIST) {
        int saved = errno;
        if (dir >= 0) close(dir);
        errno = saved;
        return -1;
      }
      next = OpenInRoot(root_fd, prefix, O_PATH | O_DIRECTORY);
    }
    int saved = errno;
    if (dir >= 0) close(dir);
    errno = saved;
    if (next < 0) return -1;
    dir = next;
    p = end;
  }
  return dir;
}

// The directory the last op made something in (/etc, mostly), kept open for the ops after it
// with the same parent: until the next mount, which could change what its path resolves to.
struct ParentCache {
  char path[4096] = {};
  int fd = -1;
};
ParentCache g_parent;

void ForgetParent() noexcept {
  if (g_parent.fd >= 0) close(g_parent.fd);
  g_parent.fd = -1;
  g_parent.path[0] = '\0';
}

// Splits "/a/b/c" into the parent's fd (created if missing) and "c". The fd is borrowed: valid
// until the next mount or ForgetParent.
int BorrowParent(int root_fd, const char* target, const char** name) noexcept {
  const char* slash = std::strrchr(target, '/');
  *name = slash + 1;
  auto len = static_cast<std::size_t>(slash - target);
  if (len >= sizeof(g_parent.path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  if (g_parent.fd >= 0 && std::strlen(g_parent.path) == len &&
      std::memcmp(g_parent.path, target, len) == 0) {
    return g_parent.fd;
  }
  ForgetParent();
  char parent[sizeof(g_parent.path)];
  std::memcpy(parent, target, len);
  parent[len] = '\0';
  int fd = MakeDirsInRoot(root_fd, parent);
  if (fd < 0) return -1;
  std::memcpy(g_parent.path, parent, len + 1);
  g_parent.fd = fd;
  return fd;
}

// Creates the mount point (a directory or an empty file) and returns an O_PATH fd of it.
int MakeMountPoint(int root_fd, const char* target, bool is_file) noexcept {
  if (!is_file) return MakeDirsInRoot(root_fd, target);
  const char* name;
  int parent = BorrowParent(root_fd, target, &name);
  if (parent < 0) return -1;
  int fd = openat(parent, name, O_CREAT | O_EXCL | O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) close(fd);
  if (fd < 0 && errno != EEXIST) return -1;
  return OpenInRoot(root_fd, target, O_PATH);
}

bool Attach(int mount_fd, int target_fd) noexcept {
  ForgetParent();
  return move_mount(mount_fd, "", target_fd, "",
                    MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0;
}

bool SetAttr(int mount_fd, std::uint64_t attrs, bool recursive) noexcept {
  mount_attr attr = {};
  attr.attr_set = attrs;
  unsigned flags = AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0u);
  return mount_setattr(mount_fd, "", flags, &attr, sizeof(attr)) == 0;
}

std::uint64_t Attrs(const MountOp& op) noexcept {
  std::uint64_t a = MOUNT_ATTR_NOSUID;
  if (op.nodev) a |= MOUNT_ATTR_NODEV;
  if (op.noexec) a |= MOUNT_ATTR_NOEXEC;
  if (op.read_only && op.kind == MountOpKind::kBind) a |= MOUNT_ATTR_RDONLY;
  return a;
}

// A new filesystem instance (tmpfs, proc, devpts) as a detached mount fd.
int NewFs(const char* type, const MountOp& op, std::uint64_t attrs) noexcept {
  int fs = fsopen(type, FSOPEN_CLOEXEC);
  if (fs < 0) return -1;
  char value[32];
  bool ok = true;
  if (op.kind == MountOpKind::kTmpfs) {
    std::snprintf(value, sizeof(value), "%o", op.mode);
    ok = fsconfig(fs, FSCONFIG_SET_STRING, "mode", value, 0) == 0;
    if (ok && op.size_bytes > 0) {
      std::snprintf(value, sizeof(value), "%llu", static_cast<unsigned long long>(op.size_bytes));
      ok = fsconfig(fs, FSCONFIG_SET_STRING, "size", value, 0) == 0;
    }
  } else if (op.kind == MountOpKind::kDevpts) {
    ok = fsconfig(fs, FSCONFIG_SET_FLAG, "newinstance", nullptr, 0) == 0 &&
         fsconfig(fs, FSCONFIG_SET_STRING, "ptmxmode", "0666", 0) == 0 &&
         fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0620", 0) == 0;
  }
  ok = ok && fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0;
  int mnt = ok ? fsmount(fs, FSMOUNT_CLOEXEC, static_cast<unsigned>(attrs)) : -1;
  int saved = errno;
  close(fs);
  errno = saved;
  return mnt;
}

bool WriteFileInRoot(int root_fd, const MountOp& op) noexcept {
  const char* name;
  int parent = BorrowParent(root_fd, op.target.c_str(), &name);
  if (parent < 0) return false;
  int fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, op.mode);
  if (fd < 0) return false;
  const char* data = op.source.data();
  std::size_t left = op.source.size();
  while (left > 0) {
    ssize_t n = write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return left == 0;
}

bool MakeSymlinkInRoot(int root_fd, const MountOp& op) noexcept {
  const char* name;
  int parent = BorrowParent(root_fd, op.target.c_str(), &name);
  if (parent < 0) return false;
  return symlinkat(op.source.c_str(), parent, name) == 0 || errno == EEXIST;
}

// Makes the freshly mounted /proc's sys subtree read-only, as Docker does.
bool SealProcSys(int root_fd, const char* proc_target) noexcept {
  char path[4096];
  std::snprintf(path, sizeof(path), "%s/sys", proc_target);
  int sys = OpenInRoot(root_fd, path, O_PATH | O_DIRECTORY);
  if (sys < 0) return false;
  int tree = open_tree(sys, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  bool ok =
      tree >= 0 &&
      SetAttr(tree, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
              true) &&
      Attach(tree, sys);
  int saved = errno;
  if (tree >= 0) close(tree);
  close(sys);
  errno = saved;
  return ok;
}

// A tmpfs the caller gave a seed for: its files planted before it is attached, then its root
// passed back over the report socket (the caller reads what the job left there through it).
bool Seed(int mnt, int& seed, const MountOp& op, ChildReport& report) noexcept {
  char where[512];
  int err = io::PlantSeed(seed, mnt, where, sizeof where);
  close(seed);
  seed = -1;
  if (err != 0) {
    return ChildFail(report, Step::kMounts, err, "fill tmpfs `%s` (%s): `%s`", op.target.c_str(),
                     op.origin.c_str(), where);
  }
  int root = openat(mnt, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return ChildFail(report, Step::kMounts, errno, "open tmpfs `%s`", op.target.c_str());
  SendDescriptor(report, ChildReport::kSeeded, root);
  close(root);
  return true;
}

bool ApplyMountOp(const Plan& plan, RootfsState& state, std::size_t i,
                  ChildReport& report) noexcept {
  const MountOp& op = plan.mounts[i];
  const char* target = op.target.c_str();
  const char* origin = op.origin.c_str();
  switch (op.kind) {
    case MountOpKind::kSymlink:
      if (!MakeSymlinkInRoot(state.base_fd, op))
        return ChildFail(report, Step::kMounts, errno, "create symlink `%s` (%s)", target, origin);
      return true;
    case MountOpKind::kFile:
      if (!WriteFileInRoot(state.base_fd, op))
        return ChildFail(report, Step::kMounts, errno, "write file `%s` (%s)", target, origin);
      return true;
    case MountOpKind::kDir: {
      int fd = MakeDirsInRoot(state.base_fd, target);
      if (fd < 0)
        return ChildFail(report, Step::kMounts, errno, "create directory `%s` (%s)", target,
                         origin);
      close(fd);
      return true;
    }
    default:
      break;
  }
  int mnt = state.source_fds[i];
  bool is_file = op.is_file;
  if (op.kind == MountOpKind::kBind) {
    struct stat st;
    if (fstat(mnt, &st) == 0) is_file = !S_ISDIR(st.st_mode);
    if (!SetAttr(mnt, Attrs(op), true))
      return ChildFail(report, Step::kMounts, errno, "set mount attributes on `%s` (%s)", target,
                       origin);
  } else if (mnt < 0) {
    const char* type = op.kind == MountOpKind::kTmpfs  ? "tmpfs"
                       : op.kind == MountOpKind::kProc ? "proc"
                                                       : "devpts";
    std::uint64_t attrs = Attrs(op) | (op.kind == MountOpKind::kTmpfs ? 0 : MOUNT_ATTR_NOEXEC);
    mnt = NewFs(type, op, attrs);
    if (mnt < 0)
      return ChildFail(report, Step::kMounts, errno, "mount %s on `%s` (%s)", type, target, origin);
    state.source_fds[i] = mnt;
    if (op.kind == MountOpKind::kTmpfs && state.given_fds && state.given_fds[i] >= 0 &&
        !Seed(mnt, state.given_fds[i], op, report)) {
      return false;
    }
  } else if (!SetAttr(mnt, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, true)) {
    return ChildFail(report, Step::kMounts, errno, "set mount attributes on `%s` (%s)", target,
                     origin);
  }
  int point = MakeMountPoint(state.base_fd, target, is_file);
  if (point < 0)
    return ChildFail(report, Step::kMounts, errno, "create mount point `%s` (%s)", target, origin);
  bool ok = Attach(mnt, point);
  int saved = errno;
  close(point);
  if (!ok)
    return ChildFail(report, Step::kMounts, saved, "attach mount on `%s` (%s)", target, origin);
  if (op.kind == MountOpKind::kProc && !SealProcSys(state.base_fd, target)) {
    return ChildFail(report, Step::kMounts, errno, "make `%s/sys` read-only", target);
  }
  if (op.kind == MountOpKind::kTmpfs && op.read_only && state.sealed_count < 8) {
    state.sealed_fds[state.sealed_count++] = mnt;
  }
  return true;
}

// Every bind source is opened before the new root hides anything.
bool OpenSources(const Plan& plan, RootfsState& state, ChildReport& report) noexcept {
  constexpr unsigned kClone = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    const MountOp& op = plan.mounts[i];
    state.source_fds[i] = -1;
    const char* source = nullptr;
    if (op.kind == MountOpKind::kBind) source = op.source.c_str();
    // Sharing the caller's pid namespace: its procfs is the only one this user may mount.
    if (op.kind == MountOpKind::kProc && !(plan.clone_flags & CLONE_NEWPID)) source = "/proc";
    if (!source) continue;
    state.source_fds[i] = open_tree(AT_FDCWD, source, kClone);
    int open_errno = errno;
    if (state.given_fds && state.given_fds[i] >= 0) {
      // The caller opened this source beneath what it allowed. open_tree cannot clone from that
      // descriptor (its mount is in the caller's namespace, not this copy: EINVAL), so the path
      // is opened again here and must lead to the very same object, or the launch fails.
      struct stat want = {}, got = {};
      bool same = state.source_fds[i] >= 0 && fstat(state.given_fds[i], &want) == 0 &&
                  fstat(state.source_fds[i], &got) == 0 && want.st_dev == got.st_dev &&
                  want.st_ino == got.st_ino;
      close(state.given_fds[i]);
      state.given_fds[i] = -1;
      if (state.source_fds[i] >= 0 && !same) {
        return ChildFail(report, Step::kMounts, 0,
                         "bind source `%s` for `%s` is no longer what was opened beneath its "
                         "allowed directory (replaced since)",
                         source, op.target.c_str());
      }
    }
    if (state.source_fds[i] < 0) {
      return ChildFail(report, Step::kMounts, open_errno, "open bind source `%s` for `%s` (%s)",
                       source, op.target.c_str(), op.origin.c_str());
    }
  }
  return true;
}

bool MakeBase(const Plan& plan, RootfsState& state, ChildReport& report) noexcept {
  if (plan.rootfs) {
    // Not recursive: mounts beneath the rootfs directory on the host stay out.
    state.base_fd = open_tree(AT_FDCWD, plan.rootfs->c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (state.base_fd < 0)
      return ChildFail(report, Step::kMounts, errno, "open rootfs `%s`", plan.rootfs->c_str());
    if (!SetAttr(state.base_fd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, false)) {
      return ChildFail(report, Step::kMounts, errno, "set mount attributes on rootfs `%s`",
                       plan.rootfs->c_str());
    }
  } else {
    MountOp root = {
        .kind = MountOpKind::kTmpfs, .target = "/", .size_bytes = 1 << 20, .mode = 0755};
    state.base_fd = NewFs("tmpfs", root, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (state.base_fd < 0)
      return ChildFail(report, Step::kMounts, errno, "mount tmpfs for the new root");
  }
  int staging = open(kStaging, O_PATH | O_DIRECTORY | O_CLOEXEC);
  bool ok = staging >= 0 && Attach(state.base_fd, staging);
  int saved = errno;
  if (staging >= 0) close(staging);
  if (!ok) return ChildFail(report, Step::kMounts, saved, "attach the new root at `%s`", kStaging);
  return true;
}

}  // namespace

bool BuildRootInChild(const Plan& plan, RootfsState& state, ChildReport& report) noexcept {
  // Nothing we mount may propagate back to the caller's namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return ChildFail(report, Step::kMounts, errno, "make `/` private (MS_REC|MS_PRIVATE)");
  }
  if (!OpenSources(plan, state, report) || !MakeBase(plan, state, report)) return false;
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    if (!ApplyMountOp(plan, state, i, report)) return false;
  }
  ForgetParent();
  for (int i = 0; i < state.sealed_count; ++i) {
    if (!SetAttr(state.sealed_fds[i], MOUNT_ATTR_RDONLY, false)) {
      return ChildFail(report, Step::kMounts, errno, "make a system tmpfs read-only");
    }
  }
  if (plan.read_only_root && !SetAttr(state.base_fd, MOUNT_ATTR_RDONLY, false)) {
    return ChildFail(report, Step::kMounts, errno, "make the new root read-only");
  }
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    if (state.source_fds[i] >= 0) close(state.source_fds[i]);
  }
  return true;
}

bool EnterRootInChild(const Plan& plan, RootfsState& state, ChildReport& report) noexcept {
  if (fchdir(state.base_fd) != 0)
    return ChildFail(report, Step::kPivotRoot, errno, "chdir into the new root");
  if (plan.chroot) {
    // Weaker: the old root stays mounted in this namespace, reachable to anyone who regains
    // CAP_SYS_CHROOT. The job does not have it after exec (no_new_privs, no file capabilities).
    if (chroot(".") != 0)
      return ChildFail(report, Step::kPivotRoot, errno, "chroot into the new root");
  } else {
    // pivot_root(".", ".") stacks the old root beneath the new one; detaching "." then drops
    // it from this namespace entirely (the trick pivot_root(2) documents).
    if (syscall(SYS_pivot_root, ".", ".") != 0)
      return ChildFail(report, Step::kPivotRoot, errno, "pivot_root into the new root");
    if (umount2(".", MNT_DETACH) != 0)
      return ChildFail(report, Step::kPivotRoot, errno, "detach the old root");
  }
  close(state.base_fd);
  state.base_fd = -1;
  if (chdir("/") != 0) return ChildFail(report, Step::kPivotRoot, errno, "chdir `/`");
  if (chdir(plan.workdir.c_str()) != 0)
    return ChildFail(report, Step::kPivotRoot, errno, "chdir into workdir `%s`",
                     plan.workdir.c_str());
  return true;
}

}  // namespace gaol
