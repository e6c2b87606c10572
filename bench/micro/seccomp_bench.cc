// seccomp: what compiling a profile costs the plan (per run unless cached), and what a loaded
// filter costs every syscall the job makes, against no filter, in the same run.
#include <benchmark/benchmark.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sandbox/seccomp/compile.h"
#include "sandbox/seccomp/profile.h"

namespace gaol {
namespace {

std::string Text(const std::string& name) {
  if (auto builtin = seccomp::BuiltinProfile(name)) return std::string(*builtin);
  std::ifstream in(name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void BM_CompileProfile(benchmark::State& state, std::string name) {
  auto profile = seccomp::ParseProfile(Text(name), name);
  if (!profile) {
    state.SkipWithError(profile.error().Message().c_str());
    return;
  }
  std::size_t instructions = 0;
  for (auto _ : state) {
    auto filter = seccomp::Compile(*profile, {{}, "6.1.0", true});
    instructions = filter ? filter->main.size() + filter->overlay.size() : 0;
    benchmark::DoNotOptimize(filter);
  }
  state.counters["bpf_instructions"] = static_cast<double>(instructions);
}
BENCHMARK_CAPTURE(BM_CompileProfile, default, std::string("default"));
BENCHMARK_CAPTURE(BM_CompileProfile, strict, std::string("strict"));

// Runs `loop` syscalls in a child that loaded the profile (none: no filter), and reports the
// child's ns per syscall; Google Benchmark times the whole child.
void BM_SyscallUnderFilter(benchmark::State& state, std::string name, long nr) {
  seccomp::Filter filter;
  if (!name.empty()) {
    auto profile = seccomp::ParseProfile(Text(name), name);
    auto compiled = profile ? seccomp::Compile(*profile, {{}, "6.1.0", false})
                            : Result<seccomp::Filter>(tl::unexpected(profile.error()));
    if (!compiled) {
      state.SkipWithError(compiled.error().Message().c_str());
      return;
    }
    filter = std::move(*compiled);
  }
  constexpr int kCalls = 200000;
  for (auto _ : state) {
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
      for (const auto* bpf : {&filter.overlay, &filter.main}) {
        if (bpf->empty()) continue;
        sock_fprog prog = {static_cast<unsigned short>(bpf->size()),
                           const_cast<sock_filter*>(bpf->data())};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) _exit(1);
      }
      int fds[2];
      if (pipe(fds) != 0) _exit(1);
      char c = 0;
      for (int i = 0; i < kCalls; ++i) {
        if (nr == SYS_getppid) {
          syscall(SYS_getppid);
        } else {
          (void)!write(fds[1], &c, 1);
          (void)!read(fds[0], &c, 1);
        }
      }
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
  state.SetItemsProcessed(state.iterations() * kCalls);
}
BENCHMARK_CAPTURE(BM_SyscallUnderFilter, getppid_none, std::string(), SYS_getppid)->UseRealTime();
BENCHMARK_CAPTURE(BM_SyscallUnderFilter, getppid_default, std::string("default"), SYS_getppid)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SyscallUnderFilter, getppid_strict, std::string("strict"), SYS_getppid)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SyscallUnderFilter, pipe_rw_none, std::string(), SYS_write)->UseRealTime();
BENCHMARK_CAPTURE(BM_SyscallUnderFilter, pipe_rw_default, std::string("default"), SYS_write)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_SyscallUnderFilter, pipe_rw_strict, std::string("strict"), SYS_write)
    ->UseRealTime();

}  // namespace
}  // namespace gaol
