// The cgroup controllers, enforced for real: run in the qemu VM tier (tests/vm/), as uid 1000 in
// a subtree delegated with memory, pids and cpu. This build machine's kernel has none of them
// delegated, so these tests run only there.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "tests/integration/harness.h"

using gaol::it::RunProbe;

namespace {

std::string Parent() {
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  if (!parent) FAIL("GAOL_CGROUP_PARENT is unset: the [vm] tier runs in tests/vm/run-vm-tests.sh");
  return parent;
}

}  // namespace

TEST_CASE("a memory hog over --memory 64m is memory_limit, its peak at most the limit", "[vm]") {
  auto run = RunProbe({"--cgroup-parent", Parent(), "--memory", "64m"}, {"hog", "200000000"});
  INFO(run.err);
  CHECK(run.result["status"] == "memory_limit");
  CHECK(run.result["oom_killed"] == true);
  CHECK(run.result["enforcement"]["memory"] == "cgroup");
  CHECK(run.result["peak_memory_bytes"] <= 64 * 1024 * 1024);
  CHECK(run.result["peak_memory_bytes"] > 32 * 1024 * 1024);
}

TEST_CASE("a fork bomb under --pids-limit 16 is contained", "[vm]") {
  auto run = RunProbe({"--cgroup-parent", Parent(), "--pids-limit", "16"}, {"fork", "200"});
  INFO(run.err);
  auto p = run.Probe();
  CHECK(run.result["status"] == "pids_limit");
  CHECK(run.result["enforcement"]["pids"] == "cgroup");
  // PID 1 and the job are two of the 16.
  CHECK(p["forked"] == 14);
  CHECK(p["errno"] == "EAGAIN");
  CHECK(run.result["pids_peak"] == 16);
}

TEST_CASE("a spinner under --cpus 0.5 gets half a CPU", "[vm]") {
  auto run = RunProbe({"--cgroup-parent", Parent(), "--cpus", "0.5", "--wall-time-limit", "2s"},
                      {"spin", "30"});
  INFO(run.err);
  CHECK(run.result["status"] == "wall_time_limit");
  CHECK(run.result["enforcement"]["cpu"] == "cgroup");
  double share =
      run.result["cpu_time_seconds"].get<double>() / run.result["wall_time_seconds"].get<double>();
  // cpu.max is checked at the scheduler tick (4 ms at HZ=250), and under TCG ticks come late: a
  // period's quota can run over by a tick or two. In this tier the share measured 0.53-0.555
  // (figures mode: worst +0.044 in 1 s windows; one CI run: 0.5549 in 2 s). Unthrottled is 1.0.
  CHECK(share >= 0.45);
  CHECK(share <= 0.60);
}

TEST_CASE("--device-write-bps throttles direct writes to a block device", "[vm]") {
  // The VM's init made /data an ext2 on /dev/vda, writable by this uid.
  std::vector<std::string> write = {"-v",      "/data:/data",  "--",
                                    "/bin/dd", "if=/dev/zero", "of=/data/f",
                                    "bs=1M",   "count=4",      "oflag=direct"};
  std::vector<std::string> free_args = {"--cgroup-parent", Parent()};
  free_args.insert(free_args.end(), write.begin(), write.end());
  auto free = gaol::it::RunGaol(free_args);
  INFO(free.err);
  REQUIRE(free.exit_status == 0);
  double free_rate = 4.0 / free.result["wall_time_seconds"].get<double>();
  std::vector<std::string> limited_args = {"--cgroup-parent", Parent(), "--device-write-bps",
                                           "/dev/vda:1mb"};
  limited_args.insert(limited_args.end(), write.begin(), write.end());
  auto limited = gaol::it::RunGaol(limited_args);
  INFO(limited.err << " free rate " << free_rate << " MiB/s");
  REQUIRE(limited.exit_status == 0);
  CHECK(limited.result["enforcement"]["io"] == "cgroup");
  double rate = 4.0 / limited.result["wall_time_seconds"].get<double>();
  CHECK(rate <= 1.3);
  CHECK(rate >= 0.7);
  CHECK(free_rate > 2.0);  // the control: unthrottled, the same writes go faster
}

namespace {

// A cgroup of gaol's own under the delegated parent, with memory and pids to give.
struct OwnCgroup {
  std::string dir = Parent() + "/solo";
  OwnCgroup() {
    std::ofstream(Parent() + "/cgroup.subtree_control") << "+memory +pids";
    mkdir(dir.c_str(), 0755);
    gaol::it::SetGaolCgroup(dir);
  }
  ~OwnCgroup() {
    gaol::it::SetGaolCgroup("");
    // What gaol leaves: its own (empty) launcher leaf, which the next run would reap.
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) {
        if (std::string(e->d_name).starts_with("gaol-")) rmdir((dir + "/" + e->d_name).c_str());
      }
      closedir(d);
    }
    rmdir(dir.c_str());
  }
  std::vector<std::string> Children() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
      while (dirent* e = readdir(d)) {
        if (std::string(e->d_name).starts_with("gaol-")) out.push_back(e->d_name);
      }
      closedir(d);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("alone in its own cgroup, gaol moves into a leaf and enables the controllers", "[vm]") {
  OwnCgroup own;
  auto run = RunProbe({"--memory", "64m", "--pids-limit", "16"}, {"hog", "200000000"});
  INFO(run.err);
  CHECK(run.result["status"] == "memory_limit");
  CHECK(run.result["enforcement"]["memory"] == "cgroup");
  CHECK(run.result["enforcement"]["pids"] == "cgroup");
  CHECK(run.result["warnings"].empty());
  // Its launcher leaf stays (a process cannot remove its own cgroup) until a later run with that
  // cgroup as its parent reaps it; a systemd scope is removed whole when it empties.
  auto left = own.Children();
  REQUIRE(left.size() == 1);
  CHECK(left[0].starts_with("gaol-launcher-"));
  gaol::it::SetGaolCgroup("");
  auto again = RunProbe({"--cgroup-parent", own.dir, "--memory", "64m"}, {"exit", "0"});
  CHECK(again.result["status"] == "ok");
  CHECK(own.Children().empty());
}

TEST_CASE("sharing its cgroup with other processes, gaol falls back and says why", "[vm]") {
  // Without a user bus: with one, gaol moves into a systemd scope (systemd_test.cc).
  gaol::it::ScopedEnv no_address("DBUS_SESSION_BUS_ADDRESS", nullptr);
  gaol::it::ScopedEnv no_runtime("XDG_RUNTIME_DIR", nullptr);
  OwnCgroup own;
  pid_t sleeper = fork();
  if (sleeper == 0) {
    std::ofstream(own.dir + "/cgroup.procs") << "0";
    execl("/bin/sleep", "sleep", "60", nullptr);
    _exit(1);
  }
  usleep(100000);
  auto run = RunProbe({"--memory", "64m"}, {"exit", "0"});
  kill(sleeper, SIGKILL);
  waitpid(sleeper, nullptr, 0);
  INFO(run.err);
  CHECK(run.result["status"] == "ok");
  CHECK(run.result["enforcement"]["memory"] == "rlimit");
  // Two warnings: why there is no cgroup, and what RLIMIT_AS does not bound.
  REQUIRE(run.result["warnings"].size() == 2);
  CHECK(run.result["warnings"][0].get<std::string>().find("memfds and shared memory") !=
        std::string::npos);
  CHECK(run.result["warnings"][1].get<std::string>().find("holds other processes") !=
        std::string::npos);
  CHECK(run.err.find("holds other processes") != std::string::npos);
}

TEST_CASE("without memory.peak, memory.current is sampled", "[vm]") {
  // Two hogs of 30 MB that overlap: no one process's ru_maxrss comes near the leaf's 60 MB.
  std::vector<std::string> args = {"--ro-bind",
                                   gaol::it::ProbeDir(),
                                   "/probe",
                                   "--cgroup-parent",
                                   Parent(),
                                   "--memory",
                                   "128m",
                                   "--",
                                   "/bin/sh",
                                   "-c",
                                   "/probe/gaol-probe hog 30000000 1 & "
                                   "/probe/gaol-probe hog 30000000 1; wait"};
  setenv("GAOL_TEST_SAMPLE_MEMORY", "1", 1);
  auto sampled = gaol::it::RunGaol(args);
  unsetenv("GAOL_TEST_SAMPLE_MEMORY");
  auto exact = gaol::it::RunGaol(args);
  INFO(sampled.err);
  CHECK(sampled.result["status"] == "ok");
  CHECK(sampled.result["peak_memory_source"] == "memory.current");
  CHECK(exact.result["peak_memory_source"] == "memory.peak");
  auto peak = sampled.result["peak_memory_bytes"].get<double>();
  CHECK(peak >= 60000000);
  // Within 10 % of what memory.peak says for the same job.
  CHECK(peak >= 0.9 * exact.result["peak_memory_bytes"].get<double>());
  CHECK(peak <= 128 * 1024 * 1024);
}
