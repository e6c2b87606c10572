// gaol-attack: one mode per escape class (see attack.h). Linked statically: the sandbox root may
// hold no libraries.
//
// Exit codes: 0 contained, 1 breached, 2 bad command line, 3 unexpected failure.
#include "tests/escape/attack.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

namespace gaol::attack {
namespace {

constexpr const char* kUsage =
    "usage: gaol-attack MODE [ARGS]; modes: tiocsti | tiocsti64 | procfs HOST_PID | fds SECRET | "
    "stdio | dotdot | chroot | handle | ptrace HOST_PID | userns | mount | keyctl | io_uring | "
    "i386 | x32 "
    "| perf | bpf | kill HOST_PID | tcp PORT | abstract NAME | setuid | sysfs | cgroup";

struct Mode {
  std::string_view name;
  size_t args;
  int (*run)(Args args);
};

constexpr std::array kModes = {
    Mode{"tiocsti", 0, RunTiocsti},  Mode{"tiocsti64", 0, RunTiocsti64},
    Mode{"procfs", 1, RunProcfs},    Mode{"fds", 1, RunFds},
    Mode{"dotdot", 0, RunDotdot},    Mode{"chroot", 0, RunChroot},
    Mode{"stdio", 0, RunStdio},      Mode{"handle", 0, RunHandle},
    Mode{"ptrace", 1, RunPtrace},    Mode{"userns", 0, RunUserns},
    Mode{"mount", 0, RunMount},      Mode{"keyctl", 0, RunKeyctl},
    Mode{"io_uring", 0, RunIoUring}, Mode{"i386", 0, RunI386},
    Mode{"x32", 0, RunX32},          Mode{"perf", 0, RunPerf},
    Mode{"bpf", 0, RunBpf},          Mode{"kill", 1, RunKill},
    Mode{"tcp", 1, RunTcp},          Mode{"abstract", 1, RunAbstract},
    Mode{"setuid", 0, RunSetuid},    Mode{"sysfs", 0, RunSysfs},
    Mode{"cgroup", 0, RunCgroup},
};

void WriteLine(const nlohmann::json& j) {
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int Dispatch(int argc, char** argv) {
  if (argc < 2) throw UsageError("missing mode");
  std::string_view name = argv[1];
  Args args(argv + 2, static_cast<size_t>(argc - 2));
  for (const Mode& mode : kModes) {
    if (mode.name != name) continue;
    if (args.size() != mode.args) throw UsageError("wrong argument count for " + std::string(name));
    return mode.run(args);
  }
  throw UsageError("unknown mode '" + std::string(name) + "'");
}

}  // namespace

void Outcome::Tried(std::string_view what, SysResult result) {
  if (result.value < 0) {
    Note(std::string(what) + ": " + ErrnoName(result.err));
  } else {
    Breach(std::string(what) + ": succeeded (" + std::to_string(result.value) + ")");
  }
}

void Outcome::Breach(std::string_view what) {
  contained_ = false;
  Note(std::string("BREACH ") + std::string(what));
}

void Outcome::Note(std::string_view what) {
  if (!detail_.empty()) detail_ += "; ";
  detail_ += what;
}

int Outcome::Emit() const {
  WriteLine({{"class", class_}, {"contained", contained_}, {"detail", detail_}});
  return contained_ ? 0 : 1;
}

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "errno_" + std::to_string(err);
}

std::string OkOrErrno(SysResult result) { return result.value < 0 ? ErrnoName(result.err) : "ok"; }

long ParseNumber(std::string_view arg) {
  long value = 0;
  const char* end = arg.data() + arg.size();
  auto [ptr, ec] = std::from_chars(arg.data(), end, value);
  if (arg.empty() || ec != std::errc() || ptr != end) {
    throw UsageError("bad number '" + std::string(arg) + "'");
  }
  return value;
}

std::string Identity(const struct stat& st) {
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

bool LeadsOutsideRoot(int dir_fd, std::string* top) {
  struct stat root {
  }, here{};
  int cur = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
  if (stat("/", &root) != 0 || cur < 0 || fstat(cur, &here) != 0) {
    *top = "unknown";
    if (cur >= 0) close(cur);
    return false;
  }
  // `..` of the top of a mount tree, or of this process's root, is the directory itself.
  for (int depth = 0; depth < 4096; ++depth) {
    int parent = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct stat up {};
    if (parent < 0) break;
    if (fstat(parent, &up) != 0) {
      close(parent);
      break;
    }
    close(cur);
    cur = parent;
    bool same = up.st_dev == here.st_dev && up.st_ino == here.st_ino;
    here = up;
    if (same) break;
  }
  close(cur);
  *top = Identity(here);
  return here.st_dev != root.st_dev || here.st_ino != root.st_ino;
}

}  // namespace gaol::attack

int main(int argc, char** argv) {
  try {
    return gaol::attack::Dispatch(argc, argv);
  } catch (const gaol::attack::UsageError& e) {
    gaol::attack::WriteLine({{"error", std::string(gaol::attack::kUsage) + " (" + e.what() + ")"}});
    return 2;
  } catch (const std::exception& e) {
    gaol::attack::WriteLine({{"error", e.what()}});
    return 3;
  }
}
