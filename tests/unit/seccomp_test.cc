// seccomp profiles: the OCI JSON read strictly, compiled with libseccomp, and the filter checked
// by running the BPF in the kernel's own interpreter (a forked child loads it and tries calls).
#include <errno.h>
#include <linux/audit.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <sstream>

#include "sandbox/seccomp/compile.h"
#include "sandbox/seccomp/evaluate.h"
#include "sandbox/seccomp/profile.h"

using gaol::seccomp::Action;
using gaol::seccomp::Compile;
using gaol::seccomp::CompileOptions;
using gaol::seccomp::Filter;
using gaol::seccomp::ParseProfile;

namespace {

std::string ErrorOf(const std::string& text) {
  auto p = ParseProfile(text, "t.json");
  REQUIRE_FALSE(p);
  return p.error().Message();
}

Filter CompileText(const std::string& text, CompileOptions o = {}) {
  auto p = ParseProfile(text, "t.json");
  REQUIRE(p);
  auto f = Compile(*p, o);
  INFO((f ? "" : f.error().Message()));
  REQUIRE(f);
  return *f;
}

// Loads `f` in a forked child (no_new_privs) and returns what `call` returned there, or -errno,
// or 1000+signal if the child died of one.
int InChild(const Filter& f, const std::function<long()>& call) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    for (const auto* bpf : {&f.overlay, &f.main}) {
      if (bpf->empty()) continue;
      sock_fprog prog = {static_cast<unsigned short>(bpf->size()),
                         const_cast<sock_filter*>(bpf->data())};
      if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) _exit(99);
    }
    long r = call();
    int out = r < 0 ? -errno : static_cast<int>(r);
    (void)!write(fds[1], &out, sizeof(out));
    _exit(0);
  }
  close(fds[1]);
  int out = 0;
  ssize_t n = read(fds[0], &out, sizeof(out));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return 1000 + WTERMSIG(status);
  REQUIRE(WEXITSTATUS(status) == 0);
  REQUIRE(n == sizeof(out));
  return out;
}

const char* kSmall = R"({
  "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
  "architectures": ["SCMP_ARCH_X86_64"],
  "syscalls": [
    {"names": ["execve", "exit_group", "write", "read", "getpid", "ioctl", "close"],
     "action": "SCMP_ACT_ALLOW"},
    {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
     "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]},
    {"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
    {"names": ["no_such_call_here"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SETUID"]}},
    {"names": ["getgid"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SETUID"]}}
  ]
})";

// A profile Debian ships (ci/install-deps installs its package).
std::string ReadTestdata(const std::string& path) {
  std::ifstream in(path);
  if (!in) FAIL("test data " << path << " is missing: ci/install-deps installs it");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("seccomp: a malformed profile names the field and what was expected", "[seccomp]") {
  CHECK(ErrorOf("{").find("valid JSON") != std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_NOPE"})").find("`defaultAction`") !=
        std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_ERRNO", "sycalls": []})").find("`sycalls`") !=
        std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]})")
            .find("`syscalls[0].action`") != std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
      "action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]})")
            .find("`syscalls[0].args[0].index`") != std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
      "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "EQ"}]}]})")
            .find("`syscalls[0].args[0].op`") != std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 0})")
            .find("`defaultErrnoRet`") != std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_NOTIFY"})").find("listener") != std::string::npos);
  CHECK(ErrorOf(R"({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_X"]})")
            .find("`flags`") != std::string::npos);
}

TEST_CASE("seccomp: a profile that forbids execve is refused before anything runs", "[seccomp]") {
  auto p = ParseProfile(R"({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]})",
                        "noexec.json");
  REQUIRE(p);
  auto f = Compile(*p, {});
  REQUIRE_FALSE(f);
  CHECK(f.error().Message().find("allows execve") != std::string::npos);
}

// [no_sanitizer]: these load a profile that refuses most calls in a forked child, where ASan's
// runtime then makes calls of its own and dies (exit 1); ci/sanitize leaves them to the plain
// build, which runs them.
TEST_CASE("seccomp: the compiled filter does what the profile says", "[seccomp][no_sanitizer]") {
  Filter f = CompileText(kSmall, {{}, "6.1.0", false});
  CHECK(f.unknown_names == 1);
  CHECK_FALSE(f.overlay.empty());  // ioctl: unconditional allow plus a stricter conditional rule
  CHECK(InChild(f, [] { return syscall(SYS_getpid); }) > 0);
  CHECK(InChild(f, [] { return syscall(SYS_getppid); }) == 1000 + SIGSYS);
  CHECK(InChild(f, [] { return syscall(SYS_getuid); }) == -EPERM);  // CAP_SETUID not kept
  CHECK(InChild(f, [] { return syscall(SYS_getgid); }) >= 0);
  CHECK(InChild(f, [] { return syscall(SYS_getcwd, nullptr, 0); }) == -EPERM);
  // TIOCSTI denied on the low 32 bits, whatever the upper ones say (CVE-2019-10063).
  CHECK(InChild(f, [] { return syscall(SYS_ioctl, 0, TIOCSTI, "x"); }) == -EACCES);
  CHECK(InChild(f, [] { return syscall(SYS_ioctl, 0, 0xffffffff00000000UL | TIOCSTI, "x"); }) ==
        -EACCES);
  // Other ioctls pass the overlay and reach the kernel (ENOTTY or similar, not EACCES).
  CHECK(InChild(f, [] { return syscall(SYS_ioctl, -1, TIOCGWINSZ, nullptr); }) == -EBADF);
}

TEST_CASE("seccomp: includes.caps follow the capabilities the job keeps",
          "[seccomp][no_sanitizer]") {
  Filter f = CompileText(kSmall, {{"CAP_SETUID"}, "6.1.0", false});
  CHECK(InChild(f, [] { return syscall(SYS_getuid); }) >= 0);
  CHECK(InChild(f, [] { return syscall(SYS_getgid); }) == -EPERM);
}

TEST_CASE("seccomp: kill actions notify gaol when asked, so it can name the syscall", "[seccomp]") {
  Filter f = CompileText(kSmall, {{}, "6.1.0", true});
  CHECK(f.listener);
  Filter plain = CompileText(kSmall, {{}, "6.1.0", false});
  CHECK_FALSE(plain.listener);
}

TEST_CASE("seccomp: Podman's default profile loads unchanged and behaves as in Podman",
          "[seccomp]") {
  auto text = ReadTestdata(GAOL_PODMAN_SECCOMP);
  auto p = ParseProfile(text, GAOL_PODMAN_SECCOMP);
  INFO((p ? "" : p.error().Message()));
  REQUIRE(p);
  Filter f = CompileText(text, {{}, "6.1.0", false});
  CHECK(f.rules > 300);
  CHECK(InChild(f, [] { return syscall(SYS_getpid); }) > 0);
  // arch_prctl is allowed for Go's "amd64" (includes.arches).
  CHECK(InChild(f, [] { return syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, nullptr); }) ==
        -EFAULT);
  // Denied with ENOSYS by default, EPERM by its explicit rules; allowed where it allows (setns
  // then fails in the kernel, not in the filter).
  CHECK(InChild(f, [] { return syscall(SYS_io_uring_setup, 1, nullptr); }) == -ENOSYS);
  CHECK(InChild(f, [] { return syscall(SYS_kexec_load, 0, 0, 0, 0); }) == -EPERM);
  CHECK(InChild(f, [] { return syscall(SYS_userfaultfd, 0); }) == -EPERM);
  CHECK(InChild(f, [] { return syscall(SYS_setns, -1, 0); }) == -EBADF);
  // Its archMap gives x86-64 the i386 and x32 sub-architectures, as in Podman.
  CHECK(InChild(f, [] { return syscall(SYS_getppid); }) > 0);
}

TEST_CASE("seccomp: Docker's default profile loads unchanged and behaves as in Docker",
          "[seccomp]") {
  auto text = ReadTestdata(GAOL_DOCKER_SECCOMP);
  auto p = ParseProfile(text, GAOL_DOCKER_SECCOMP);
  INFO((p ? "" : p.error().Message()));
  REQUIRE(p);
  Filter f = CompileText(text, {{}, "6.1.0", false});
  CHECK(f.rules > 300);
  CHECK(InChild(f, [] { return syscall(SYS_getpid); }) > 0);
  CHECK(InChild(f, [] { return syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, nullptr); }) ==
        -EFAULT);
  // Docker 20.10 refuses with EPERM what it does not list (keyctl, kexec_load), and setns without
  // CAP_SYS_ADMIN (includes.caps); it still allowed io_uring (the kernel then checks the args).
  CHECK(InChild(f, [] { return syscall(SYS_keyctl, 0, 0, 0, 0, 0); }) == -EPERM);
  CHECK(InChild(f, [] { return syscall(SYS_kexec_load, 0, 0, 0, 0); }) == -EPERM);
  CHECK(InChild(f, [] { return syscall(SYS_setns, -1, 0); }) == -EPERM);
  CHECK(InChild(f, [] { return syscall(SYS_io_uring_setup, 1, nullptr); }) == -EFAULT);
}

namespace {

std::uint32_t g_futex_word = 7;

// A call tried both ways: in the kernel, under the filter, and in user space (Evaluate).
struct Probe {
  const char* name;
  long nr;
  std::uint64_t args[6];
};

// Success as 0: a pid differs from one child to the next.
long Call(const Probe& p) {
  long r = syscall(p.nr, p.args[0], p.args[1], p.args[2], p.args[3], p.args[4], p.args[5]);
  return r < 0 ? r : 0;
}

// What the kernel would show for `action`, given what the call does without any filter.
int Expected(std::uint32_t action, int unfiltered) {
  switch (action & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
    case SECCOMP_RET_LOG:
      return unfiltered;
    case SECCOMP_RET_ERRNO:
      return -static_cast<int>(action & SECCOMP_RET_DATA);
    case SECCOMP_RET_TRACE:
    case SECCOMP_RET_USER_NOTIF:  // no tracer, no listener: the kernel answers ENOSYS
      return -ENOSYS;
    default:  // KILL_PROCESS, KILL_THREAD (a one-thread child), TRAP without a handler
      return 1000 + SIGSYS;
  }
}

void CheckAgreesWithKernel(const Filter& f) {
  auto word = reinterpret_cast<std::uint64_t>(&g_futex_word);
  const Probe probes[] = {
      {"getpid", SYS_getpid, {}},
      {"getppid", SYS_getppid, {}},
      {"getuid", SYS_getuid, {}},
      {"getgid", SYS_getgid, {}},
      {"futex wait (value differs)", SYS_futex, {word, FUTEX_WAIT, 0, 0, 0, 0}},
      {"futex wait private", SYS_futex, {word, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0}},
      {"futex wake", SYS_futex, {word, FUTEX_WAKE, 1, 0, 0, 0}},
      {"ioctl TIOCSTI", SYS_ioctl, {999, TIOCSTI, 0, 0, 0, 0}},
      {"ioctl TIOCSTI, high bits", SYS_ioctl, {999, 0xffffffff00000000UL | TIOCSTI, 0, 0, 0, 0}},
      {"ioctl TIOCGWINSZ", SYS_ioctl, {999, TIOCGWINSZ, 0, 0, 0, 0}},
      {"close(-1)", SYS_close, {~0UL, 0, 0, 0, 0, 0}},
      {"personality(query)", SYS_personality, {0xffffffffUL, 0, 0, 0, 0, 0}},
      {"personality(READ_IMPLIES_EXEC)", SYS_personality, {0x0400000, 0, 0, 0, 0, 0}},
      {"setns(-1)", SYS_setns, {~0UL, 0, 0, 0, 0, 0}},
      {"io_uring_setup", SYS_io_uring_setup, {1, 0, 0, 0, 0, 0}},
      {"arch_prctl(ARCH_GET_FS, NULL)", SYS_arch_prctl, {0x1003, 0, 0, 0, 0, 0}},
      {"getcwd(NULL, 0)", SYS_getcwd, {0, 0, 0, 0, 0, 0}},
      {"clone3(NULL, 0)", SYS_clone3, {0, 0, 0, 0, 0, 0}},
      {"socket(AF_NETLINK)", SYS_socket, {16, 0x80000 | 3, 0, 0, 0, 0}},
  };
  Filter none;
  for (const Probe& p : probes) {
    INFO(p.name);
    seccomp_data data = {};
    data.nr = static_cast<int>(p.nr);
    data.arch = AUDIT_ARCH_X86_64;
    for (int i = 0; i < 6; ++i) data.args[i] = p.args[i];
    int unfiltered = InChild(none, [&] { return Call(p); });
    std::uint32_t action = gaol::seccomp::Evaluate(f.main, data);
    if (!f.overlay.empty()) {
      // The kernel takes the stricter answer of the two programs: the lower action, compared as
      // a signed value (KILL_PROCESS, 0x80000000, is the strictest).
      std::uint32_t over = gaol::seccomp::Evaluate(f.overlay, data);
      auto strictness = [](std::uint32_t v) {
        return static_cast<std::int32_t>(v & SECCOMP_RET_ACTION_FULL);
      };
      if (strictness(over) < strictness(action)) action = over;
    }
    CHECK(InChild(f, [&] { return Call(p); }) == Expected(action, unfiltered));
    bool allowed = (action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ALLOW ||
                   (action & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_LOG;
    CHECK(gaol::seccomp::Allows(f, data) == allowed);
  }
}

}  // namespace

TEST_CASE("seccomp: the filter run in user space answers as the kernel does",
          "[seccomp][no_sanitizer]") {
  SECTION("a small profile with an overlay") { CheckAgreesWithKernel(CompileText(kSmall)); }
  SECTION("Docker's default profile") {
    CheckAgreesWithKernel(CompileText(ReadTestdata(GAOL_DOCKER_SECCOMP), {{}, "6.1.0", false}));
  }
  SECTION("Podman's default profile") {
    CheckAgreesWithKernel(CompileText(ReadTestdata(GAOL_PODMAN_SECCOMP), {{}, "6.1.0", false}));
  }
  SECTION("gaol's built-in profiles") {
    for (auto name : gaol::seccomp::BuiltinProfileNames()) {
      INFO(name);
      CheckAgreesWithKernel(
          CompileText(std::string(*gaol::seccomp::BuiltinProfile(name)), {{}, "6.1.0", false}));
    }
  }
  SECTION("a profile that refuses futex") {
    Filter f = CompileText(R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["futex"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]})");
    CheckAgreesWithKernel(f);
    seccomp_data wait = {};
    wait.nr = SYS_futex;
    wait.arch = AUDIT_ARCH_X86_64;
    CHECK_FALSE(gaol::seccomp::Allows(f, wait));
  }
}

TEST_CASE("seccomp: a program the kernel would refuse answers kill", "[seccomp]") {
  seccomp_data data = {};
  auto kill = [](std::uint32_t v) { return v == SECCOMP_RET_KILL_PROCESS; };
  CHECK(kill(gaol::seccomp::Evaluate({}, data)));
  // No return at the end.
  sock_filter no_ret[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0)};
  CHECK(kill(gaol::seccomp::Evaluate(no_ret, data)));
  // A load past seccomp_data, and an unaligned one.
  sock_filter far[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 64),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  CHECK(kill(gaol::seccomp::Evaluate(far, data)));
  sock_filter odd[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 2),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  CHECK(kill(gaol::seccomp::Evaluate(odd, data)));
  // A jump past the end.
  sock_filter jump[] = {BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
                        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  CHECK(kill(gaol::seccomp::Evaluate(jump, data)));
  // Division by zero in X.
  sock_filter div[] = {BPF_STMT(BPF_LDX | BPF_IMM, 0), BPF_STMT(BPF_ALU | BPF_DIV | BPF_X, 0),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  CHECK(kill(gaol::seccomp::Evaluate(div, data)));
  // A shift by a constant of 32 or more is refused by the kernel's checker; a shift by X takes
  // X's low 5 bits.
  sock_filter wide[] = {BPF_STMT(BPF_LD | BPF_IMM, 1), BPF_STMT(BPF_ALU | BPF_LSH | BPF_K, 32),
                        BPF_STMT(BPF_RET | BPF_A, 0)};
  CHECK(kill(gaol::seccomp::Evaluate(wide, data)));
  sock_filter by_x[] = {BPF_STMT(BPF_LD | BPF_IMM, 1), BPF_STMT(BPF_LDX | BPF_IMM, 33),
                        BPF_STMT(BPF_ALU | BPF_LSH | BPF_X, 0), BPF_STMT(BPF_RET | BPF_A, 0)};
  CHECK(gaol::seccomp::Evaluate(by_x, data) == 2);
  // Scratch memory, X and A: store nr, reload it into X, compare.
  data.nr = 39;
  sock_filter mem[] = {BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),
                       BPF_STMT(BPF_ST, 3),
                       BPF_STMT(BPF_LDX | BPF_MEM, 3),
                       BPF_STMT(BPF_LD | BPF_IMM, 39),
                       BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_X, 0, 0, 1),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
                       BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 5)};
  CHECK(gaol::seccomp::Evaluate(mem, data) == SECCOMP_RET_ALLOW);
  data.nr = 40;
  CHECK(gaol::seccomp::Evaluate(mem, data) == (SECCOMP_RET_ERRNO | 5));
}
