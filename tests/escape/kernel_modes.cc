// Kernel attack surface: ptrace, nested namespaces, mounts, keys, io_uring, foreign syscall ABIs,
// perf and bpf. Under gaol without seccomp some of these succeed: the namespaces contain them, and
// only the seccomp profiles refuse them.
#include <fcntl.h>
#include <liburing.h>
#include <linux/bpf.h>
#include <linux/mount.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>

#include "tests/escape/attack.h"

namespace gaol::attack {
namespace {

constexpr long kKeyctlJoinSessionKeyring = 1;
constexpr long kKeyctlInvalidate = 21;
constexpr long kKeySpecSessionKeyring = -3;
constexpr long kX32SyscallBit = 0x40000000;
constexpr long kI386Getpid = 20;
constexpr long kI386Unshare = 310;

// A child made by a raw clone or clone3 leaves at once; the parent reaps it.
SysResult ReapIfChild(SysResult pid) {
  if (pid.value == 0) _exit(0);
  if (pid.value > 0) waitpid(static_cast<pid_t>(pid.value), nullptr, 0);
  return pid;
}

SysResult CloneNewUser() {
  return ReapIfChild(Sys(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)));
}

SysResult Clone3NewUser() {
  clone_args args = {};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  return ReapIfChild(Sys(syscall(SYS_clone3, &args, sizeof(args))));
}

// The i386 entry point from 64-bit code; the kernel returns -errno in eax and clobbers r8-r11.
long I386Syscall(long nr, long arg1) {
  long ret;
  asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(arg1) : "memory", "r8", "r9", "r10", "r11");
  return ret;
}

void CloseIfOpen(SysResult fd) {
  if (fd.value >= 0) close(static_cast<int>(fd.value));
}

}  // namespace

int RunPtrace(Args args) {
  Outcome out("ptrace of PID 1 and of a host pid");
  // PTRACE_SEIZE stops nothing; leaving detaches.
  for (long pid : {1L, ParseNumber(args[0])}) {
    out.Tried("ptrace(PTRACE_SEIZE, " + std::to_string(pid) + ")",
              Sys(ptrace(PTRACE_SEIZE, static_cast<pid_t>(pid), nullptr, nullptr)));
  }
  return out.Emit();
}

int RunUserns(Args) {
  Outcome out("nested user namespaces");
  // The children first: once this process has unshared, its unmapped uid may not nest further.
  out.Tried("clone(CLONE_NEWUSER)", CloneNewUser());
  out.Tried("clone3(CLONE_NEWUSER)", Clone3NewUser());
  SysResult r = Sys(unshare(CLONE_NEWUSER));
  out.Tried("unshare(CLONE_NEWUSER)", r);
  if (r.value == 0) {
    out.Note("then unshare(CLONE_NEWNS): " + OkOrErrno(Sys(unshare(CLONE_NEWNS))));
    out.Note("then mount tmpfs: " + OkOrErrno(Sys(mount("none", "/tmp", "tmpfs", 0, nullptr))));
  }
  return out.Emit();
}

int RunMount(Args) {
  Outcome out("mount calls");
  const char* target = "/tmp/gaol-attack-mnt";
  mkdir(target, 0700);
  SysResult r = Sys(mount("none", target, "tmpfs", 0, nullptr));
  out.Tried("mount tmpfs", r);
  if (r.value == 0) umount2(target, MNT_DETACH);
  out.Tried("remount / read-write",
            Sys(mount(nullptr, "/", nullptr, MS_REMOUNT | MS_BIND, nullptr)));
  out.Tried("umount2 /proc/sys (read-only over the writable one)",
            Sys(umount2("/proc/sys", MNT_DETACH)));
  SysResult fs = Sys(syscall(SYS_fsopen, "tmpfs", 0));
  out.Tried("fsopen tmpfs", fs);
  CloseIfOpen(fs);
  SysResult tree = Sys(syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE));
  out.Tried("open_tree / OPEN_TREE_CLONE", tree);
  CloseIfOpen(tree);
  out.Tried("pivot_root(/tmp, /tmp)", Sys(syscall(SYS_pivot_root, "/tmp", "/tmp")));
  return out.Emit();
}

int RunKeyctl(Args) {
  Outcome out("keyctl");
  out.Tried("keyctl(KEYCTL_JOIN_SESSION_KEYRING)",
            Sys(syscall(SYS_keyctl, kKeyctlJoinSessionKeyring, nullptr)));
  SysResult key = Sys(syscall(SYS_add_key, "user", "gaol-attack", "x", 1, kKeySpecSessionKeyring));
  out.Tried("add_key(user)", key);
  if (key.value >= 0) syscall(SYS_keyctl, kKeyctlInvalidate, key.value);
  out.Tried("request_key(user)",
            Sys(syscall(SYS_request_key, "user", "gaol-attack-none", nullptr, 0)));
  return out.Emit();
}

int RunIoUring(Args) {
  Outcome out("io_uring opening a socket");
  io_uring ring;
  SysResult setup = Raw(io_uring_queue_init(4, &ring, 0));
  out.Tried("io_uring_setup", setup);
  if (setup.value == 0) {
    // The point of the attack: io_uring's operations never pass through the seccomp filter.
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_socket(sqe, AF_INET, SOCK_STREAM, 0, 0);
    io_uring_cqe* cqe = nullptr;
    int r = io_uring_submit_and_wait(&ring, 1);
    if (r >= 0) r = io_uring_peek_cqe(&ring, &cqe);
    SysResult sock = Raw(r < 0 ? r : cqe->res);
    out.Tried("IORING_OP_SOCKET(AF_INET)", sock);
    CloseIfOpen(sock);
    io_uring_queue_exit(&ring);
  }
  return out.Emit();
}

int RunI386(Args) {
  Outcome out("i386 syscalls (int 0x80)");
  out.Tried("int 0x80 getpid", Raw(I386Syscall(kI386Getpid, 0)));
  out.Tried("int 0x80 unshare(CLONE_NEWUSER)", Raw(I386Syscall(kI386Unshare, CLONE_NEWUSER)));
  return out.Emit();
}

int RunX32(Args) {
  Outcome out("x32 syscalls (__X32_SYSCALL_BIT)");
  out.Tried("x32 getpid", Sys(syscall(kX32SyscallBit | SYS_getpid)));
  out.Tried("x32 unshare(CLONE_NEWUSER)",
            Sys(syscall(kX32SyscallBit | SYS_unshare, CLONE_NEWUSER)));
  return out.Emit();
}

int RunPerf(Args) {
  Outcome out("perf_event_open");
  perf_event_attr attr = {};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  SysResult fd = Sys(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
  out.Tried("perf_event_open(software clock, this process)", fd);
  CloseIfOpen(fd);
  return out.Emit();
}

int RunBpf(Args) {
  Outcome out("bpf");
  bpf_insn prog[2] = {};
  prog[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  prog[1].code = BPF_JMP | BPF_EXIT;
  bpf_attr load = {};
  load.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  load.insn_cnt = 2;
  load.insns = reinterpret_cast<uintptr_t>(prog);
  load.license = reinterpret_cast<uintptr_t>("GPL");
  SysResult fd = Sys(syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load)));
  out.Tried("bpf(BPF_PROG_LOAD socket filter)", fd);
  CloseIfOpen(fd);
  bpf_attr map = {};
  map.map_type = BPF_MAP_TYPE_ARRAY;
  map.key_size = 4;
  map.value_size = 4;
  map.max_entries = 1;
  fd = Sys(syscall(SYS_bpf, BPF_MAP_CREATE, &map, sizeof(map)));
  out.Tried("bpf(BPF_MAP_CREATE array)", fd);
  CloseIfOpen(fd);
  return out.Emit();
}

}  // namespace gaol::attack
