// Reaching the host: its processes, its network, setuid privilege, and the kernel's and cgroups'
// control files. Control files are only opened for writing, never written: a successful open is
// already the breach, and the host stays untouched even when the attack is run outside gaol.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/escape/attack.h"

namespace gaol::attack {
namespace {

constexpr const char* kSetuidCandidates[] = {"/usr/bin/passwd", "/usr/bin/su", "/usr/bin/mount",
                                             "/usr/bin/newgrp", "/bin/su"};
constexpr int kSetuidWaitMs = 5000;

void TryWriteOpen(Outcome& out, const std::string& path) {
  SysResult fd = Sys(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  out.Tried("open " + path + " for writing", fd);
  if (fd.value >= 0) close(static_cast<int>(fd.value));
}

// Opens each path that exists; counts the others.
void TryWriteOpenExisting(Outcome& out, const std::vector<std::string>& paths) {
  int absent = 0;
  for (const std::string& path : paths) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
      ++absent;
      continue;
    }
    TryWriteOpen(out, path);
  }
  out.Note(std::to_string(absent) + " of " + std::to_string(paths.size()) + " paths absent");
}

void TryConnect(Outcome& out, int domain, const sockaddr* addr, socklen_t len,
                const std::string& what) {
  SysResult fd = Sys(socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.value < 0) {
    out.Tried("socket for " + what, fd);
    return;
  }
  out.Tried("connect " + what, Sys(connect(static_cast<int>(fd.value), addr, len)));
  close(static_cast<int>(fd.value));
}

std::string StatusField(const std::string& status, const std::string& key) {
  std::istringstream lines(status);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

// Waits for the child to exit without reaping it, so its /proc entry keeps the credentials it ran
// with; kills it after kSetuidWaitMs.
void WaitExitedNotReaped(pid_t pid) {
  for (int ms = 0; ms < kSetuidWaitMs; ms += 10) {
    siginfo_t info = {};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT | WNOHANG) == 0 &&
        info.si_pid == pid) {
      return;
    }
    timespec tick = {0, 10'000'000};
    nanosleep(&tick, nullptr);
  }
  kill(pid, SIGKILL);
  siginfo_t info = {};
  waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
}

// Runs a setuid binary with stdio on /dev/null and judges the credentials it ran with. The job's
// euid must differ from the kernel's overflow uid (65534) for an unmapped root to show.
void RunSetuidBinary(Outcome& out, const char* path) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd <= 2; ++fd) dup2(null, fd);
    execl(path, path, static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) {
    int err = errno;
    out.Note(std::string("fork: ") + ErrnoName(err));
    return;
  }
  WaitExitedNotReaped(pid);
  std::stringstream status;
  status << std::ifstream("/proc/" + std::to_string(pid) + "/status").rdbuf();
  waitpid(pid, nullptr, 0);
  std::string name = StatusField(status.str(), "Name");
  std::string uids = StatusField(status.str(), "Uid");
  std::string cap_eff = StatusField(status.str(), "CapEff");
  std::string cap_prm = StatusField(status.str(), "CapPrm");
  std::string base = std::string(path).substr(std::string(path).rfind('/') + 1);
  if (name.find(base) == std::string::npos) {
    out.Note(base + " did not run (" + name + ")");
    return;
  }
  std::istringstream fields(uids);
  long real = -1, effective = -1;
  fields >> real >> effective;
  std::string what = base + " ran with uids" + uids + ", CapEff" + cap_eff + ", CapPrm" + cap_prm;
  bool gained = effective != static_cast<long>(geteuid()) ||
                cap_eff.find_first_not_of("\t 0") != std::string::npos ||
                cap_prm.find_first_not_of("\t 0") != std::string::npos;
  if (gained) {
    out.Breach(what);
  } else {
    out.Note(what);
  }
}

}  // namespace

int RunKill(Args args) {
  long host = ParseNumber(args[0]);
  Outcome out("kill() of a host pid");
  auto pid = static_cast<pid_t>(host);
  out.Tried("kill(" + std::to_string(host) + ", 0)", Sys(kill(pid, 0)));
  out.Tried("kill(" + std::to_string(host) + ", SIGUSR1)", Sys(kill(pid, SIGUSR1)));
  SysResult pidfd = Sys(syscall(SYS_pidfd_open, host, 0));
  out.Tried("pidfd_open(" + std::to_string(host) + ")", pidfd);
  if (pidfd.value >= 0) close(static_cast<int>(pidfd.value));
  return out.Emit();
}

int RunTcp(Args args) {
  long port = ParseNumber(args[0]);
  Outcome out("reaching the network");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  TryConnect(out, AF_INET, reinterpret_cast<sockaddr*>(&addr), sizeof(addr),
             "127.0.0.1:" + std::to_string(port));
  return out.Emit();
}

int RunAbstract(Args args) {
  std::string name(args[0]);
  Outcome out("reaching an abstract Unix socket");
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (name.size() + 1 > sizeof(addr.sun_path)) throw UsageError("abstract name too long");
  memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] == 0: abstract
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  TryConnect(out, AF_UNIX, reinterpret_cast<sockaddr*>(&addr), len, "@" + name);
  return out.Emit();
}

int RunSetuid(Args) {
  Outcome out("setuid binaries gaining privilege");
  out.Note("job euid " + std::to_string(geteuid()));
  int found = 0;
  for (const char* path : kSetuidCandidates) {
    struct stat st {};
    if (stat(path, &st) != 0 || !(st.st_mode & S_ISUID) || found == 2) continue;
    ++found;
    RunSetuidBinary(out, path);
  }
  if (found == 0) out.Note("no setuid binary visible");
  return out.Emit();
}

int RunSysfs(Args) {
  Outcome out("/sys and /proc/sys writes");
  TryWriteOpenExisting(out, {"/proc/sys/kernel/core_pattern", "/proc/sys/kernel/modprobe",
                             "/proc/sys/vm/drop_caches", "/proc/sys/kernel/hostname",
                             "/proc/sys/user/max_user_namespaces", "/proc/sysrq-trigger",
                             "/proc/sys/fs/binfmt_misc/register", "/sys/kernel/uevent_helper",
                             "/sys/power/state", "/sys/kernel/mm/transparent_hugepage/enabled"});
  return out.Emit();
}

int RunCgroup(Args) {
  Outcome out("cgroup file writes from inside");
  // The job's own cgroup as it sees it, under every place a hierarchy is usually mounted.
  std::set<std::string> dirs;
  std::ifstream self("/proc/self/cgroup");
  for (std::string line; std::getline(self, line);) {
    std::string path = line.substr(line.rfind(':') + 1);
    for (const char* base : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory",
                             "/sys/fs/cgroup/pids"}) {
      dirs.insert(base);
      dirs.insert(base + (path == "/" ? "" : path));
    }
  }
  std::vector<std::string> files;
  for (const std::string& dir : dirs) {
    // release_agent: CVE-2022-0492, a v1 hierarchy's helper run as root on the host.
    for (const char* file : {"cgroup.procs", "tasks", "release_agent", "notify_on_release",
                             "cgroup.subtree_control", "memory.max", "pids.max"}) {
      files.push_back(dir + "/" + file);
    }
  }
  TryWriteOpenExisting(out, files);
  return out.Emit();
}

}  // namespace gaol::attack
