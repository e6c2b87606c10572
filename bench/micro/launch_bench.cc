// The launch a kernel operation at a time: what each thing `gaol run` asks of the kernel costs on
// this host, beside fork+exec of /bin/true, the floor `gaol bench compare` divides every figure
// by. A benchmark the host cannot run is skipped with the reason (an error in Google Benchmark's
// words, which is the only way 1.7 has to say so).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "sandbox/cgroup/cgroup.h"
#include "sandbox/child/child_rootfs.h"
#include "sandbox/launch/launch.h"
#include "sandbox/plan/host_facts.h"
#include "sandbox/plan/plan.h"
#include "sandbox/run.h"

namespace gaol {
namespace {

// Each sandbox namespace needs a user namespace to be made without privilege.
constexpr std::uint64_t kAllNamespaces = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
                                         CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;

// cgroup_fd >= 0: the child is born in that cgroup (CLONE_INTO_CGROUP), as gaol's sandbox is.
pid_t Clone3(std::uint64_t flags, int cgroup_fd = -1) {
  clone_args args = {};
  args.flags = flags;
  args.exit_signal = SIGCHLD;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(cgroup_fd);
  }
  return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
}

void Reap(pid_t pid, int* status = nullptr) {
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
}

std::string CloneFailure(int err) {
  std::string why = std::string("clone3: ") + std::strerror(err);
  if (err == EPERM) why += " (unprivileged user namespaces are off here: see `gaol check`)";
  if (err == ENOSPC) why += " (a user.max_*_namespaces sysctl is reached)";
  if (err == ENOSYS) why += " (the kernel has no clone3: 5.3 or later is needed)";
  return why;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The floor: what any launcher pays to run a program at all.
void BM_ForkExecTrue(benchmark::State& state) {
  char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
  char* const envp[] = {nullptr};
  for (auto _ : state) {
    pid_t pid = fork();
    if (pid == 0) {
      execve(argv[0], argv, envp);
      _exit(127);
    }
    int status = 0;
    Reap(pid, &status);
    if (status != 0) {
      state.SkipWithError("/bin/true did not exit 0");
      break;
    }
  }
}
BENCHMARK(BM_ForkExecTrue)->Name("floor/fork_exec_true")->UseRealTime();

// clone3 of a child that exits at once, with one namespace at a time and with gaol's seven.
// Counter `call_us_p50`: the clone3 call alone, as the launch's `clone` step times it.
void BM_Clone3(benchmark::State& state, std::uint64_t flags) {
  std::vector<double> call_us;
  for (auto _ : state) {
    std::uint64_t start = MonotonicNs();
    pid_t pid = Clone3(flags);
    if (pid == 0) _exit(0);
    call_us.push_back(static_cast<double>(MonotonicNs() - start) / 1e3);
    if (pid < 0) {
      state.SkipWithError(CloneFailure(errno).c_str());
      break;
    }
    Reap(pid);
  }
  state.counters["call_us_p50"] = Median(std::move(call_us));
}
// clone3/NAME, one per row: no namespace, the user namespace alone, each other one beside it.
const bool kClone3Registered = [] {
  constexpr struct {
    const char* name;
    std::uint64_t flags;
  } kRows[] = {{"none", 0},
               {"user", CLONE_NEWUSER},
               {"user_mount", CLONE_NEWUSER | CLONE_NEWNS},
               {"user_pid", CLONE_NEWUSER | CLONE_NEWPID},
               {"user_uts", CLONE_NEWUSER | CLONE_NEWUTS},
               {"user_ipc", CLONE_NEWUSER | CLONE_NEWIPC},
               {"user_net", CLONE_NEWUSER | CLONE_NEWNET},
               {"user_cgroup", CLONE_NEWUSER | CLONE_NEWCGROUP},
               {"all_seven", kAllNamespaces}};
  for (const auto& row : kRows) {
    benchmark::RegisterBenchmark(("clone3/" + std::string(row.name)).c_str(), BM_Clone3, row.flags)
        ->UseRealTime();
  }
  return true;
}();

// A child of `flags` that waits for one byte on `gate` (the parent's write end is the other),
// then runs `body` and exits with its status.
template <typename Body>
pid_t GatedChild(std::uint64_t flags, std::array<int, 2>& gate, Body body) {
  if (pipe2(gate.data(), O_CLOEXEC) != 0) return -1;
  pid_t pid = Clone3(flags);
  if (pid == 0) {
    char go = 0;
    if (read(gate[0], &go, 1) != 1) _exit(2);
    _exit(body());
  }
  int err = errno;
  close(gate[0]);
  if (pid < 0) close(gate[1]);
  errno = err;
  return pid;
}

// Lets the gated child go on.
void Release(std::array<int, 2>& gate) {
  char go = 1;
  (void)!write(gate[1], &go, 1);
  close(gate[1]);
}

IdMapPlan SingleIdMaps() {
  IdMapPlan maps;
  maps.uid_map = "0 " + std::to_string(getuid()) + " 1\n";
  maps.gid_map = "0 " + std::to_string(getgid()) + " 1\n";
  return maps;
}

// The parent's ID-map step alone: uid_map, setgroups, gid_map of a fresh user namespace.
void BM_IdMapWrite(benchmark::State& state) {
  IdMapPlan maps = SingleIdMaps();
  for (auto _ : state) {
    std::array<int, 2> gate{};
    pid_t pid = GatedChild(CLONE_NEWUSER, gate, [] { return 0; });
    if (pid < 0) {
      state.SkipWithError(CloneFailure(errno).c_str());
      break;
    }
    std::uint64_t start = MonotonicNs();
    Status written = WriteIdMapsFromParent(pid, maps);
    state.SetIterationTime(static_cast<double>(MonotonicNs() - start) / 1e9);
    Release(gate);
    Reap(pid);
    if (!written) {
      state.SkipWithError(written.error().Message().c_str());
      break;
    }
  }
}
BENCHMARK(BM_IdMapWrite)->Name("id_map/single")->UseManualTime();

// The child's root: the default plan's mount tree built on a tmpfs, then pivot_root into it and
// the old root detached, timed inside the sandbox (which needs all seven namespaces: proc and
// sysfs mounts want their own pid and net namespaces).
void BM_MountTreeAndPivotRoot(benchmark::State& state) {
  JobSpec spec;
  spec.command = {"/bin/true"};
  auto facts = GatherHostFacts(spec);
  auto plan = facts ? MakePlan(spec, *facts) : Result<Plan>(tl::unexpected(facts.error()));
  if (!plan) {
    state.SkipWithError(plan.error().Message().c_str());
    return;
  }
  IdMapPlan maps = SingleIdMaps();
  std::vector<double> mounts_us, pivot_us;
  for (auto _ : state) {
    int times[2];
    if (pipe2(times, O_CLOEXEC) != 0) {
      state.SkipWithError("pipe2 failed");
      break;
    }
    std::vector<int> source_fds(plan->mounts.size(), -1);
    std::array<int, 2> gate{};
    pid_t pid = GatedChild(plan->clone_flags & kAllNamespaces, gate, [&] {
      RootfsState rootfs;
      rootfs.source_fds = source_fds.data();
      ChildReport report;
      std::uint64_t ns[2];
      std::uint64_t start = MonotonicNs();
      if (!BuildRootInChild(*plan, rootfs, report)) return 3;
      ns[0] = MonotonicNs() - start;
      start = MonotonicNs();
      if (!EnterRootInChild(*plan, rootfs, report)) return 4;
      ns[1] = MonotonicNs() - start;
      return write(times[1], ns, sizeof ns) == sizeof ns ? 0 : 5;
    });
    close(times[1]);
    if (pid < 0) {
      close(times[0]);
      state.SkipWithError(CloneFailure(errno).c_str());
      break;
    }
    Status mapped = WriteIdMapsFromParent(pid, maps);
    Release(gate);
    std::uint64_t ns[2] = {};
    bool got = read(times[0], ns, sizeof ns) == sizeof ns;
    close(times[0]);
    int status = 0;
    Reap(pid, &status);
    if (!mapped || !got) {
      state.SkipWithError(mapped ? ("the child's mount steps failed, status " +
                                    std::to_string(WEXITSTATUS(status)) + ": run `gaol check`")
                                       .c_str()
                                 : mapped.error().Message().c_str());
      break;
    }
    state.SetIterationTime(static_cast<double>(ns[0] + ns[1]) / 1e9);
    mounts_us.push_back(static_cast<double>(ns[0]) / 1e3);
    pivot_us.push_back(static_cast<double>(ns[1]) / 1e3);
  }
  state.counters["mounts_us_p50"] = Median(mounts_us);
  state.counters["pivot_root_us_p50"] = Median(pivot_us);
  state.counters["mount_ops"] = static_cast<double>(plan->mounts.size());
}
BENCHMARK(BM_MountTreeAndPivotRoot)->Name("rootfs/mounts_and_pivot_root")->UseManualTime();

// The delegated cgroup v2 directory to make leaves in: GAOL_BENCH_CGROUP_PARENT, as gaol's
// --cgroup-parent (looking for one could move this process into a systemd scope).
std::optional<cgroup::Parent> CgroupParent(std::string& why) {
  const char* dir = std::getenv("GAOL_BENCH_CGROUP_PARENT");
  if (dir == nullptr || *dir == '\0') {
    why = "no delegated cgroup v2 directory: set GAOL_BENCH_CGROUP_PARENT (as --cgroup-parent)";
    return std::nullopt;
  }
  auto found = cgroup::FindParent(std::string(dir));
  if (!found || !found->parent) {
    why = found ? "GAOL_BENCH_CGROUP_PARENT: " + found->note : found.error().Message();
    return std::nullopt;
  }
  return found->parent;
}

// A job's leaf made (with memory and pids limits when `limits` and the parent gives those
// controllers) and removed: cgroup.kill, wait for empty, rmdir.
void BM_CgroupLeaf(benchmark::State& state, bool limits) {
  std::string why;
  auto parent = CgroupParent(why);
  if (!parent) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::set<std::string> controllers;
  std::vector<std::pair<std::string, std::string>> files;
  if (limits) {
    for (const char* c : {"memory", "pids"}) {
      if (parent->controllers.count(c) == 0) {
        state.SkipWithError(("the cgroup parent does not give the " + std::string(c) +
                             " controller to its children")
                                .c_str());
        return;
      }
      controllers.insert(c);
    }
    files = {{"memory.max", "67108864"}, {"pids.max", "64"}};
  }
  for (auto _ : state) {
    auto leaf = cgroup::Leaf::Create(*parent, controllers, files);
    if (!leaf) {
      state.SkipWithError(leaf.error().Message().c_str());
      break;
    }
    if (auto removed = leaf->Remove(); !removed) {
      state.SkipWithError(removed.error().Message().c_str());
      break;
    }
  }
}
BENCHMARK_CAPTURE(BM_CgroupLeaf, bare, false)->Name("cgroup/leaf_create_remove")->UseRealTime();
BENCHMARK_CAPTURE(BM_CgroupLeaf, limits, true)
    ->Name("cgroup/leaf_create_remove_with_limits")
    ->UseRealTime();

// clone3 of gaol's seven namespaces born in a fresh leaf (CLONE_INTO_CGROUP), to exit and reaped,
// as clone3/all_seven but for the leaf: what entering a cgroup at clone adds to the launch.
void BM_Clone3IntoLeaf(benchmark::State& state) {
  std::string why;
  auto parent = CgroupParent(why);
  if (!parent) {
    state.SkipWithError(why.c_str());
    return;
  }
  std::vector<double> call_us;
  for (auto _ : state) {
    auto leaf = cgroup::Leaf::Create(*parent, {}, {});
    if (!leaf) {
      state.SkipWithError(leaf.error().Message().c_str());
      break;
    }
    std::uint64_t start = MonotonicNs();
    pid_t pid = Clone3(kAllNamespaces, leaf->DirFd());
    if (pid == 0) _exit(0);
    call_us.push_back(static_cast<double>(MonotonicNs() - start) / 1e3);
    if (pid < 0) {
      state.SkipWithError(CloneFailure(errno).c_str());
      break;
    }
    Reap(pid);
    state.SetIterationTime(static_cast<double>(MonotonicNs() - start) / 1e9);
  }
  state.counters["call_us_p50"] = Median(std::move(call_us));
}
BENCHMARK(BM_Clone3IntoLeaf)->Name("cgroup/clone3_all_seven_into_new_leaf")->UseManualTime();

// The whole of `gaol run -- /bin/true` in-process (the library's RunJob), with the median of each
// launch step as a counter (microseconds): where a launch's time goes.
void BM_LaunchTrue(benchmark::State& state) {
  JobSpec spec;
  spec.command = {"/bin/true"};
  if (const char* dir = std::getenv("GAOL_BENCH_CGROUP_PARENT"); dir && *dir) {
    spec.cgroup_parent = dir;
  }
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  CallerStdio stdio{null_fd, null_fd, null_fd};
  std::map<Step, std::vector<double>> steps;
  for (auto _ : state) {
    RunResult result = RunJob(spec, stdio);
    if (result.status != RunStatus::kOk || result.exit_code != 0) {
      state.SkipWithError(result.error ? result.error->Message().c_str()
                                       : "/bin/true did not exit 0");
      break;
    }
    for (const auto& [step, seconds] : result.launch_steps) steps[step].push_back(seconds * 1e6);
  }
  close(null_fd);
  for (auto& [step, us] : steps) {
    state.counters["step_" + std::string(StepName(step)) + "_us"] = Median(std::move(us));
  }
}
BENCHMARK(BM_LaunchTrue)->Name("launch/true_default")->UseRealTime();

}  // namespace
}  // namespace gaol
