// A seccomp profile compiled with libseccomp into classic BPF, in the parent (Plan): the child
// only hands the bytes to the kernel, as the last step before exec.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "sandbox/common/error.h"
#include "sandbox/seccomp/profile.h"

namespace gaol::seccomp {

struct CompileOptions {
  std::set<std::string> caps;  // capabilities the job keeps, as "CAP_SYS_ADMIN" (includes.caps)
  std::string kernel_release;  // uname -r, for minKernel
  // Kill actions return USER_NOTIF instead, so gaol learns the syscall's name and kills the job
  // itself; without it they are SECCOMP_RET_KILL_PROCESS and the name is unknown.
  bool notify_kills = true;
};

struct Filter {
  std::string profile;
  std::vector<sock_filter> main;
  // Conditional rules stricter than an unconditional rule for the same syscall (libseccomp holds
  // only one of the two in a filter): a second filter, default allow; the kernel takes the
  // strictest answer of the two.
  std::vector<sock_filter> overlay;
  bool listener = false;       // main returns USER_NOTIF: load it with NEW_LISTENER
  unsigned flags = 0;          // SECCOMP_FILTER_FLAG_LOG / SPEC_ALLOW from the profile
  unsigned rules = 0;          // (syscall, rule) pairs compiled
  unsigned unknown_names = 0;  // names this libseccomp does not know, skipped as runc does
};

Result<Filter> Compile(const Profile& profile, const CompileOptions& options);

// "ptrace", or "syscall 1234" for a number libseccomp does not name; `arch` is AUDIT_ARCH_*.
std::string SyscallName(std::uint32_t arch, int nr);
// "x86_64", "x32" (x86-64 numbers with __X32_SYSCALL_BIT), "x86", ...
std::string ArchName(std::uint32_t arch, int nr);

}  // namespace gaol::seccomp
