// PID 1, the job's process, its environment, stdio and exit statuses.
#include <fcntl.h>
#include <linux/keyctl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/integration/harness.h"

using gaol::it::ReadToEnd;
using gaol::it::RunGaol;
using gaol::it::RunProbe;

TEST_CASE("exit statuses follow docker run", "[process]") {
  SECTION("the job's own code") {
    auto run = RunProbe({}, {"exit", "3"});
    CHECK(run.exit_status == 3);
    CHECK(run.result["status"] == "nonzero_exit");
    CHECK(run.result["exit_code"] == 3);
  }
  SECTION("a crash is signaled with its signal, 128+N") {
    auto run = RunProbe({}, {"crash"});
    CHECK(run.exit_status == 128 + SIGSEGV);
    CHECK(run.result["status"] == "signaled");
    CHECK(run.result["signal"] == SIGSEGV);
    CHECK(run.result["signal_name"] == "SIGSEGV");
    CHECK(run.result["exit_code"].is_null());
  }
  SECTION("a command not found is 127") {
    auto run = RunGaol({"--", "no-such-command-here"});
    CHECK(run.exit_status == 127);
    CHECK(run.result["status"] == "setup_error");
    CHECK(run.result["error"]["step"] == "exec");
    CHECK(run.result["error"]["errno"] == "ENOENT");
  }
  SECTION("a command that cannot be executed is 126") {
    auto run = RunGaol({"--", "/etc/passwd"});
    CHECK(run.exit_status == 126);
    CHECK(run.result["error"]["errno"] == "EACCES");
  }
}

TEST_CASE("PID 1 reaps orphans", "[process]") {
  auto run = RunProbe({}, {"orphan"});
  REQUIRE(run.exit_status == 0);
  CHECK(run.Probe()["reaped"] == true);
}

TEST_CASE("PID 1 forwards SIGTERM from gaol's caller to the job", "[process]") {
  bool sent = false;
  auto run =
      RunGaol({"--ro-bind", gaol::it::ProbeDir(), "/probe", "--", "/probe/gaol-probe", "sigterm"},
              [&](pid_t pid, const std::string& out) {
                if (!sent && out.find("\"ready\":true") != std::string::npos) {
                  kill(pid, SIGTERM);
                  sent = true;
                }
              });
  REQUIRE(sent);
  CHECK(run.out.find("\"got\":\"SIGTERM\"") != std::string::npos);
  CHECK(run.exit_status == 42);
  CHECK(run.result["status"] == "nonzero_exit");
}

TEST_CASE("environment: minimal by default, -e, --env-file, --clear-env", "[process]") {
  std::string dir = gaol::it::MakeTempDir();
  std::ofstream(dir + "/env") << "# comment\nFROM_FILE=1\n\nOTHER=two words\n";
  auto run = RunProbe({"-e", "A=b", "--env-file", dir + "/env"}, {"report"});
  auto env = run.Probe()["env"];
  CHECK(env["A"] == "b");
  CHECK(env["FROM_FILE"] == "1");
  CHECK(env["OTHER"] == "two words");
  CHECK(env["HOME"] == "/tmp");
  auto clear = RunProbe({"--clear-env", "-e", "ONLY=1"}, {"report"});
  CHECK(clear.Probe()["env"] == nlohmann::json({{"ONLY", "1"}}));
  gaol::it::RemoveTree(dir);
}

TEST_CASE("--stdin, --stdout and --stderr files", "[process]") {
  std::string dir = gaol::it::MakeTempDir(0777);
  std::ofstream(dir + "/in") << "line one\n";
  auto run = RunGaol({"--stdin", dir + "/in", "--stdout", dir + "/out", "--stderr", dir + "/err",
                      "--", "/bin/sh", "-c", "cat; echo oops >&2"});
  REQUIRE(run.exit_status == 0);
  std::stringstream out, err;
  out << std::ifstream(dir + "/out").rdbuf();
  err << std::ifstream(dir + "/err").rdbuf();
  CHECK(out.str() == "line one\n");
  CHECK(err.str() == "oops\n");
  CHECK(run.out.empty());
  CHECK(run.result["stdout_bytes"] == 9);
  CHECK(run.result["stderr_bytes"] == 5);
  gaol::it::RemoveTree(dir);
}

TEST_CASE("--ulimit sets the job's rlimits", "[process]") {
  auto run = RunProbe({"--ulimit", "fsize=1000"}, {"write", "/tmp/f", "5000"});
  auto p = run.Probe();
  CHECK(p["ok"] == false);
  CHECK(p["errno"] == "EFBIG");
  CHECK(p["written"] == 1000);
}

TEST_CASE("the result accounts for the run", "[process]") {
  auto run = RunGaol({"--", "/bin/sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"});
  REQUIRE(run.exit_status == 0);
  auto r = run.result;
  CHECK(r["schema"] == "gaol.result/v1");
  CHECK(r["cpu_time_seconds"] > 0.0);
  CHECK(r["wall_time_seconds"] >= r["cpu_time_seconds"].get<double>() * 0.9);
  CHECK(r["peak_memory_bytes"] > 100000);
  for (const char* step : {"plan", "clone", "id_map", "mounts", "pivot_root", "network"}) {
    INFO(step);
    CHECK(r["launch"]["steps"][step] > 0.0);
  }
  CHECK(r["launch"]["total_seconds"] > 0.0);
}

TEST_CASE("when gaol is killed, its sandbox dies with it", "[process]") {
  bool killed = false;
  auto run = RunGaol(
      {"--ro-bind", gaol::it::ProbeDir(), "/probe", "--", "/probe/gaol-probe", "sleep", "30"},
      [&](pid_t pid, const std::string& out) {
        if (!killed && out.find("\"mode\":\"sleep\"") != std::string::npos) {
          kill(pid, SIGKILL);
          killed = true;
        }
      });
  REQUIRE(killed);
  CHECK(run.exit_status == 128 + SIGKILL);
  // PID 1 gets SIGKILL from PR_SET_PDEATHSIG, and with it the whole pid namespace.
  gaol::it::Leftovers left;
  for (int i = 0; i < 200; ++i) {
    left = gaol::it::TakeLeftovers();
    if (left.processes.empty()) break;
    usleep(10000);
  }
  CHECK(left.processes.empty());
}

TEST_CASE("the job does not share the caller's session keyring", "[process]") {
  // The caller's own session keyring, named so that it can be told apart.
  std::string name = "gaol-it-keyring-" + std::to_string(getpid());
  long caller = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.c_str());
  REQUIRE(caller > 0);
  // Unconfined: the built-in profiles refuse keyctl altogether, which would prove nothing here.
  auto run = RunGaol({"--security-opt", "seccomp=unconfined", "--", "/usr/bin/python3", "-c",
                      "import ctypes; print(ctypes.CDLL(None).syscall(250, 0, -3, 0))"});
  INFO(run.err);
  REQUIRE(run.exit_status == 0);
  long inside = std::stol(run.out);
  CHECK(inside > 0);
  CHECK(inside != caller);
}

namespace {

// Processes whose command line holds `marker`, given a moment to go.
std::vector<std::string> Lingering(const std::string& marker) {
  std::vector<std::string> left;
  for (int i = 0; i < 100; ++i) {
    left.clear();
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      std::string name = entry.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in("/proc/" + name + "/cmdline");
      std::stringstream ss;
      ss << in.rdbuf();
      std::string cmdline = ss.str();
      std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
      if (cmdline.find(marker) != std::string::npos && !cmdline.starts_with(gaol::it::GaolBin()))
        left.push_back(name + ": " + cmdline);
    }
    if (left.empty()) break;
    usleep(20000);
  }
  for (const auto& p : left) kill(std::stoi(p), SIGKILL);
  return left;
}

}  // namespace

TEST_CASE("--share pid: whatever the job started ends with it, and with a wall-time kill",
          "[process]") {
  std::string marker = "4243." + std::to_string(getpid());
  // A daemon: detached by setsid and a double fork, still running when the job exits 0.
  auto run = RunGaol({"--share", "pid", "--", "/bin/sh", "-c",
                      "(setsid /bin/sleep " + marker + " &) ; echo started"});
  INFO(run.err);
  CHECK(run.out == "started\n");
  CHECK(run.result["status"] == "ok");
  CHECK(Lingering(marker).empty());
  // A wall-time kill ends PID 1 from outside: its descendants go too.
  auto timed = RunGaol({"--share", "pid", "--wall-time-limit", "0.5s", "--", "/bin/sh", "-c",
                        "/bin/sleep " + marker + " & /bin/sleep " + marker});
  CHECK(timed.result["status"] == "wall_time_limit");
  CHECK(Lingering(marker).empty());
}

TEST_CASE("SIGTERM to gaol reaches every process of the sandbox, then escalates", "[process]") {
  std::string marker = "4246." + std::to_string(getpid());
  auto stop_on_ready = [](bool& sent) {
    return [&sent](pid_t pid, const std::string& out) {
      if (!sent && out.find("ready") != std::string::npos) {
        kill(pid, SIGTERM);
        sent = true;
      }
    };
  };
  // A shell's background child got nothing before: only the shell was signalled.
  bool sent = false;
  auto run = RunGaol({"--", "/bin/sh", "-c",
                      "/bin/sleep " + marker + " & echo ready; /bin/sleep " + marker + "; wait"},
                     stop_on_ready(sent));
  REQUIRE(sent);
  CHECK(run.result["status"] == "signaled");
  CHECK(run.result["signal"] == SIGTERM);
  CHECK(run.exit_status == 128 + SIGTERM);
  CHECK(Lingering(marker).empty());
  // A job that ignores it is killed once --stop-timeout is over: cancelled, 137.
  sent = false;
  auto stubborn = RunGaol({"--stop-timeout", "0.3s", "--", "/bin/sh", "-c",
                           "trap '' TERM; echo ready; /bin/sleep " + marker},
                          stop_on_ready(sent));
  REQUIRE(sent);
  CHECK(stubborn.result["status"] == "cancelled");
  CHECK(stubborn.exit_status == 128 + SIGKILL);
  CHECK(Lingering(marker).empty());
}

namespace {

// Whether `pid` has SIGTERM blocked (/proc/PID/status SigBlk).
bool TermBlocked(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("SigBlk:")) {
      return (std::stoull(line.substr(7), nullptr, 16) >> (SIGTERM - 1)) & 1;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("SIGTERM in gaol's first milliseconds still ends in a result", "[process]") {
  // gaol blocks its stop signals at the top of main (before, at the launch, 2-4 ms in: a signal
  // in between killed it with no result). Every signal from then on must end in a result.
  int results = 0;
  const int kRuns = 40;
  for (int i = 0; i < kRuns; ++i) {
    std::string marker = "4247." + std::to_string(getpid());
    int res[2];
    REQUIRE(pipe(res) == 0);
    // gaol run --result-fd: the signal lands 0-4 ms after exec, mostly during set-up.
    pid_t pid = fork();
    if (pid == 0) {
      dup2(res[1], 3);
      int null = open("/dev/null", O_RDWR);
      dup2(null, 0);
      dup2(null, 1);
      dup2(null, 2);
      execl(gaol::it::GaolBin().c_str(), gaol::it::GaolBin().c_str(), "run", "--result-fd", "3",
            "--stop-timeout", "1s", "--", "/bin/sleep", marker.c_str(),
            static_cast<char*>(nullptr));
      _exit(99);
    }
    close(res[1]);
    // From gaol's first instruction of main on (SigBlk shows SIGTERM blocked), not before: the
    // dynamic loader's moment before main is no program's to guard.
    for (int t = 0; t < 5000 && !TermBlocked(pid); ++t) usleep(20);
    usleep(static_cast<useconds_t>((i * 97) % 3000));
    kill(pid, SIGTERM);
    std::string text = ReadToEnd(res[0]);
    close(res[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    auto result = nlohmann::json::parse(text, nullptr, false);
    INFO(i << ": " << text);
    CHECK(WIFEXITED(status));
    if (result.is_object()) ++results;
    CHECK(Lingering(marker).empty());
  }
  CHECK(results == kRuns);
}
