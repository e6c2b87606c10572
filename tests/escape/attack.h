// gaol-attack: a static program that runs inside the sandbox and tries one class of escape. Each
// mode prints one JSON line {"class", "contained", "detail"} and exits 0 when every attempt failed,
// 1 when one succeeded. A mode the seccomp profile kills prints nothing: gaol reports the kill.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gaol::attack {

// The arguments after the mode name.
using Args = std::span<char* const>;

// A bad command line: main() prints {"error": "usage: ..."} and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A syscall's result and the errno it left, captured before anything else can change errno.
struct SysResult {
  long value;
  int err;
};
inline SysResult Sys(long value) { return {value, value < 0 ? errno : 0}; }
// From a raw -errno result (int 0x80, io_uring completions).
inline SysResult Raw(long value) {
  return {value < 0 ? -1 : value, value < 0 ? static_cast<int>(-value) : 0};
}

// What one mode tried, in order, and whether any attempt got through.
class Outcome {
 public:
  explicit Outcome(std::string_view attack_class) : class_(attack_class) {}
  // Records `what`: a failed call is a failed attempt, a successful one a breach.
  void Tried(std::string_view what, SysResult result);
  // An attempt that got through, described.
  void Breach(std::string_view what);
  // A failed attempt or an observation, described.
  void Note(std::string_view what);
  bool contained() const { return contained_; }
  // Prints the JSON line; returns the exit code (0 contained, 1 breached).
  int Emit() const;

 private:
  std::string class_;
  std::string detail_;
  bool contained_ = true;
};

// "ENOENT" for ENOENT; "errno_N" for numbers glibc has no name for.
std::string ErrnoName(int err);
// "ok", or the errno's name.
std::string OkOrErrno(SysResult result);
// Strict parse of a decimal number; throws UsageError.
long ParseNumber(std::string_view arg);

// Whether `dir_fd` leads, by `..`, to a root other than this process's `/`: the test for every
// pivot_root escape. `*top` describes the root it reached.
bool LeadsOutsideRoot(int dir_fd, std::string* top);
// "dev:ino" of a stat result.
std::string Identity(const struct stat& st);

// --- Modes: each returns the process exit code ---

int RunTiocsti(Args args);    // tty_fs_modes.cc: CVE-2017-5226
int RunTiocsti64(Args args);  // tty_fs_modes.cc: CVE-2019-10063
int RunProcfs(Args args);     // tty_fs_modes.cc: CVE-2019-5736, CVE-2024-21626
int RunFds(Args args);        // tty_fs_modes.cc: inherited fds, fchdir out of the root
int RunStdio(Args args);      // tty_fs_modes.cc: CVE-2024-21626 through fds 0-2
int RunDotdot(Args args);     // tty_fs_modes.cc
int RunChroot(Args args);     // tty_fs_modes.cc
int RunHandle(Args args);     // tty_fs_modes.cc: open_by_handle_at ("shocker")
int RunPtrace(Args args);     // kernel_modes.cc
int RunUserns(Args args);     // kernel_modes.cc
int RunMount(Args args);      // kernel_modes.cc
int RunKeyctl(Args args);     // kernel_modes.cc
int RunIoUring(Args args);    // kernel_modes.cc
int RunI386(Args args);       // kernel_modes.cc
int RunX32(Args args);        // kernel_modes.cc
int RunPerf(Args args);       // kernel_modes.cc
int RunBpf(Args args);        // kernel_modes.cc
int RunKill(Args args);       // host_modes.cc
int RunTcp(Args args);        // host_modes.cc
int RunAbstract(Args args);   // host_modes.cc
int RunSetuid(Args args);     // host_modes.cc
int RunSysfs(Args args);      // host_modes.cc
int RunCgroup(Args args);     // host_modes.cc

}  // namespace gaol::attack
