// Resource limits on the real kernel. [resources]: this host gives uid 65534 no delegated cgroup,
// so limits fall back to rlimits and the result says so. [cgroup]: a subtree delegated by chown
// (run-unprivileged.sh prepares it as root): exact accounting, the CPU-time limit from cpu.stat,
// cgroup.kill and the leaf's removal.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "tests/integration/harness.h"

using gaol::it::RunGaol;
using gaol::it::RunProbe;

namespace {

std::string DelegatedParent() {
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  if (!parent) FAIL("GAOL_CGROUP_PARENT is unset: run through run-unprivileged.sh as root");
  return parent;
}

// The cgroup2 mount point, from mountinfo.
std::string Cgroup2Root() {
  FILE* f = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  std::string root;
  while (f && fgets(line, sizeof(line), f)) {
    std::string l = line;
    auto dash = l.find(" - cgroup2 ");
    if (dash == std::string::npos) continue;
    char id[32], parent[32], dev[32], rel[1024], mount[1024];
    if (sscanf(line, "%31s %31s %31s %1023s %1023s", id, parent, dev, rel, mount) == 5)
      root = mount;
    break;
  }
  if (f) fclose(f);
  return root;
}

std::vector<std::string> Children(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_type == DT_DIR && e->d_name[0] != '.') out.push_back(e->d_name);
    }
    closedir(d);
  }
  return out;
}

}  // namespace

TEST_CASE("without a delegated cgroup, --time-limit falls back to RLIMIT_CPU", "[resources]") {
  auto run = RunProbe({"--time-limit", "1"}, {"spin", "30"});
  INFO(run.err);
  CHECK(run.result["status"] == "time_limit");
  CHECK(run.result["enforcement"]["time_limit"] == "rlimit");
  CHECK(run.result["accounting"] == "rusage");
  // RLIMIT_CPU fires on tick-sampled CPU time, ahead of the exact time when the machine is busy
  // (0.88 s of exact time for the 1 s limit seen with both CPUs compiling).
  CHECK(run.result["signal_name"] == "SIGXCPU");
  CHECK(run.result["cpu_time_seconds"] >= 0.75);
  CHECK(run.result["cpu_time_seconds"] < 2.5);
  CHECK(run.err.find("time_limit by rlimit") != std::string::npos);
}

TEST_CASE("without a delegated cgroup, --memory falls back to RLIMIT_AS", "[resources]") {
  auto run = RunProbe({"--memory", "64m"}, {"hog", "200000000"});
  auto p = run.Probe();
  CHECK(run.result["enforcement"]["memory"] == "rlimit");
  CHECK(p["ok"] == false);
  CHECK(p["errno"] == "ENOMEM");
  CHECK(p["allocated"] < 64 * 1024 * 1024);
}

TEST_CASE("without a delegated cgroup, every tmpfs holds no more than --memory", "[resources]") {
  // RLIMIT_AS does not count tmpfs pages: the size cap does. 64 MiB asked into /tmp (64 MiB by
  // default) and into a --tmpfs of 1 GiB, under a 32 MiB limit.
  for (const char* dir : {"/tmp", "/big"}) {
    INFO(dir);
    std::string file = std::string(dir) + "/f";
    auto run = gaol::it::RunGaol(
        {"--memory", "32m", "--tmpfs", "/big:size=1g", "--", "/bin/sh", "-c",
         "head -c 67108864 /dev/zero > " + file + "; s=$?; wc -c < " + file + "; exit $s"});
    CHECK(run.result["enforcement"]["memory"] == "rlimit");
    INFO(run.err);
    CHECK(run.result["status"] == "nonzero_exit");  // the write failed: ENOSPC
    CHECK(std::stoull(run.out) <= 32ULL << 20);
    std::string warnings = run.result["warnings"].dump();
    CHECK_THAT(warnings, Catch::Contains("memfds and shared memory") &&
                             Catch::Contains("tmpfs `/big`: size capped"));
  }
}

TEST_CASE("without a delegated cgroup, --pids-limit falls back to RLIMIT_NPROC", "[resources]") {
  auto run = RunProbe({"--pids-limit", "5"}, {"fork", "50"});
  auto p = run.Probe();
  CHECK(run.result["enforcement"]["pids"] == "rlimit");
  // Five processes in all: the job and the four it could fork (PID 1 is not counted against it).
  CHECK(p["forked"] == 4);
  CHECK(p["errno"] == "EAGAIN");
}

TEST_CASE("limits no rlimit can stand in for are reported as none", "[resources]") {
  auto run = RunProbe({"--cpus", "0.5", "--cpu-weight", "50", "-q"}, {"exit", "0"});
  CHECK(run.exit_status == 0);
  CHECK(run.result["enforcement"]["cpu"] == "none");
  CHECK(run.result["enforcement"]["cpu_weight"] == "none");
  CHECK(run.err.empty());  // -q: no warning line
}

TEST_CASE("--require-cgroup refuses to fall back", "[resources]") {
  auto before = gaol::it::TakeLeftovers();
  auto run = RunGaol({"--require-cgroup", "--memory", "64m", "--", "/bin/true"});
  CHECK(run.exit_status == 125);
  CHECK(run.err.find("--require-cgroup") != std::string::npos);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  CHECK(gaol::it::TakeLeftovers().children.empty());
  CHECK(gaol::it::TakeLeftovers().mounts == before.mounts);
}

TEST_CASE("--cgroup-parent must be a delegated cgroup v2 directory", "[cgroup]") {
  std::string parent = DelegatedParent();
  auto not_cgroup = RunGaol({"--cgroup-parent", "/tmp", "--", "/bin/true"});
  CHECK(not_cgroup.exit_status == 125);
  CHECK(not_cgroup.err.find("cgroup v2") != std::string::npos);
  // The hierarchy's root belongs to root: not delegated to this uid.
  std::string root = Cgroup2Root();
  REQUIRE(!root.empty());
  auto not_delegated = RunGaol({"--cgroup-parent", root, "--", "/bin/true"});
  CHECK(not_delegated.exit_status == 125);
  CHECK(not_delegated.err.find("delegated") != std::string::npos);
}

// [timing]: the 50 ms bound holds on real hardware, not always under the VM tier's emulation.
TEST_CASE("in a delegated cgroup the CPU-time limit is exact and accounting comes from it",
          "[cgroup][timing]") {
  std::string parent = DelegatedParent();
  auto run = RunProbe({"--cgroup-parent", parent, "--time-limit", "1s"}, {"spin", "30"});
  INFO(run.err);
  CHECK(run.result["status"] == "time_limit");
  CHECK(run.result["enforcement"]["time_limit"] == "cgroup");
  CHECK(run.result["accounting"] == "cgroup");
  CHECK(run.result["cpu_time_seconds"] >= 1.0);
  CHECK(run.result["cpu_time_seconds"] <= 1.05);
  CHECK(run.result["launch"]["steps"]["cgroup"] > 0.0);
  CHECK(run.result["launch"]["steps"]["cleanup"] > 0.0);
  CHECK(Children(parent).empty());
}

// Pids of "/probe/gaol-probe sleep 61": the stragglers' command line is theirs alone.
std::vector<pid_t> Stragglers() {
  static const char kCmdline[] =
      "/probe/gaol-probe\0sleep\0"
      "61";
  const std::string wanted(kCmdline, sizeof(kCmdline));  // with the final NUL
  std::vector<pid_t> out;
  if (DIR* proc = opendir("/proc")) {
    while (dirent* e = readdir(proc)) {
      FILE* f = fopen((std::string("/proc/") + e->d_name + "/cmdline").c_str(), "r");
      if (!f) continue;
      char cmdline[64] = {};
      std::size_t n = fread(cmdline, 1, sizeof(cmdline) - 1, f);
      fclose(f);
      if (std::string(cmdline, n) == wanted) out.push_back(std::atoi(e->d_name));
    }
    closedir(proc);
  }
  return out;
}

TEST_CASE("processes the job leaves behind are killed with its leaf", "[cgroup]") {
  std::string parent = DelegatedParent();
  // Sharing the pid namespace, PID 1's kill(-1) cannot sweep up: PID 1, a subreaper, ends its
  // descendants one by one; with a leaf, cgroup.kill ends them all at once.
  std::vector<std::string> args = {"--share",
                                   "pid",
                                   "--ro-bind",
                                   gaol::it::ProbeDir(),
                                   "/probe",
                                   "--",
                                   "/bin/sh",
                                   "-c",
                                   "/probe/gaol-probe sleep 61 >/dev/null & "
                                   "/probe/gaol-probe sleep 61 >/dev/null &"};
  SECTION("without a cgroup PID 1 ends them (they outlived the job before it did)") {
    auto run = RunGaol(args);
    CHECK(run.exit_status == 0);
    auto left = Stragglers();
    CHECK(left.empty());
    for (pid_t pid : left) kill(pid, SIGKILL);
  }
  SECTION("with its leaf they die with the job") {
    args.insert(args.begin(), {"--cgroup-parent", parent});
    auto run = RunGaol(args);
    CHECK(run.exit_status == 0);
    CHECK(run.result["accounting"] == "cgroup");
    CHECK(Children(parent).empty());
    CHECK(Stragglers().empty());
  }
}

TEST_CASE("a leaf orphaned by a killed gaol is removed by the next run", "[cgroup]") {
  std::string parent = DelegatedParent();
  // A leaf named for a pid that is no gaol: what a SIGKILLed gaol leaves.
  std::string orphan = parent + "/gaol-job-999999999";
  REQUIRE(mkdir(orphan.c_str(), 0755) == 0);
  auto run = RunGaol({"--cgroup-parent", parent, "--", "/bin/true"});
  CHECK(run.exit_status == 0);
  struct stat st;
  CHECK(stat(orphan.c_str(), &st) != 0);
}

TEST_CASE("nothing is left in the subtree after many runs", "[cgroup]") {
  std::string parent = DelegatedParent();
  for (int i = 0; i < 200; ++i) {
    auto run = RunGaol({"--cgroup-parent", parent, "--wall-time-limit", "5s", "--", "/bin/true"});
    REQUIRE(run.exit_status == 0);
  }
  CHECK(Children(parent).empty());
  CHECK(gaol::it::TakeLeftovers().processes.empty());
}
