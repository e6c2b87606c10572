// The soak and fault tier: many runs, sequential and concurrent, with gaol, serve's runners and
// its fork server SIGKILLed at random moments, a full disk under serve's work directory, and low
// descriptor limits. After each part nothing may be left (no process, mount, descriptor, job
// directory or temporary file) and no result lost or reported wrong. Sized for CI (a few minutes
// in all); GAOL_SOAK_SCALE=N multiplies every count for a longer run.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {
namespace {

using nlohmann::json;

int Scale() {
  const char* v = std::getenv("GAOL_SOAK_SCALE");
  int n = v ? std::atoi(v) : 1;
  return n > 0 ? n : 1;
}

// As root, run-unprivileged.sh delegates a cgroup subtree to this tier: every job gets a leaf
// there, and none may be left.
const char* CgroupParent() { return std::getenv("GAOL_CGROUP_PARENT"); }

std::size_t Leaves() {
  std::size_t n = 0;
  if (CgroupParent()) {
    for (const auto& e : std::filesystem::directory_iterator(CgroupParent())) n += e.is_directory();
  }
  return n;
}

// A job, and how to tell its result is right.
struct Case {
  std::vector<std::string> args;  // gaol run's flags and command
  std::string status;
  std::function<bool(const GaolRun&)> right;
};

std::vector<Case> RunCases(const std::string& marker) {
  std::vector<Case> cases = {
      {{"--", "/bin/sh", "-c", "echo $0", marker},
       "ok",
       [marker](const GaolRun& r) { return r.out == marker + "\n"; }},
      {{"--", "/bin/sh", "-c", "exit 7"},
       "nonzero_exit",
       [](const GaolRun& r) { return r.result["exit_code"] == 7 && r.exit_status == 7; }},
      {{"--", "/bin/sh", "-c", "kill -SEGV $$"},
       "signaled",
       [](const GaolRun& r) { return r.result["signal"] == SIGSEGV; }},
      // Daemons the job leaves end with it.
      {{"--", "/bin/sh", "-c", "sleep $0 & sleep $0 & echo bg", marker},
       "ok",
       [](const GaolRun& r) { return r.out == "bg\n"; }},
      {{"--wall-time-limit", "0.3s", "--", "/bin/sh", "-c", "sleep $0 & exec sleep $0", marker},
       "wall_time_limit",
       [](const GaolRun& r) { return r.result["wall_time_seconds"].get<double>() >= 0.3; }},
      {{"--output-limit", "1k", "--", "/bin/sh", "-c", "exec head -c 100000 /dev/zero"},
       "output_limit",
       [](const GaolRun& r) { return r.out.size() <= 1024; }},
  };
  if (CgroupParent()) {
    for (Case& c : cases)
      c.args.insert(c.args.begin(), {std::string("--cgroup-parent"), CgroupParent()});
  }
  return cases;
}

// One run of `c` as a user would start it; or, when `kill_after_us` >= 0, gaol SIGKILLed that
// long after its start (nothing to check but what it leaves).
std::string RunOne(const Case& c, int kill_after_us) {
  if (kill_after_us < 0) {
    GaolRun r = RunGaol(c.args);
    if (r.result.is_object() && r.result["status"] == c.status && c.right(r)) return "";
    return "wrong: " + r.result.dump() + " out=" + r.out.substr(0, 200) + " err=" + r.err;
  }
  std::vector<std::string> argv = {GaolBin(), "run"};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  pid_t pid = Spawn(argv, -1, -1);
  std::this_thread::sleep_for(std::chrono::microseconds(kill_after_us));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return "";
}

// Waits (bounded) until no process carries `marker`; what is still there after is returned.
std::vector<std::string> Settle(const std::string& marker) {
  std::vector<std::string> left;
  for (int i = 0; i < 200; ++i) {
    left = ProcessesWith(marker);
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (const auto& p : left) kill(std::stoi(p), SIGKILL);
  return left;
}

std::vector<std::string> TempEntries() {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator("/tmp")) {
    std::string name = e.path().filename();
    // The stage and the test's own directories are the harness's; gaol's would be anything else
    // of this uid. Servers' work roots come and go with the serve areas ctest runs beside this
    // one (a server's start removes dead servers' roots); gaol run makes none.
    if (name.starts_with("gaol-stage.") || name.starts_with("gaol-it-") ||
        name.starts_with("gaol-serve-"))
      continue;
    struct stat st = {};
    if (lstat(e.path().c_str(), &st) == 0 && st.st_uid == geteuid()) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// A /proc file of a process that may end while it is read: whatever could be read ("" if none).
std::string ReadProc(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text = ReadToEnd(fd);
  close(fd);
  return text;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  std::string want = "\nPPid:\t" + std::to_string(parent) + "\n";
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string status = ReadProc(e.path() / "status");
    if (status.find(want) != std::string::npos && status.find("\nState:\tZ") == std::string::npos)
      out.push_back(std::stoi(name));
  }
  return out;
}

std::string Cmdline(pid_t pid) {
  std::string text = ReadProc("/proc/" + std::to_string(pid) + "/cmdline");
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text;
}

}  // namespace

TEST_CASE("soak: gaol run, one and four at a time, killed at random: right verdicts, nothing left",
          "[soak]") {
  std::string marker = "61." + std::to_string(getpid());  // seconds a left-behind sleep would last
  auto cases = RunCases(marker);
  auto before = TakeLeftovers();
  auto temp_before = TempEntries();
  std::mutex mu;
  std::vector<std::string> wrong;
  std::atomic<int> runs{0}, kills{0};
  auto worker = [&](int n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pick(0, static_cast<int>(cases.size()) - 1);
    std::uniform_int_distribution<int> delay_us(0, 20000), dice(0, 5);
    for (int i = 0; i < n; ++i) {
      const Case& c = cases[static_cast<std::size_t>(pick(rng))];
      bool kill_it = dice(rng) == 0;
      std::string bad = RunOne(c, kill_it ? delay_us(rng) : -1);
      ++(kill_it ? kills : runs);
      if (!bad.empty()) {
        std::lock_guard lock(mu);
        wrong.push_back(c.status + ": " + bad);
      }
    }
  };
  auto start = std::chrono::steady_clock::now();
  worker(600 * Scale(), static_cast<unsigned>(getpid()));
  std::vector<std::thread> four;
  for (unsigned t = 0; t < 4; ++t) four.emplace_back(worker, 150 * Scale(), getpid() * 7 + t);
  for (auto& t : four) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& w : wrong) std::fprintf(stderr, "soak run: %s\n", w.c_str());
  CHECK(wrong.empty());
  CHECK(Settle(marker).empty());
  auto after = TakeLeftovers();
  CHECK(after.processes.empty());
  CHECK(after.children.empty());
  CHECK(after.mounts == before.mounts);
  CHECK(after.fds == before.fds);
  CHECK(TempEntries() == temp_before);
  if (CgroupParent()) {
    // A leaf whose gaol was killed is reaped by the next launch under the same parent.
    CHECK(RunGaol(cases[0].args).result["status"] == "ok");
    CHECK(Leaves() == 0);
  } else {
    WARN("GAOL_CGROUP_PARENT unset (not run as root): no cgroup leaf to check");
  }
  WARN("soak run: " << runs << " runs checked, " << kills << " killed at random, " << wrong.size()
                    << " wrong, 0 left, " << seconds << " s");
}

TEST_CASE("soak: gaol run under low descriptor limits works or refuses in one line", "[soak]") {
  auto before = TakeLeftovers();
  auto run = [](const std::string& ulimit) {
    std::string script = ulimit + " && exec '" + GaolBin() +
                         "' run -- /bin/sh -c 'ulimit -n; ulimit -Hn; echo fine'";
    int out[2], err[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(pipe2(err, O_CLOEXEC) == 0);
    pid_t pid = Spawn({"/bin/sh", "-c", script}, out[1], err[1]);
    close(out[1]);
    close(err[1]);
    std::pair<std::string, std::string> texts = {ReadToEnd(out[0]), ReadToEnd(err[0])};
    close(out[0]);
    close(err[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    return std::make_tuple(WEXITSTATUS(status), texts.first, texts.second);
  };
  // From 4: with 0-2 open, the dynamic loader needs the fourth to load gaol's libraries at all.
  for (int limit : {4, 6, 8, 12, 16, 20, 24, 28, 32, 48}) {
    // A low soft limit: gaol raises its own as far as it needs, and the job gets the caller's.
    auto [status, out, err] = run("ulimit -Sn " + std::to_string(limit));
    INFO("ulimit -Sn " << limit << ": " << out << err);
    CHECK(status == 0);
    CHECK_THAT(out, Catch::StartsWith(std::to_string(limit) + "\n") && Catch::EndsWith("fine\n"));
    // A low hard limit: it works, or exit 125 and one line saying what to raise; nothing runs.
    auto [hstatus, hout, herr] = run("ulimit -n " + std::to_string(limit));
    INFO("ulimit -n " << limit << ": " << hout << herr);
    if (hstatus == 0) {
      CHECK(hout == std::to_string(limit) + "\n" + std::to_string(limit) + "\nfine\n");
    } else {
      CHECK(hstatus == 125);
      CHECK(hout.empty());
      CHECK(std::count(herr.begin(), herr.end(), '\n') == 1);
      CHECK_THAT(herr, Catch::StartsWith("gaol: ") && Catch::Contains("open-file limit"));
    }
  }
  auto after = TakeLeftovers();
  CHECK(after.processes.empty());
  CHECK(after.mounts == before.mounts);
  CHECK(after.fds == before.fds);
}

TEST_CASE("soak: serve under random kills of runners and its fork server loses no request",
          "[soak]") {
  std::string work = MakeTempDir();
  std::size_t mounts_before = TakeLeftovers().mounts;
  std::vector<std::string> flags = {"--work-dir", work,          "--max-concurrent",
                                    "4",          "--max-queue", "64"};
  if (CgroupParent()) flags.insert(flags.end(), {std::string("--cgroup-parent"), CgroupParent()});
  ServeProcess server(flags);
  std::string marker = "62." + std::to_string(getpid());
  struct ServeCase {
    json request;
    std::function<bool(const json&)> right;
  };
  std::vector<ServeCase> cases = {
      {{{"command", {"/bin/sh", "-c", "echo $0", "x"}}},
       [](const json& r) { return r["status"] == "ok" && r["stdout"]["content"] == "x\n"; }},
      {{{"command", {"/bin/cat"}},
        {"files", {{{"path", "in"}, {"content", "data"}}}},
        {"stdin", "in"}},
       [](const json& r) { return r["status"] == "ok" && r["stdout"]["content"] == "data"; }},
      {{{"command", {"/bin/sh", "-c", "sleep 0.2; echo made > out"}},
        {"files", {{{"path", "a/b"}, {"content", ""}}}},
        {"collect", {"out"}}},
       [](const json& r) {
         return r["status"] == "ok" && r["files"]["out"]["content"] == "made\n";
       }},
      {{{"command", {"/bin/sh", "-c", "exit 3"}}},
       [](const json& r) { return r["status"] == "nonzero_exit" && r["exit_code"] == 3; }},
      {{{"command", {"/bin/sh", "-c", "sleep $0 & exec sleep $0", marker}},
        {"limits", {{"wall_time_limit_seconds", 0.3}}}},
       [](const json& r) { return r["status"] == "wall_time_limit"; }},
  };
  int requests = 600 * Scale();
  std::atomic<int> next{0}, lost{0}, setup_errors{0}, right{0};
  std::mutex mu;
  std::vector<std::string> wrong;
  std::atomic<bool> done{false};
  int runner_kills = 0, fork_server_kills = 0;
  std::thread killer([&] {
    std::mt19937 rng(static_cast<unsigned>(getpid()));
    std::uniform_int_distribution<int> pause_ms(30, 200), dice(0, 7);
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(rng)));
      // The fork server is the server's child that runs `--fork-server-fd`; runners are its
      // children (or the server's, once their fork server died), named `gaol-runner`, in the
      // server's pid namespace (a sandbox's PID 1, cloned from a runner, has the name too).
      pid_t fork_server = -1;
      std::vector<pid_t> runners;
      std::vector<pid_t> candidates = ChildrenOf(server.Pid());
      for (std::size_t k = 0; k < candidates.size(); ++k) {
        pid_t p = candidates[k];
        std::string status = ReadProc("/proc/" + std::to_string(p) + "/status");
        bool runner_name = status.starts_with("Name:\tgaol-runner\n");
        auto ns = status.find("\nNSpid:\t");
        bool nested = ns != std::string::npos &&
                      status.substr(ns + 9, status.find('\n', ns + 9) - ns - 9).find('\t') !=
                          std::string::npos;
        if (runner_name && !nested) {
          runners.push_back(p);
        } else if (!runner_name && fork_server < 0 &&
                   Cmdline(p).find("--fork-server-fd") != std::string::npos) {
          fork_server = p;
          for (pid_t r : ChildrenOf(p)) candidates.push_back(r);
        }
      }
      if (dice(rng) == 0 && fork_server > 0) {
        if (kill(fork_server, SIGKILL) == 0) ++fork_server_kills;
      } else if (!runners.empty()) {
        pid_t victim = runners[static_cast<std::size_t>(rng()) % runners.size()];
        if (kill(victim, SIGKILL) == 0) ++runner_kills;
      }
    }
  });
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      auto client = server.Client();
      for (int i; (i = next.fetch_add(1)) < requests;) {
        const ServeCase& sc = cases[static_cast<std::size_t>(i) % cases.size()];
        Reply r = Post(client, "/v1/run", sc.request);
        if (r.status != 200 || !r.body.is_object()) {
          ++lost;
          std::lock_guard lock(mu);
          wrong.push_back("lost: " + std::to_string(r.status) + " " + r.text.substr(0, 300));
        } else if (r.body["status"] == "setup_error") {
          ++setup_errors;  // a kill landed on this job: said so, never a wrong verdict
        } else if (sc.right(r.body)) {
          ++right;
        } else {
          std::lock_guard lock(mu);
          json brief = {{"request", sc.request}};
          for (const char* k : {"status", "signal", "exit_code", "stdout", "stderr", "files",
                                "warnings", "error", "wall_time_seconds"}) {
            if (r.body.contains(k)) brief[k] = r.body[k];
          }
          wrong.push_back("wrong: " + brief.dump());
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  killer.join();
  for (const auto& w : wrong) std::fprintf(stderr, "soak serve: %s\n", w.c_str());
  CHECK(lost == 0);
  CHECK(wrong.empty());
  CHECK(right + setup_errors == requests);
  // Each kill ends at most one job.
  CHECK(setup_errors <= runner_kills + fork_server_kills);
  // The server still works, and ends with nothing left. The last kill may have just taken the
  // fork server: a job sent before its replacement is up is a setup_error (reported, never
  // lost), so the server is given a moment to recover.
  auto client = server.Client();
  Reply after;
  for (int i = 0; i < 50; ++i) {
    after = Post(client, "/v1/run", cases[0].request);
    if (after.status == 200 && after.body["status"] == "ok") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(after.status == 200);
  CHECK(after.body["status"] == "ok");
  CHECK(server.Stop() == 0);
  CHECK(Settle(marker).empty());
  CHECK(LiveOrphans().empty());
  CHECK(Entries(work) == 0);
  if (CgroupParent()) {
    // The leaves of killed runners: the server reaps them once their runner is gone.
    CHECK(RunGaol(RunCases(marker)[0].args).result["status"] == "ok");
    CHECK(Leaves() == 0);
  }
  CHECK(TakeLeftovers().mounts == mounts_before);
  WARN("soak serve: " << requests << " requests, " << right << " right, " << setup_errors
                      << " ended by " << runner_kills << " runner and " << fork_server_kills
                      << " fork-server kills, " << lost << " lost, " << wrong.size() << " wrong");
  RemoveTree(work);
}

// A --work-dir far smaller than the jobs' output: a job's output reaches its runner through pipes
// into memfds, never the disk, so every job's output arrives whole; a loss would be in the result
// (`output_error`), never an `ok` with output silently missing.
TEST_CASE("soak: serve on a full disk never loses output silently", "[soak]") {
  std::string work = MakeTempDir();
  // A 256 KiB tmpfs in a user and mount namespace of the test's own, as the server's --work-dir.
  ServeProcess server({"--wrap=/usr/bin/unshare", "--wrap=-Urm", "--wrap=/bin/sh", "--wrap=-c",
                       "--wrap=mount -t tmpfs -o size=256k tmpfs '" + work + "' && exec \"$@\"",
                       "--wrap=sh", "--work-dir", work, "--max-concurrent", "4"});
  std::atomic<int> whole{0}, reported{0}, silent{0}, other{0};
  std::mutex mu;
  std::vector<std::string> bad;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto client = server.Client();
      for (int i = 0; i < 25 * Scale(); ++i) {
        // Half the jobs write 600 KB (more than the disk), half a line.
        bool big = (i + c) % 2 == 0;
        json request = {
            {"command",
             {"/bin/sh", "-c", big ? "head -c 600000 /dev/zero | tr '\\0' a" : "echo small $0",
              std::to_string(i)}}};
        Reply r = Post(client, "/v1/run", request);
        if (r.status != 200 || !r.body.is_object()) {
          ++other;
          std::lock_guard lock(mu);
          bad.push_back(std::to_string(r.status) + " " + r.text.substr(0, 300));
          continue;
        }
        std::string want = big ? std::string(600000, 'a') : "small " + std::to_string(i) + "\n";
        bool error = r.body.contains("output_error") && !r.body["output_error"].is_null();
        if (r.body["status"] == "setup_error") {
          ++reported;  // said so
        } else if (r.body["stdout"]["content"] == want && !error) {
          ++whole;
        } else if (error && r.body["output_error"].contains("stdout")) {
          ++reported;
        } else {
          ++silent;
          std::lock_guard lock(mu);
          bad.push_back(r.body.dump().substr(0, 600));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  for (const auto& b : bad) std::fprintf(stderr, "soak full disk: %s\n", b.c_str());
  CHECK(silent == 0);
  CHECK(other == 0);
  CHECK(reported == 0);              // nothing of a job's went to the small disk
  CHECK(whole == 4 * 25 * Scale());  // 30 MB of output in all: every byte of it arrived
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
  WARN("soak full disk: " << whole << " whole, " << reported << " failures reported, " << silent
                          << " silent");
  RemoveTree(work);
}

}  // namespace gaol::it
