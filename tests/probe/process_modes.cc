// Process and signal modes: exit, crash, abort, sleep, orphan, sigterm, tiocsti, fork.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "tests/probe/probe.h"

namespace gaol::probe {
namespace {

constexpr double kOrphanLifetime = 0.05;
constexpr double kOrphanPollFor = 2.0;
constexpr double kOrphanPollEvery = 0.01;
constexpr double kSigtermWait = 30.0;
constexpr double kForkChildSleep = 2.0;

volatile sig_atomic_t got_sigterm = 0;

void OnSigterm(int /*sig*/) { got_sigterm = 1; }

void UnblockSignal(int sig) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

// The orphan's middle process: forks the grandchild, sends its pid (or -errno) up the pipe and
// exits at once. Never returns, never throws.
[[noreturn]] void OrphanMiddle(int write_fd) {
  pid_t grandchild = fork();
  if (grandchild == 0) {
    close(write_fd);
    SleepFor(kOrphanLifetime);
    _exit(0);
  }
  pid_t message = grandchild < 0 ? -errno : grandchild;
  ssize_t n = write(write_fd, &message, sizeof(message));
  _exit(n == sizeof(message) && grandchild > 0 ? 0 : 1);
}

// Forks the middle process, waits for it and returns the now-orphaned grandchild's pid.
pid_t SpawnOrphan() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) FailErrno("pipe2");
  pid_t middle = fork();
  if (middle < 0) FailErrno("fork");
  if (middle == 0) {
    close(fds[0]);
    OrphanMiddle(fds[1]);
  }
  close(fds[1]);
  int status = 0;
  if (WaitFor(middle, &status, 0) < 0) FailErrno("waitpid");
  pid_t grandchild = 0;
  ssize_t n;
  do {
    n = read(fds[0], &grandchild, sizeof(grandchild));
  } while (n < 0 && errno == EINTR);
  close(fds[0]);
  if (n != sizeof(grandchild)) throw ProbeError("orphan: no pid from the middle process");
  if (grandchild < 0) {
    errno = -grandchild;
    FailErrno("fork (grandchild)");
  }
  return grandchild;
}

// The state letter from /proc/<pid>/stat; *gone is set when the entry no longer exists.
std::optional<char> ProcState(pid_t pid, bool* gone) {
  int err = 0;
  auto text = ReadFile("/proc/" + std::to_string(pid) + "/stat", &err);
  *gone = !text && (err == ENOENT || err == ESRCH);
  if (!text) return std::nullopt;
  size_t paren = text->rfind(')');
  if (paren == std::string::npos || paren + 2 >= text->size()) return std::nullopt;
  return (*text)[paren + 2];
}

}  // namespace

int RunExit(Args args) {
  int code = ParseExitCode(args[0]);
  Emit({{"mode", "exit"}, {"code", code}});
  return code;
}

int RunCrash(Args /*args*/) {
  Emit({{"mode", "crash"}});
  signal(SIGSEGV, SIG_DFL);
  UnblockSignal(SIGSEGV);
  int* volatile target = nullptr;  // volatile: the compiler cannot prove it null and trap instead.
  *target = 1;
  raise(SIGSEGV);
  return 1;
}

int RunAbort(Args /*args*/) {
  Emit({{"mode", "abort"}});
  abort();
}

int RunSleep(Args args) {
  double seconds = ParseSeconds(args[0]);
  Emit({{"mode", "sleep"}});
  SleepFor(seconds);
  return 0;
}

int RunOrphan(Args /*args*/) {
  pid_t orphan = SpawnOrphan();
  Json state_seen = nullptr;
  bool reaped = false;
  double deadline = MonotonicNow() + kOrphanPollFor;
  for (;;) {
    // If the probe is itself PID 1 of its namespace, the orphan is its to reap.
    if (getpid() == 1) WaitFor(-1, nullptr, WNOHANG);
    bool gone = false;
    auto state = ProcState(orphan, &gone);
    if (state) state_seen = std::string(1, *state);
    if (gone) {
      reaped = true;
      break;
    }
    if (MonotonicNow() >= deadline) break;
    SleepFor(kOrphanPollEvery);
  }
  Emit({{"orphan_pid", orphan}, {"reaped", reaped}, {"state_seen", state_seen}});
  return 0;
}

int RunSigterm(Args /*args*/) {
  sigset_t term, original;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  // Blocked until ppoll, so a SIGTERM sent right after "ready" is not lost between checks.
  if (sigprocmask(SIG_BLOCK, &term, &original) != 0) FailErrno("sigprocmask");
  struct sigaction action {};
  action.sa_handler = OnSigterm;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGTERM, &action, nullptr) != 0) FailErrno("sigaction");
  sigset_t waiting = original;
  sigdelset(&waiting, SIGTERM);
  Emit({{"mode", "sigterm"}, {"ready", true}});
  double deadline = MonotonicNow() + kSigtermWait;
  while (got_sigterm == 0) {
    double left = deadline - MonotonicNow();
    if (left <= 0) return 1;
    double whole = std::floor(left);
    timespec timeout{static_cast<time_t>(whole), static_cast<long>((left - whole) * 1e9)};
    ppoll(nullptr, 0, &timeout, &waiting);
  }
  Emit({{"got", "SIGTERM"}});
  return 42;
}

int RunTiocsti(Args /*args*/) {
  Json results = Json::array();
  auto attempt = [&](const std::string& target, int fd) {
    char c = 'x';
    int err = ioctl(fd, TIOCSTI, &c) == 0 ? 0 : errno;
    results.push_back({{"target", target}, {"ok", err == 0}, {"errno", ErrnoOrNull(err)}});
  };
  for (int fd = 0; fd <= 2; ++fd) attempt("fd" + std::to_string(fd), fd);
  int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (tty < 0) {
    results.push_back({{"target", "tty"}, {"ok", false}, {"errno", ErrnoName(errno)}});
  } else {
    attempt("tty", tty);
    close(tty);
  }
  Emit({{"results", results}});
  return 0;
}

int RunFork(Args args) {
  uint64_t wanted = ParseCount(args[0]);
  std::vector<pid_t> children;
  int err = 0;
  for (uint64_t i = 0; i < wanted; ++i) {
    pid_t pid = fork();
    if (pid < 0) {
      err = errno;
      break;
    }
    if (pid == 0) {
      SleepFor(kForkChildSleep);
      _exit(0);
    }
    children.push_back(pid);
  }
  Emit({{"forked", children.size()}, {"errno", ErrnoOrNull(err)}});
  for (pid_t pid : children) kill(pid, SIGKILL);
  for (pid_t pid : children) WaitFor(pid, nullptr, 0);
  return 0;
}

int RunHog(Args args) {
  // Allocates and touches BYTES in 1 MiB steps (what a memory limit must stop), then holds them
  // for HOLD seconds when given.
  uint64_t wanted = ParseCount(args[0]);
  constexpr uint64_t kStep = 1 << 20;
  uint64_t got = 0;
  int err = 0;
  while (got < wanted) {
    void* p = mmap(nullptr, kStep, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      err = errno;
      break;
    }
    std::memset(p, 0x5a, kStep);
    got += kStep;
  }
  Emit({{"allocated", got}, {"ok", got >= wanted}, {"errno", ErrnoOrNull(err)}});
  if (args.size() > 1) {  // hold it, so that several hogs overlap
    double hold = ParseSeconds(args[1]);
    timespec ts = {
        static_cast<time_t>(hold),
        static_cast<long>((hold - static_cast<double>(static_cast<time_t>(hold))) * 1e9)};
    nanosleep(&ts, nullptr);
  }
  return 0;
}

int RunSpin(Args args) {
  // Burns CPU until SECONDS of its own CPU time have passed (or it is killed).
  double seconds = ParseSeconds(args[0]);
  Emit({{"mode", "spin"}});
  timespec ts;
  volatile uint64_t n = 0;
  do {
    for (int i = 0; i < 100000; ++i) n = n + 1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  } while (static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9 < seconds);
  return 0;
}

}  // namespace gaol::probe
