#include "sandbox/io/job_fds.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace gaol::io {

const char* RefusedStdioKind(const struct stat& st, bool is_tty) noexcept {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG:
    case S_IFIFO:
      return nullptr;
    case S_IFCHR:
      // /dev/null is (1, 3) on every Linux; a terminal is whatever isatty says.
      if (is_tty || st.st_rdev == makedev(1, 3)) return nullptr;
      return "a device other than /dev/null or a terminal";
    case S_IFDIR:
      return "a directory";
    case S_IFSOCK:
      return "a socket";
    case S_IFBLK:
      return "a block device";
    default:
      return "neither a file, a pipe nor a terminal";
  }
}

Status CheckJobStdio(int fd, const char* what, const std::string& object) {
  struct stat st = {};
  if (fstat(fd, &st) != 0) return Fail(Step::kOpenIo, fmt::format("fstat {}", what), object);
  // isatty only on a character device: on anything else it is a wasted ioctl.
  const char* refused = RefusedStdioKind(st, S_ISCHR(st.st_mode) && isatty(fd));
  if (refused == nullptr) return {};
  std::string where = object.empty() ? std::string(what) : fmt::format("{} `{}`", what, object);
  return Fail(Step::kOpenIo,
              fmt::format("{} is {}; expected a regular file, a pipe, a terminal or /dev/null",
                          where, refused),
              "", 0);
}

UniqueFd OpenBeneath(int dir, const std::string& path, int flags, mode_t mode, bool symlinks) {
  open_how how = {};
  // openat2 refuses O_NOCTTY beside O_PATH (EINVAL); O_NOFOLLOW would stop at a last symlink.
  int extra = (symlinks ? 0 : O_NOFOLLOW) | (flags & O_PATH ? 0 : O_NOCTTY);
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | extra);
  how.mode = flags & O_CREAT ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (symlinks ? 0 : RESOLVE_NO_SYMLINKS);
  return UniqueFd(static_cast<int>(syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how)));
}

Result<UniqueFd> OpenRegularBeneath(int dir, const std::string& path, int flags, const char* what,
                                    mode_t mode) {
  UniqueFd fd = OpenBeneath(dir, path, flags | O_NONBLOCK, mode);
  if (!fd) return Fail(Step::kOpenIo, fmt::format("open {}", what), path);
  struct stat st = {};
  if (fstat(fd.Get(), &st) != 0) return Fail(Step::kOpenIo, fmt::format("fstat {}", what), path);
  if (!S_ISREG(st.st_mode)) {
    return Fail(Step::kOpenIo, fmt::format("{} `{}` is not a regular file", what, path), "", 0);
  }
  if (fcntl(fd.Get(), F_SETFL, fcntl(fd.Get(), F_GETFL) & ~O_NONBLOCK) != 0)
    return Fail(Step::kOpenIo, fmt::format("fcntl {}", what), path);
  return fd;
}

}  // namespace gaol::io
