// seccomp profiles: the OCI JSON read strictly, compiled with libseccomp, and the filter checked
// by running the BPF in the kernel's own interpreter (a forked child loads it and tries calls).
#include <errno.h>
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
