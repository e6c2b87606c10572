#include "sandbox/child/child_confine.h"

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "sandbox/caps/caps.h"
#include "sandbox/child/sanitized.h"

namespace gaol {
namespace {

// What PID 1 still calls once the job runs: waiting, signalling, its reports, and reading
// /proc/self/task/*/children to end what a job sharing the caller's pid namespace left behind.
#if defined(__x86_64__)
constexpr int kInitCalls[] = {
    SYS_read,
    SYS_write,
    SYS_close,
    SYS_openat,
    SYS_kill,
    SYS_tgkill,
    SYS_gettid,
    SYS_getpid,
    SYS_wait4,
    SYS_waitid,
    SYS_rt_sigtimedwait,
    SYS_rt_sigprocmask,
    SYS_rt_sigreturn,
    SYS_rt_sigaction,
    SYS_getrusage,
    SYS_exit,
    SYS_exit_group,
    SYS_restart_syscall,
    SYS_clock_gettime,
    SYS_sendmsg,
#if GAOL_SANITIZED
    // Built with ASan (ci/sanitize's integration tier only): its runtime, instrumenting PID 1's
    // code, checks the stack, allocates shadow and reports through these.
    SYS_sigaltstack,
    SYS_futex,
    SYS_mmap,
    SYS_munmap,
    SYS_mprotect,
    SYS_madvise,
    SYS_writev,
    SYS_ioctl,
    SYS_sched_yield,
    SYS_prctl,
    SYS_getrlimit,
    SYS_prlimit64,
    SYS_readlink,
#endif
};
constexpr std::size_t kInitCallCount = sizeof(kInitCalls) / sizeof(kInitCalls[0]);

// A fixed BPF program (no libseccomp, nothing built per launch): another architecture's calls are
// killed, the calls above allowed, anything else refused with EPERM.
struct InitFilter {
  sock_filter code[4 + kInitCallCount + 2];
};

constexpr InitFilter MakeInitFilter() {
  InitFilter f = {};
  std::size_t i = 0;
  f.code[i++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  f.code[i++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  f.code[i++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  f.code[i++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  for (std::size_t k = 0; k < kInitCallCount; ++k) {
    // Equal: jump over the rest of the list and the EPERM to the ALLOW.
    auto skip = static_cast<unsigned char>(kInitCallCount - k);
    f.code[i++] =
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kInitCalls[k]), skip, 0);
  }
  f.code[i++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  f.code[i++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  return f;
}

constinit const InitFilter kInitFilter = MakeInitFilter();
#endif

}  // namespace

// PID 1 once the job runs: a process the job could reach (ptrace with --cap-add SYS_PTRACE and
// seccomp unconfined) must be worth nothing. It keeps only CAP_KILL (to signal a job running
// under another uid), is not dumpable (since before the job started), has no_new_privs already,
// and gets its own small filter.
bool ConfineInit(const ChildContext& ctx, ChildReport& report) noexcept {
  const char* what = "";
  if (int err = caps::ApplyInChild(1ULL << CAP_KILL, ctx.plan->last_cap, &what); err != 0) {
    return ChildFail(report, Step::kInit, err, "drop PID 1's capabilities: %s", what);
  }
#if defined(__x86_64__)
  sock_fprog prog = {static_cast<unsigned short>(sizeof(kInitFilter.code) / sizeof(sock_filter)),
                     const_cast<sock_filter*>(kInitFilter.code)};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    return ChildFail(report, Step::kInit, errno, "load PID 1's seccomp filter");
  }
#endif
  return true;
}

}  // namespace gaol
