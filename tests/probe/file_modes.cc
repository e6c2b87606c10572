// File and output modes: write, read, stat, spew, spew-stderr.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>

#include "tests/probe/probe.h"

namespace gaol::probe {
namespace {

const char* FileTypeName(mode_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return "file";
    case S_IFDIR:
      return "dir";
    case S_IFLNK:
      return "symlink";
    case S_IFCHR:
      return "char";
    case S_IFBLK:
      return "block";
    case S_IFIFO:
      return "fifo";
    case S_IFSOCK:
      return "socket";
    default:
      return "unknown";
  }
}

// Counts the bytes readable from fd up to EOF; returns 0 or the failing errno.
int CountBytes(int fd, uint64_t* bytes) {
  static char buf[kChunkSize];
  *bytes = 0;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return 0;
    *bytes += static_cast<uint64_t>(n);
  }
}

int Spew(Args args, int fd) {
  uint64_t total = ParseCount(args[0]);
  signal(SIGPIPE, SIG_IGN);  // A reader that went away shows up as EPIPE instead.
  uint64_t written = 0;
  int err = WriteRepeated(fd, 'y', total, &written);
  return err == 0 || err == EPIPE ? 0 : 1;
}

}  // namespace

int RunWrite(Args args) {
  std::string path = args[0];
  uint64_t total = args.size() > 1 ? ParseCount(args[1]) : 1;
  // Past RLIMIT_FSIZE the write fails with EFBIG instead of the process dying of SIGXFSZ.
  signal(SIGXFSZ, SIG_IGN);
  uint64_t written = 0;
  int err = 0;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    err = errno;
  } else {
    err = WriteRepeated(fd, 'x', total, &written);
    if (close(fd) != 0 && err == 0) err = errno;
  }
  Emit({{"path", path}, {"ok", err == 0}, {"written", written}, {"errno", ErrnoOrNull(err)}});
  return 0;
}

int RunRead(Args args) {
  std::string path = args[0];
  uint64_t bytes = 0;
  int err = 0;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = errno;
  } else {
    err = CountBytes(fd, &bytes);
    close(fd);
  }
  Emit({{"path", path}, {"ok", err == 0}, {"bytes", bytes}, {"errno", ErrnoOrNull(err)}});
  return 0;
}

int RunStat(Args args) {
  std::string path = args[0];
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    Emit({{"path", path},
          {"exists", false},
          {"type", nullptr},
          {"mode", nullptr},
          {"errno", ErrnoName(errno)}});
    return 0;
  }
  char mode[16];
  snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  Emit({{"path", path},
        {"exists", true},
        {"type", FileTypeName(st.st_mode)},
        {"mode", mode},
        {"errno", nullptr}});
  return 0;
}

int RunSpew(Args args) { return Spew(args, STDOUT_FILENO); }

int RunSpewStderr(Args args) { return Spew(args, STDERR_FILENO); }

}  // namespace gaol::probe
