// The escape suite: tests/escape/gaol-attack tries one class of escape per mode inside gaol, under
// the built-in seccomp profiles default and strict. Each case asserts the attack was contained,
// how gaol reported it, that the host side saw nothing, and that nothing was left behind.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/integration/harness.h"

namespace {

using gaol::it::GaolRun;

// How a profile must stop an attack: the attack runs to its end and reports itself contained, or
// the profile kills it at this syscall (reported as seccomp_violation). "*": either, at any call.
struct Expect {
  std::string strict_kills_at;        // under strict; empty: runs to its end
  std::string default_kills_at = "";  // under default
};

const std::string& AttackDir() {
  static const std::string dir = [] {
    const char* value = getenv("GAOL_ATTACK_DIR");
    if (value == nullptr) throw std::runtime_error("GAOL_ATTACK_DIR is not set");
    return std::string(value);
  }();
  return dir;
}

std::vector<std::string> AttackArgs(const std::string& profile, const std::string& mode,
                                    const std::vector<std::string>& mode_args,
                                    const std::vector<std::string>& flags) {
  std::vector<std::string> args = {"--security-opt", "seccomp=" + profile, "--ro-bind", AttackDir(),
                                   "/attack"};
  args.insert(args.end(), flags.begin(), flags.end());
  args.insert(args.end(), {"--", "/attack/gaol-attack", mode});
  args.insert(args.end(), mode_args.begin(), mode_args.end());
  return args;
}

std::string ReadFile(const std::string& path) {
  std::stringstream ss;
  ss << std::ifstream(path).rdbuf();
  return ss.str();
}

void CheckOutcome(GaolRun& run, const std::string& killed_at) {
  INFO("stdout: " << run.out << "stderr: " << run.err << "result: " << run.result.dump());
  nlohmann::json line = run.Probe();
  if (killed_at.empty() || (killed_at == "*" && line.is_object())) {
    REQUIRE(line.is_object());
    CHECK(line["contained"] == true);
    CHECK(run.exit_status == 0);
    CHECK(run.result["status"] == "ok");
    return;
  }
  CHECK(line.is_null());
  CHECK(run.exit_status == 128 + SIGSYS);
  CHECK(run.result["status"] == "seccomp_violation");
  if (killed_at != "*") CHECK(run.result["seccomp"]["syscall"] == killed_at);
}

// No gaol process, child, mount or descriptor of ours outlives the run.
void CheckNothingLeft(const gaol::it::Leftovers& before) {
  gaol::it::Leftovers after;
  for (int i = 0; i < 200; ++i) {
    after = gaol::it::TakeLeftovers();
    if (after.processes.empty() && after.children.empty()) break;
    usleep(10000);
  }
  std::string left;
  for (const auto& p : after.processes) left += "process " + p + "; ";
  for (const auto& c : after.children) left += "child " + c + "; ";
  INFO("left: " << left);
  CHECK(after.processes.empty());
  CHECK(after.children.empty());
  CHECK(after.mounts == before.mounts);
  CHECK(after.fds == before.fds);
}

// Runs one attack under `profile` and checks everything but the host-side effects.
GaolRun Attack(const std::string& profile, const std::string& mode, const Expect& expect,
               const std::vector<std::string>& mode_args = {},
               const std::vector<std::string>& flags = {}, int tty = -1) {
  auto before = gaol::it::TakeLeftovers();
  auto args = AttackArgs(profile, mode, mode_args, flags);
  GaolRun run = tty >= 0 ? gaol::it::RunGaolOnTty(args, tty) : gaol::it::RunGaol(args);
  CheckOutcome(run, profile == "strict" ? expect.strict_kills_at : expect.default_kills_at);
  CheckNothingLeft(before);
  return run;
}

std::string Profile() { return GENERATE(as<std::string>{}, "default", "strict"); }

// A pseudo-terminal in raw mode, so that a single injected byte is readable input.
struct Pty {
  int master = -1, replica = -1;
  Pty() {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(master >= 0);
    REQUIRE(grantpt(master) == 0);
    REQUIRE(unlockpt(master) == 0);
    replica = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    REQUIRE(replica >= 0);
    termios raw{};
    REQUIRE(tcgetattr(replica, &raw) == 0);
    cfmakeraw(&raw);
    REQUIRE(tcsetattr(replica, TCSANOW, &raw) == 0);
  }
  ~Pty() {
    close(replica);
    close(master);
  }
  int PendingInput() const {
    int n = -1;
    ioctl(replica, FIONREAD, &n);
    return n;
  }
};

// The same attack without gaol, on a pty that is its controlling terminal: it must succeed, or
// the host-side check proves nothing. Kernels with dev.tty.legacy_tiocsti=0 refuse it everywhere.
void CheckTiocstiControl(const std::string& mode) {
  if (ReadFile("/proc/sys/dev/tty/legacy_tiocsti").starts_with("0")) return;
  Pty pty;
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    ioctl(pty.replica, TIOCSCTTY, 0);
    dup2(pty.replica, 0);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    std::string path = AttackDir() + "/gaol-attack";
    execl(path.c_str(), path.c_str(), mode.c_str(), static_cast<char*>(nullptr));
    _exit(99);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  INFO("control run of " << mode << " without gaol");
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(pty.PendingInput() > 0);
}

void CheckTiocsti(const std::string& mode) {
  std::string profile = Profile();
  INFO("profile " << profile);
  if (profile == "default") CheckTiocstiControl(mode);
  Pty pty;
  // Refused with EPERM under both profiles (the refusal sits in gaol's second filter).
  auto run = Attack(profile, mode, {}, {}, {"--stdin", "-"}, pty.replica);
  if (profile == "default") CHECK_THAT(run.out, Catch::Contains("fd 0 is a terminal"));
  CHECK(pty.PendingInput() == 0);
}

struct Listener {
  int fd = -1;
  explicit Listener(int domain, const sockaddr* addr, socklen_t len) {
    fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    REQUIRE(bind(fd, addr, len) == 0);
    REQUIRE(listen(fd, 8) == 0);
  }
  // A listener on the abstract Unix socket @name.
  explicit Listener(const std::string& name) {
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    name.copy(addr.sun_path + 1, name.size());
    *this = Listener(AF_UNIX, reinterpret_cast<sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size()));
  }
  Listener& operator=(Listener&& other) noexcept {
    std::swap(fd, other.fd);
    return *this;
  }
  ~Listener() {
    if (fd >= 0) close(fd);
  }
  bool Accepted() const {
    int conn = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn >= 0) close(conn);
    return conn >= 0;
  }
};

}  // namespace

TEST_CASE("CVE-2017-5226 TIOCSTI into the caller's tty", "[escape]") { CheckTiocsti("tiocsti"); }

TEST_CASE("CVE-2019-10063 TIOCSTI with a 64-bit request", "[escape]") { CheckTiocsti("tiocsti64"); }

TEST_CASE("CVE-2019-5736 CVE-2024-21626 writing through /proc/self/exe or /proc/<pid>/fd",
          "[escape]") {
  std::string profile = Profile();
  INFO("profile " << profile);
  std::string gaol_before = ReadFile(gaol::it::GaolBin());
  std::string attack_before = ReadFile(AttackDir() + "/gaol-attack");
  Attack(profile, "procfs", {}, {std::to_string(getpid())});
  CHECK(ReadFile(gaol::it::GaolBin()) == gaol_before);
  CHECK(ReadFile(AttackDir() + "/gaol-attack") == attack_before);
}

TEST_CASE("inherited fds: a host file opened without O_CLOEXEC", "[escape]") {
  std::string profile = Profile();
  INFO("profile " << profile);
  std::string dir = gaol::it::MakeTempDir();
  std::string secret = "gaol-escape-secret-" + std::to_string(getpid());
  std::ofstream(dir + "/secret") << secret;
  int leaked = open((dir + "/secret").c_str(), O_RDONLY);  // no O_CLOEXEC, on purpose
  REQUIRE(leaked >= 0);
  auto run = Attack(profile, "fds", {}, {secret});
  CHECK_THAT(run.out, !Catch::Contains(secret));
  close(leaked);
  gaol::it::RemoveTree(dir);
}

TEST_CASE("pivot_root escape: fchdir to an inherited directory fd", "[escape]") {
  std::string profile = Profile();
  INFO("profile " << profile);
  std::string dir = gaol::it::MakeTempDir();
  int leaked = open(dir.c_str(), O_RDONLY | O_DIRECTORY);  // no O_CLOEXEC, on purpose
  REQUIRE(leaked >= 0);
  Attack(profile, "fds", {}, {"unused-secret"});
  close(leaked);
  gaol::it::RemoveTree(dir);
}

TEST_CASE("pivot_root escape: .. walks", "[escape]") { Attack(Profile(), "dotdot", {}); }

TEST_CASE("pivot_root escape: chroot and .. from a nested user namespace", "[escape]") {
  Attack(Profile(), "chroot", {"chroot"});
}

TEST_CASE("pivot_root escape: open_by_handle_at (shocker)", "[escape]") {
  Attack(Profile(), "handle", {"open_by_handle_at"});
}

TEST_CASE("ptrace of PID 1 and of a host pid", "[escape]") {
  Attack(Profile(), "ptrace", {"ptrace"}, {std::to_string(getpid())});
}

TEST_CASE("PID 1 is worth nothing to a job that reaches it (ptrace allowed)", "[escape]") {
  // Everything an operator could hand the job: unconfined, no Landlock, CAP_SYS_PTRACE. PID 1 is
  // the one process of the sandbox that is not the job's own; what it holds once the job runs is
  // what a job that took it over would get.
  // PID 1 confines itself once the job has exec'd (it is suspended until then, see
  // docs/SECURITY.md): the job waits for the filter to show before it reads the rest.
  GaolRun run = gaol::it::RunGaol(
      {"--security-opt", "seccomp=unconfined", "--landlock", "off", "--cap-add", "SYS_PTRACE", "--",
       "/bin/sh", "-c",
       "for i in $(seq 500); do grep -q '^Seccomp:.*2' /proc/1/status && break; sleep 0.01; done; "
       "cat /proc/1/status"});
  REQUIRE(run.result["status"] == "ok");
  auto field = [&](const std::string& name) {
    std::istringstream in(run.out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(name + ":", 0) == 0)
        return line.substr(line.find_first_not_of(" \t", name.size() + 1));
    }
    return std::string("(missing)");
  };
  CHECK(field("CapEff") == "0000000000000020");  // CAP_KILL alone
  CHECK(field("CapPrm") == "0000000000000020");
  CHECK(field("CapBnd") == "0000000000000020");
  CHECK(field("NoNewPrivs") == "1");
  CHECK(field("Seccomp") == "2");  // its own filter
}

// The moment between the job's execve and PID 1's confinement: PID 1 is already not dumpable
// (set before the job is started), so a job handed CAP_SYS_PTRACE cannot trace it even with its
// first instructions. Each run races for that moment.
TEST_CASE("PID 1 cannot be traced from the job's first instruction (ptrace allowed)", "[escape]") {
  auto args = AttackArgs("unconfined", "ptrace", {std::to_string(getpid())},
                         {"--landlock", "off", "--cap-add", "SYS_PTRACE"});
  int traced = 0;
  for (int i = 0; i < 30; ++i) {
    GaolRun run = gaol::it::RunGaol(args);
    INFO("stdout: " << run.out << "stderr: " << run.err);
    nlohmann::json line = run.Probe();
    REQUIRE(line.is_object());
    traced += line["contained"] == true ? 0 : 1;
  }
  CHECK(traced == 0);
}

TEST_CASE("nested user namespaces", "[escape]") { Attack(Profile(), "userns", {"clone"}); }

TEST_CASE("mount calls", "[escape]") { Attack(Profile(), "mount", {"mount"}); }

TEST_CASE("keyctl", "[escape]") { Attack(Profile(), "keyctl", {"keyctl"}); }

TEST_CASE("io_uring opening a socket", "[escape]") {
  Attack(Profile(), "io_uring", {"io_uring_setup"});
}

TEST_CASE("x32 and i386 syscalls", "[escape]") {
  // Refused either way: killed as a foreign architecture, or failed; never run.
  std::string profile = Profile();
  Attack(profile, "i386", {"*", "*"});
  Attack(profile, "x32", {"*", "*"});
}

TEST_CASE("perf_event_open and bpf", "[escape]") {
  std::string profile = Profile();
  Attack(profile, "perf", {"perf_event_open"});
  Attack(profile, "bpf", {"bpf"});
}

namespace {
volatile sig_atomic_t g_usr1_received = 0;
void CountUsr1(int) { g_usr1_received = g_usr1_received + 1; }
}  // namespace

TEST_CASE("kill() of a host pid", "[escape]") {
  std::string profile = Profile();
  struct sigaction count = {}, old = {};
  count.sa_handler = CountUsr1;
  sigaction(SIGUSR1, &count, &old);
  g_usr1_received = 0;
  Attack(profile, "kill", {}, {std::to_string(getpid())});
  CHECK(g_usr1_received == 0);
  sigaction(SIGUSR1, &old, nullptr);
}

TEST_CASE("reaching the network: a loopback listener on the host", "[escape]") {
  std::string profile = Profile();
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  Listener listener(AF_INET, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(listener.fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Attack(profile, "tcp", {"socket"}, {std::to_string(ntohs(addr.sin_port))});
  CHECK_FALSE(listener.Accepted());
}

TEST_CASE("reaching an abstract Unix socket of the host", "[escape]") {
  std::string profile = Profile();
  std::string name = "gaol-escape-" + std::to_string(getpid());
  Listener listener(name);
  Attack(profile, "abstract", {}, {name});
  CHECK_FALSE(listener.Accepted());
}

TEST_CASE("setuid binaries gaining privilege", "[escape]") {
  // uid 1000 inside: a root the job's namespace does not map would show as 65534, not 1000.
  Attack(Profile(), "setuid", {}, {}, {"--uid", "1000", "--gid", "1000"});
}

TEST_CASE("/sys and /proc/sys writes", "[escape]") {
  std::string core_pattern = ReadFile("/proc/sys/kernel/core_pattern");
  Attack(Profile(), "sysfs", {});
  CHECK(ReadFile("/proc/sys/kernel/core_pattern") == core_pattern);
}

TEST_CASE("cgroup file writes from inside (CVE-2022-0492 release_agent)", "[escape]") {
  Attack(Profile(), "cgroup", {});
}

// Where the job shares a namespace with the host, Landlock's scopes (ABI 6+) still keep it from
// the host's abstract sockets and processes; --landlock off is the control that the attack works.
TEST_CASE("Landlock scope: an abstract Unix socket of the host with --network host", "[escape]") {
  std::string profile = Profile();
  std::string name = "gaol-landlock-" + std::to_string(getpid());
  Listener listener(name);
  Attack(profile, "abstract", {}, {name}, {"--network", "host"});
  CHECK_FALSE(listener.Accepted());
  auto control = gaol::it::RunGaol(
      AttackArgs(profile, "abstract", {name}, {"--network", "host", "--landlock", "off"}));
  CHECK(control.Probe()["contained"] == false);
  CHECK(listener.Accepted());
}

TEST_CASE("Landlock scope: kill() of a host process with --share pid", "[escape]") {
  // Sharing the pid namespace the job sees host processes (pidfd_open works); it may not signal
  // them.
  std::string profile = Profile();
  struct sigaction count = {}, old = {};
  count.sa_handler = CountUsr1;
  sigaction(SIGUSR1, &count, &old);
  g_usr1_received = 0;
  std::string pid = std::to_string(getpid());
  auto run = gaol::it::RunGaol(AttackArgs(profile, "kill", {pid}, {"--share", "pid"}));
  INFO(run.out << run.err);
  CHECK(run.out.find("kill(" + pid + ", SIGUSR1): EPERM") != std::string::npos);
  CHECK(g_usr1_received == 0);
  auto control = gaol::it::RunGaol(
      AttackArgs(profile, "kill", {pid}, {"--share", "pid", "--landlock", "off"}));
  CHECK(control.out.find("BREACH kill(" + pid + ", SIGUSR1)") != std::string::npos);
  CHECK(g_usr1_received == 1);
  sigaction(SIGUSR1, &old, nullptr);
}

TEST_CASE("Landlock: writes only beneath writable mounts, not into /proc", "[escape]") {
  std::string profile = Profile();
  std::string dir = gaol::it::MakeTempDir(0777);
  std::vector<std::string> cmd = {"-v",
                                  dir + ":/data",
                                  "--",
                                  "/bin/sh",
                                  "-c",
                                  "echo a >/tmp/f && echo b >/data/f && echo c >/dev/null && "
                                  "{ echo x >/proc/self/comm; echo comm=$?; }"};
  std::vector<std::string> args = {"--security-opt", "seccomp=" + profile};
  args.insert(args.end(), cmd.begin(), cmd.end());
  auto run = gaol::it::RunGaol(args);
  INFO(run.err);
  CHECK(run.out == "comm=2\n");
  CHECK(run.result["landlock"]["enforced"] == true);
  CHECK(ReadFile(dir + "/f") == "b\n");
  args.insert(args.begin(), {"--landlock", "off"});
  auto off = gaol::it::RunGaol(args);
  CHECK(off.out == "comm=0\n");
  CHECK(off.result["landlock"].is_null());
  gaol::it::RemoveTree(dir);
}

TEST_CASE("CVE-2021-30465 a symlink planted in a rootfs cannot send gaol's set-up to a host path",
          "[escape]") {
  std::string dir = gaol::it::MakeTempDir(0755);
  char victim_template[] = "/var/tmp/gaol-it-XXXXXX";
  REQUIRE(mkdtemp(victim_template) != nullptr);
  std::string victim = victim_template;
  for (const char* sub : {"/proc", "/dev", "/probe", "/var", "/var/tmp"})
    mkdir((dir + sub).c_str(), 0755);
  mkdir((dir + victim).c_str(), 0755);
  // /work in the rootfs points at a host directory by absolute path; gaol must create the workdir
  // beneath it inside the rootfs (the link resolved within it), never on the host.
  REQUIRE(symlink(victim.c_str(), (dir + "/work").c_str()) == 0);
  auto run = gaol::it::RunProbe({"--rootfs", dir, "-w", "/work/x"}, {"report"});
  INFO(run.err);
  REQUIRE(run.exit_status == 0);
  struct stat st;
  CHECK(stat((victim + "/x").c_str(), &st) != 0);
  CHECK(stat((dir + victim + "/x").c_str(), &st) == 0);
  CHECK(run.Probe()["cwd"] == victim + "/x");
  gaol::it::RemoveTree(dir);
  gaol::it::RemoveTree(victim);
}

// runc's CVE-2024-21626 class through gaol's own I/O flags: a host directory opened for the job
// and handed to it as fd 0 leads out of its root by `..`. Refused before anything is created,
// whatever path the directory came by; the attack then proves the job never ran with it.
TEST_CASE("CVE-2024-21626 a host directory as the job's stdin (--stdin DIR, -i < DIR)",
          "[escape]") {
  std::string profile = Profile();
  INFO("profile " << profile);
  std::string dir = gaol::it::MakeTempDir();
  auto before = gaol::it::TakeLeftovers();
  auto run = gaol::it::RunGaol(AttackArgs(profile, "stdio", {}, {"--stdin", dir}));
  INFO("stdout: " << run.out << "stderr: " << run.err);
  CHECK(run.exit_status == 125);
  CHECK(run.out.empty());
  CHECK(run.err == "gaol: open_io: --stdin `" + dir +
                       "` is a directory; expected a regular file, a pipe, a terminal or "
                       "/dev/null\n");
  CHECK(run.result["status"] == "setup_error");
  CheckNothingLeft(before);
  // The same directory as gaol's own stdin, passed on with -i.
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  auto inherited = gaol::it::RunGaolWithStdinFd(AttackArgs(profile, "stdio", {}, {"-i"}), fd);
  close(fd);
  INFO("stdout: " << inherited.out << "stderr: " << inherited.err);
  CHECK(inherited.exit_status == 125);
  CHECK(inherited.out.empty());
  CHECK_THAT(inherited.err, Catch::Contains("gaol's own stdin (--stdin -) is a directory"));
  // A socket as gaol's stdin is refused the same way; a file, a pipe and /dev/null pass and the
  // attack reports itself contained.
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  auto socket = gaol::it::RunGaolWithStdinFd(AttackArgs(profile, "stdio", {}, {"-i"}), pair[0]);
  close(pair[0]);
  close(pair[1]);
  CHECK(socket.exit_status == 125);
  CHECK_THAT(socket.err, Catch::Contains("is a socket"));
  std::ofstream(dir + "/in") << "input\n";
  Attack(profile, "stdio", {}, {}, {"--stdin", dir + "/in"});
  CHECK_THAT(gaol::it::RunGaol(AttackArgs(profile, "stdio", {}, {"--stdin", "/dev/zero"})).err,
             Catch::Contains("a device other than /dev/null or a terminal"));
  gaol::it::RemoveTree(dir);
}
