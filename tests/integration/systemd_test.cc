// gaol asking the user's systemd instance for a delegated scope, for real: in the qemu VM tier
// (tests/vm/), whose init runs systemd --user for uid 1000 in user@1000.service with memory and
// pids delegated (not cpu, as systemd does by default) and the user bus up. These tests run as
// uid 1000 with XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS set, as in a login.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness.h"

using gaol::it::RunProbe;

namespace {

// A login session's cgroup, owned by root: gaol cannot create its job's cgroup there.
std::string SessionCgroup() {
  const char* dir = std::getenv("GAOL_SESSION_CGROUP");
  if (!dir)
    FAIL("GAOL_SESSION_CGROUP is unset: the [systemd] tests run in tests/vm/run-vm-tests.sh");
  if (!std::getenv("DBUS_SESSION_BUS_ADDRESS")) FAIL("no user bus: DBUS_SESSION_BUS_ADDRESS unset");
  return dir;
}

// Starts gaol in `dir` for the scope of the object.
struct StartIn {
  explicit StartIn(const std::string& dir) { gaol::it::SetGaolCgroup(dir); }
  ~StartIn() { gaol::it::SetGaolCgroup(""); }
};

std::string Capture(const std::string& command) {
  std::string out;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buf[4096];
    for (std::size_t n; (n = fread(buf, 1, sizeof(buf), pipe)) > 0;) out.append(buf, n);
    pclose(pipe);
  }
  return out;
}

// The scope's cgroups under the user's manager, found by name.
std::vector<std::string> ScopeDirs(const std::string& unit) {
  std::vector<std::string> found;
  std::error_code ec;
  std::filesystem::recursive_directory_iterator it("/sys/fs/cgroup/user.slice", ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == unit) found.push_back(it->path());
  }
  return found;
}

// systemd collects the scope once gaol has exited: gone from its units and from the cgroup tree
// (waited for up to 5 s: the scope is stopped when systemd sees its cgroup empty).
bool ScopeGone(const std::string& unit) {
  for (int i = 0; i < 50; ++i) {
    std::string units = Capture("systemctl --user list-units --all --no-legend --plain 'gaol-*'");
    if (units.find(unit) == std::string::npos && ScopeDirs(unit).empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

bool Mentions(const nlohmann::json& warnings, const std::string& text) {
  for (const auto& w : warnings) {
    if (w.get<std::string>().find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("from a cgroup it cannot write, gaol enforces --memory in a systemd scope",
          "[vm][systemd]") {
  StartIn session(SessionCgroup());
  auto run = RunProbe({"--memory", "64m", "--pids-limit", "16"}, {"hog", "200000000"});
  INFO(run.err);
  CHECK(run.result["status"] == "memory_limit");
  CHECK(run.result["oom_killed"] == true);
  CHECK(run.result["enforcement"]["memory"] == "cgroup");
  CHECK(run.result["enforcement"]["pids"] == "cgroup");
  CHECK(run.result["peak_memory_bytes"] <= 64 * 1024 * 1024);
  CHECK(run.result["accounting"] == "cgroup");
  CHECK(run.result["warnings"].empty());
  REQUIRE(run.result["systemd_scope"].is_string());
  std::string unit = run.result["systemd_scope"];
  CHECK(unit.starts_with("gaol-"));
  CHECK(unit.ends_with(".scope"));
  CHECK(run.result["launch"]["steps"]["systemd_scope"].get<double>() > 0);
  CHECK(ScopeGone(unit));
}

TEST_CASE("while the job runs, systemd lists gaol's scope and the job's leaf is in it",
          "[vm][systemd]") {
  StartIn session(SessionCgroup());
  std::string listed;
  std::vector<std::string> dirs;
  bool leaves = false;  // the job's leaf and gaol's own, in the scope
  auto run = gaol::it::RunGaol(
      {"--memory", "64m", "--", "/bin/sh", "-c", "echo ready; sleep 1"},
      [&](pid_t pid, const std::string& out) {
        if (out.find("ready") == std::string::npos || !listed.empty()) return;
        listed = Capture("systemctl --user list-units --all --no-legend --plain 'gaol-*'");
        std::string prefix = "gaol-" + std::to_string(pid) + "-";
        std::error_code ec;
        std::filesystem::recursive_directory_iterator it("/sys/fs/cgroup/user.slice", ec), end;
        for (; !ec && it != end; it.increment(ec)) {
          if (it->path().filename().string().starts_with(prefix)) dirs.push_back(it->path());
        }
        std::string id = std::to_string(pid);
        leaves = dirs.size() == 1 &&
                 std::filesystem::exists(dirs[0] + "/gaol-job-" + id + "/cgroup.procs") &&
                 std::filesystem::exists(dirs[0] + "/gaol-launcher-" + id + "/cgroup.procs");
      });
  INFO(run.err);
  REQUIRE(run.result["systemd_scope"].is_string());
  std::string unit = run.result["systemd_scope"];
  CHECK(listed.find(unit) != std::string::npos);
  CHECK(listed.find("active") != std::string::npos);
  REQUIRE(dirs.size() == 1);
  CHECK(dirs[0].find("/user@1000.service/") != std::string::npos);
  CHECK(dirs[0].ends_with("/" + unit));
  CHECK(leaves);
  CHECK(ScopeGone(unit));
}

TEST_CASE("--cpus in a scope without the cpu controller falls back and names the drop-in",
          "[vm][systemd]") {
  StartIn session(SessionCgroup());
  auto run = RunProbe({"--cpus", "0.5", "--memory", "64m"}, {"exit", "0"});
  INFO(run.err);
  CHECK(run.result["status"] == "ok");
  CHECK(run.result["enforcement"]["cpu"] == "none");
  CHECK(run.result["enforcement"]["memory"] == "cgroup");
  REQUIRE(run.result["systemd_scope"].is_string());
  const auto& warnings = run.result["warnings"];
  CHECK(Mentions(warnings, "/etc/systemd/system/user@.service.d/delegate.conf"));
  CHECK(Mentions(warnings, "Delegate=cpu cpuset io memory pids"));
  CHECK(Mentions(warnings, "cpu, cpuset, io not delegated"));
  CHECK(Mentions(warnings, run.result["systemd_scope"].get<std::string>()));
  CHECK(run.err.find("user@.service.d/delegate.conf") != std::string::npos);
  CHECK(ScopeGone(run.result["systemd_scope"]));
}

TEST_CASE("--require-cgroup with --cpus in such a scope is an error naming the drop-in",
          "[vm][systemd]") {
  StartIn session(SessionCgroup());
  auto run = RunProbe({"--require-cgroup", "--cpus", "0.5"}, {"exit", "0"});
  INFO(run.err);
  CHECK(run.exit_status == 125);
  CHECK(run.err.find("--require-cgroup") != std::string::npos);
  CHECK(run.err.find("user@.service.d/delegate.conf") != std::string::npos);
  // The scope gaol moved into before planning is collected all the same.
  REQUIRE(run.result["systemd_scope"].is_string());
  CHECK(ScopeGone(run.result["systemd_scope"]));
}

TEST_CASE("sharing its cgroup with other processes, gaol with a user bus moves into a scope",
          "[vm][systemd]") {
  SessionCgroup();
  // Started where the test runner is: a cgroup gaol may write but cannot give controllers from.
  auto run = RunProbe({"--memory", "64m"}, {"hog", "200000000"});
  INFO(run.err);
  CHECK(run.result["status"] == "memory_limit");
  CHECK(run.result["enforcement"]["memory"] == "cgroup");
  CHECK(run.result["warnings"].empty());
  REQUIRE(run.result["systemd_scope"].is_string());
  CHECK(ScopeGone(run.result["systemd_scope"]));
}

TEST_CASE("without a user bus, gaol falls back at once as before", "[vm][systemd]") {
  StartIn session(SessionCgroup());
  gaol::it::ScopedEnv no_address("DBUS_SESSION_BUS_ADDRESS", nullptr);
  gaol::it::ScopedEnv no_runtime("XDG_RUNTIME_DIR", nullptr);
  auto run = RunProbe({"--memory", "64m"}, {"exit", "0"});
  INFO(run.err);
  CHECK(run.result["status"] == "ok");
  CHECK(run.result["enforcement"]["memory"] == "rlimit");
  CHECK(run.result["systemd_scope"].is_null());
  // Nothing about the bus: the one warning says what RLIMIT_AS does not bound.
  REQUIRE(run.result["warnings"].size() == 1);
  CHECK(run.result["warnings"][0].get<std::string>().find("memfds and shared memory") !=
        std::string::npos);
  CHECK_FALSE(run.result["launch"]["steps"].contains("systemd_scope"));
  // Planning, the cgroup search included, took no D-Bus time-out (25 s) nor gaol's own (5 s): the
  // bounds leave room for software emulation, where this plan takes some 50 ms.
  double plan = run.result["launch"]["steps"]["plan"];
  std::printf("GAOL-SCOPE-TIMING without a user bus: plan step %.2f ms\n", plan * 1e3);
  CHECK(plan < 0.5);
}

TEST_CASE("a user bus that is not there, or has no systemd on it, costs no time-out",
          "[vm][systemd]") {
  StartIn session(SessionCgroup());
  SECTION("a stale address") {
    gaol::it::ScopedEnv address("DBUS_SESSION_BUS_ADDRESS", "unix:path=/tmp/gaol-no-such-bus");
    auto run = RunProbe({"--memory", "64m"}, {"exit", "0"});
    INFO(run.err);
    CHECK(run.result["status"] == "ok");
    CHECK(run.result["enforcement"]["memory"] == "rlimit");
    CHECK(Mentions(run.result["warnings"], "systemd --user gave gaol no cgroup scope"));
    double plan = run.result["launch"]["steps"]["plan"];
    std::printf("GAOL-SCOPE-TIMING with a stale bus address: plan step %.2f ms\n", plan * 1e3);
    CHECK(plan < 1.0);
  }
  SECTION("a session bus without systemd") {
    // A second dbus-daemon of this user, with no systemd on it: StartTransientUnit must not
    // wait for an activation that never comes.
    std::string path = "/tmp/gaol-bare-bus";
    unlink(path.c_str());
    pid_t daemon = fork();
    if (daemon == 0) {
      std::string address = "--address=unix:path=" + path;
      execl("/usr/bin/dbus-daemon", "dbus-daemon", "--session", "--nofork", "--nopidfile",
            address.c_str(), nullptr);
      _exit(127);
    }
    for (int i = 0; i < 100 && access(path.c_str(), F_OK) != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string address = "unix:path=" + path;
    gaol::it::ScopedEnv bus("DBUS_SESSION_BUS_ADDRESS", address.c_str());
    auto start = std::chrono::steady_clock::now();
    auto run = RunProbe({"--memory", "64m"}, {"exit", "0"});
    auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    kill(daemon, SIGTERM);
    waitpid(daemon, nullptr, 0);
    INFO(run.err);
    CHECK(run.result["status"] == "ok");
    CHECK(run.result["enforcement"]["memory"] == "rlimit");
    CHECK(Mentions(run.result["warnings"], "org.freedesktop.systemd1"));
    double plan = run.result["launch"]["steps"]["plan"];
    std::printf("GAOL-SCOPE-TIMING with a bus without systemd: plan step %.2f ms\n", plan * 1e3);
    CHECK(plan < 1.0);
    CHECK(took < 3.0);
  }
}

TEST_CASE("the systemd scope's round trip, 10 runs", "[vm][systemd]") {
  StartIn session(SessionCgroup());
  std::vector<double> seconds;
  for (int i = 0; i < 10; ++i) {
    auto run = RunProbe({"--memory", "64m"}, {"exit", "0"});
    INFO(run.err);
    REQUIRE(run.result["systemd_scope"].is_string());
    seconds.push_back(run.result["launch"]["steps"]["systemd_scope"].get<double>());
  }
  std::sort(seconds.begin(), seconds.end());
  std::printf(
      "GAOL-SCOPE-TIMING systemd_scope step over 10 runs: min %.2f ms, median %.2f ms, "
      "max %.2f ms\n",
      seconds.front() * 1e3, (seconds[4] + seconds[5]) / 2 * 1e3, seconds.back() * 1e3);
  CHECK(seconds.back() < 5.0);
}
