// gaol serve's pool of pre-built sandboxes (--pool), against the real kernel as an unprivileged
// uid: a job on a pre-built sandbox sees a sandbox of its own and nothing of an earlier job, gets
// the verdict the cold path gives, and meets the escape suite's attacks as the cold path does.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {
namespace {

using nlohmann::json;

json Run(httplib::Client& client, const json& request) {
  Reply r = Post(client, "/v1/run", request);
  INFO(r.text);
  REQUIRE(r.status == 200);
  return r.body;
}

std::string Stdout(const json& result) { return result["stdout"]["content"].get<std::string>(); }

std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// The escape suite's attack binary, as an inline file of the request (0755): a pool sandbox takes
// no bind mounts, so the binary comes as the job's own file.
const json& AttackFile() {
  static const json file = [] {
    const char* dir = std::getenv("GAOL_ATTACK_DIR");
    if (dir == nullptr) throw std::runtime_error("GAOL_ATTACK_DIR is not set");
    std::ifstream in(std::string(dir) + "/gaol-attack", std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return json{{"path", "gaol-attack"},
                {"content", Base64(bytes.str())},
                {"encoding", "base64"},
                {"mode", 0755}};
  }();
  return file;
}

json AttackRequest(const std::string& mode, const std::vector<std::string>& args = {}) {
  json command = {"./gaol-attack", mode};
  for (const auto& a : args) command.push_back(a);
  return {{"command", command}, {"files", {AttackFile()}}};
}

// The attack's own verdict: its JSON line says it was contained, or the filter killed it.
void CheckContained(const json& result, const std::string& mode, bool may_be_killed = false) {
  INFO(mode << ": " << result.dump().substr(0, 2000));
  CHECK(result["pool"]["hit"] == true);
  if (may_be_killed && result["status"] == "seccomp_violation") return;
  REQUIRE(result["status"] == "ok");
  std::istringstream lines(Stdout(result));
  json line;
  for (std::string text; std::getline(lines, text);) {
    if (!text.empty() && text[0] == '{') line = json::parse(text, nullptr, false);
  }
  REQUIRE(line.is_object());
  CHECK(line["contained"] == true);
}

std::string Comm(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

bool Zombie(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("State:")) return line.find('Z') != std::string::npos;
  }
  return true;
}

pid_t ParentOf(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("PPid:")) return std::stoi(line.substr(5));
  }
  return -1;
}

// The PID 1s of `server`'s waiting sandboxes: live children of a gaol-runner (named as it is)
// whose parent, the fork server, is the server's child. Other servers may run beside this one. A
// cold job's sandbox is one too until its runner has reaped it, after the job's answer.
std::vector<pid_t> WaitingSandboxes(pid_t server) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    pid_t runner = ParentOf(pid);
    if (runner <= 0 || Comm(name) != "gaol-runner" || Comm(std::to_string(runner)) != "gaol-runner")
      continue;
    if (ParentOf(ParentOf(runner)) == server && !Zombie(pid)) out.push_back(pid);
  }
  return out;
}

// Until `server` has a sandbox waiting (or building, which the next job waits for): a new one is
// built only once the last job's runner has ended.
void AwaitWaitingSandbox(pid_t server) {
  for (int i = 0; i < 500 && WaitingSandboxes(server).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Dead: a zombie not reaped yet, or gone. Waits up to 5 s.
bool WaitDead(pid_t pid) {
  auto dead = [&] {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.starts_with("State:")) return line.find('Z') != std::string::npos;
    }
    return true;
  };
  for (int i = 0; i < 500 && !dead(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return dead();
}

// The next job, its sandbox gone: it runs whole, cold or on a sandbox built since (never on the
// broken one, where it could not).
void CheckRunsWhole(httplib::Client& client, const std::string& word) {
  json next = Run(client, {{"command", {"/bin/echo", word}}});
  INFO(next.dump());
  CHECK(next["status"] == "ok");
  CHECK(Stdout(next) == word + "\n");
}

volatile sig_atomic_t g_usr1 = 0;
void CountUsr1(int) { g_usr1 = g_usr1 + 1; }

}  // namespace

TEST_CASE("serve: a pre-built sandbox serves one job, and the next sees nothing of it", "[serve]") {
  ServeProcess server({"--pool", "2"});
  auto client = server.Client();
  // The writer leaves what it can everywhere it may write, and a process behind.
  const std::string write =
      "echo left > /work/mark; echo left > /tmp/mark; echo left > /dev/shm/mark 2>/dev/null; "
      "hostname; (sleep 60 &); echo pid $$";
  const std::string look = "ls -A /work /tmp /dev/shm; echo /proc/[0-9]*; hostname; echo pid $$";
  for (int round = 0; round < 3; ++round) {
    json wrote = Run(client, {{"command", {"/bin/sh", "-c", write}}});
    INFO(wrote.dump());
    CHECK(wrote["status"] == "ok");
    CHECK(wrote["pool"]["hit"] == true);
    CHECK(wrote["launch"]["prebuilt"]["build_seconds"].get<double>() > 0);
    CHECK(wrote["launch"]["steps"].contains("attach"));
    // PID 1 is gaol's; the job's shell is the sandbox's first process after it.
    CHECK(Stdout(wrote).find("pid 2\n") != std::string::npos);
    json looked = Run(client, {{"command", {"/bin/sh", "-c", look}}});
    INFO(looked.dump());
    CHECK(looked["status"] == "ok");
    CHECK(looked["pool"]["hit"] == true);
    // Empty directories, a fresh pid namespace (only PID 1 and the shell, which globs /proc
    // itself: the writer's sleep is gone), the same hostname, and again pid 2. A pipeline
    // here would race: `ls /proc` may read it before the shell has forked the next command.
    CHECK(Stdout(looked) == "/dev/shm:\n\n/tmp:\n\n/work:\n/proc/1 /proc/2\ngaol\npid 2\n");
  }
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("gaol_serve_pool_hits_total 6") != std::string::npos);
  CHECK(metrics->body.find("gaol_serve_pool_depth") != std::string::npos);
  CHECK(metrics->body.find("gaol_serve_pool_build_seconds_count 6") != std::string::npos);
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
}

TEST_CASE("serve: a job on a pre-built sandbox gets the verdict and figures of a cold start",
          "[serve]") {
  ServeProcess cold({"--pool", "0"});
  ServeProcess warm({"--pool", "2"});
  auto cold_client = cold.Client();
  auto warm_client = warm.Client();
  json sh = {"/bin/sh", "-c"};
  auto cmd = [&](const std::string& script) {
    json c = sh;
    c.push_back(script);
    return c;
  };
  std::vector<json> requests = {
      {{"command", {"/bin/true"}}},
      {{"command", cmd("exit 3")}},
      {{"command", cmd("kill -SEGV $$")}},
      {{"command", cmd("while :; do :; done")}, {"limits", {{"time_limit_seconds", 0.5}}}},
      {{"command", {"/bin/sleep", "5"}}, {"limits", {{"wall_time_limit_seconds", 0.3}}}},
      {{"command", cmd("yes | head -c 2000000")}, {"limits", {{"output_limit_bytes", 1000}}}},
      {{"command", {"/no/such/command"}}},
      {{"command", cmd("ulimit -n; ulimit -u; ulimit -c; ulimit -v")},
       {"limits", {{"memory_bytes", 64 << 20}, {"pids", 32}}}},
      {{"command", {"/bin/cat", "in.txt"}},
       {"files", {{{"path", "in.txt"}, {"content", "x\n"}}}},
       {"stdin", "in.txt"}},
      {{"command", cmd("env | sort; pwd")}, {"env", {{"A", "b"}}}},
      {{"command", cmd("head -c 100 /dev/zero > big")},
       {"limits", {{"memory_bytes", 16 << 20}}},
       {"collect", {"big"}}},
      AttackRequest("i386"),
  };
  for (const json& request : requests) {
    json c = Run(cold_client, request);
    json w = Run(warm_client, request);
    INFO(request.dump().substr(0, 300)
         << "\ncold: " << c.dump().substr(0, 1500) << "\nwarm: " << w.dump().substr(0, 1500));
    CHECK(c["pool"]["hit"] == false);
    CHECK(c["pool"]["reason"] == "off");
    CHECK(w["pool"]["hit"] == true);
    for (const char* field : {"status", "exit_code", "signal", "output_truncated", "enforcement",
                              "seccomp", "landlock", "stdout", "stderr", "files", "error"}) {
      INFO(field);
      CHECK(c[field] == w[field]);
    }
  }
  CHECK(cold.Stop() == 0);
  CHECK(warm.Stop() == 0);
  CHECK(LiveOrphans().empty());
}

TEST_CASE("serve: a request of another shape starts cold and says why", "[serve]") {
  ServeProcess server({"--pool", "1"});
  auto client = server.Client();
  // A workdir the request names (without files) is the root's own directory: not the pool's.
  json other = Run(client, {{"command", {"/bin/pwd"}}, {"workdir", "/tmp"}});
  CHECK(other["status"] == "ok");
  CHECK(Stdout(other) == "/tmp\n");
  CHECK(other["pool"] == json{{"hit", false}, {"reason", "shape"}});
  CHECK(other["launch"]["prebuilt"].is_null());
  // The sandbox that did not fit was discarded with its runner: the next job gets a new one,
  // built once that runner ended (which, slowed by a sanitizer's exit, may take a while).
  AwaitWaitingSandbox(server.Pid());
  json next = Run(client, {{"command", {"/bin/pwd"}}});
  CHECK(Stdout(next) == "/work\n");
  CHECK(next["pool"]["hit"] == true);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("gaol_serve_pool_misses_total{reason=\"shape\"} 1") !=
        std::string::npos);
  CHECK(metrics->body.find("gaol_serve_pool_hits_total 1") != std::string::npos);
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
}

TEST_CASE("serve: a pre-built sandbox killed while it waits, or a profile file, starts cold",
          "[serve]") {
  std::string dir = MakeTempDir();
  std::ofstream(dir + "/limits.json") << R"({"allow": {"seccomp_unconfined": true}})";
  std::ofstream(dir + "/profile.json") << R"({"defaultAction": "SCMP_ACT_ALLOW"})";
  chmod(dir.c_str(), 0755);
  chmod((dir + "/profile.json").c_str(), 0644);
  ServeProcess server({"--pool", "1", "--limits-file", dir + "/limits.json"});
  auto client = server.Client();
  // A profile file: the facts gathered for the pool's shape know nothing of it.
  json file = Run(client, {{"command", {"/bin/echo", "filed"}},
                           {"security", {{"seccomp", dir + "/profile.json"}}}});
  INFO(file.dump());
  CHECK(file["status"] == "ok");
  CHECK(Stdout(file) == "filed\n");
  CHECK(file["pool"]["reason"] == "shape");
  CHECK(file["seccomp"]["profile"] == dir + "/profile.json");
  // The waiting sandbox's PID 1 killed: its runner ends with it, and the job that comes next
  // runs whole, cold or on the sandbox built since.
  std::vector<pid_t> waiting;
  // The cold job's own sandbox may still be ending: until the pool's is the only one.
  for (int i = 0; i < 200 && (waiting = WaitingSandboxes(server.Pid())).size() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(waiting.size() == 1);
  REQUIRE(kill(waiting.front(), SIGKILL) == 0);
  // Dead before the job comes (a zombie its runner has not reaped): a sandbox that dies while a
  // job is being handed to it is that job's setup_error, as a cold sandbox killed in its start.
  REQUIRE(WaitDead(waiting.front()));
  CheckRunsWhole(client, "after");
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
  RemoveTree(dir);
}

TEST_CASE("serve: a pre-built sandbox's job waits behind its filter, or before it if refused",
          "[serve]") {
  // The job process of a pre-built sandbox is confined at build time and waits on a futex: behind
  // its seccomp filter where the filter lets that wait through, before it (the filter loaded once
  // woken) where it does not. Either way the job runs under the filter, and a killed call is
  // named, through the listener made at build time.
  SECTION("strict, which allows futex: the filter is loaded before the wait") {
    std::string dir = MakeTempDir();
    std::ofstream(dir + "/limits.json") << R"({"defaults": {"security": {"seccomp": "strict"}}})";
    ServeProcess server({"--pool", "1", "--limits-file", dir + "/limits.json"});
    auto client = server.Client();
    for (int i = 0; i < 3; ++i) {
      AwaitWaitingSandbox(server.Pid());
      json killed = Run(client, AttackRequest("keyctl"));
      INFO(killed.dump().substr(0, 2000));
      CHECK(killed["pool"]["hit"] == true);
      CHECK(killed["status"] == "seccomp_violation");
      CHECK(killed["seccomp"]["syscall"] == "keyctl");
      CHECK(killed["seccomp"]["profile"] == "strict");
      CHECK(killed["launch"]["steps"].contains("seccomp"));
    }
    CHECK(server.Stop() == 0);
    CHECK(LiveOrphans().empty());
    RemoveTree(dir);
  }
  SECTION("a profile that kills a shared futex wait: the job process waits before its filter") {
    // FUTEX_WAIT (0) without FUTEX_PRIVATE_FLAG: the wait gaol's job process makes, and one that
    // glibc's programs never make.
    std::string dir = MakeTempDir();
    std::ofstream(dir + "/profile.json") << R"({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["futex"], "action": "SCMP_ACT_KILL_PROCESS",
                      "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
                     {"names": ["keyctl"], "action": "SCMP_ACT_KILL_PROCESS"}]})";
    std::ofstream(dir + "/limits.json") << json{
        {"defaults", {{"security", {{"seccomp", dir + "/profile.json"}}}}},
        {"allow",
         {{"seccomp_unconfined", true}}}}.dump();
    chmod(dir.c_str(), 0755);
    chmod((dir + "/profile.json").c_str(), 0644);
    ServeProcess server({"--pool", "1", "--limits-file", dir + "/limits.json"});
    auto client = server.Client();
    for (int i = 0; i < 3; ++i) {
      AwaitWaitingSandbox(server.Pid());
      json echo = Run(client, {{"command", {"/bin/echo", "waited"}}});
      INFO(echo.dump());
      CHECK(echo["pool"]["hit"] == true);
      CHECK(echo["status"] == "ok");
      CHECK(Stdout(echo) == "waited\n");
      AwaitWaitingSandbox(server.Pid());
      json killed = Run(client, AttackRequest("keyctl"));
      INFO(killed.dump().substr(0, 2000));
      CHECK(killed["pool"]["hit"] == true);
      CHECK(killed["status"] == "seccomp_violation");
      CHECK(killed["seccomp"]["syscall"] == "keyctl");
    }
    CHECK(server.Stderr().find("was not built") == std::string::npos);
    CHECK(server.Stop() == 0);
    CHECK(LiveOrphans().empty());
    RemoveTree(dir);
  }
}

TEST_CASE(
    "serve: a pre-built sandbox whose waiting job process is killed goes; the next job runs whole",
    "[serve]") {
  ServeProcess server({"--pool", "1"});
  auto client = server.Client();
  // The sandbox's PID 1, then its job process (made and confined at build time, still gaol's).
  std::vector<pid_t> waiting;
  pid_t job = -1;
  auto child_of = [](pid_t parent) {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      if (ParentOf(std::stoi(name)) == parent) return std::stoi(name);
    }
    return -1;
  };
  for (int i = 0; i < 500 && job < 0; ++i) {
    waiting = WaitingSandboxes(server.Pid());
    if (waiting.size() == 1) job = child_of(waiting.front());
    if (job < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(job > 0);
  REQUIRE(kill(job, SIGKILL) == 0);
  // PID 1 sees it go and ends, as a sandbox discarded unused does.
  REQUIRE(WaitDead(waiting.front()));
  // Killed while the sandbox was still being built, the build fails and the fork server builds
  // another, which the job may then find: either way it never runs on the broken one.
  CheckRunsWhole(client, "cold");
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
}

TEST_CASE("serve: a shape that cannot be pre-built costs three lines, then jobs start cold",
          "[serve]") {
  // A cgroup the pool's shape must have: found or not, no pre-built sandbox takes one.
  std::string dir = MakeTempDir();
  std::ofstream(dir + "/limits.json") << R"({"defaults": {"require_cgroup": true}})";
  ServeProcess server({"--pool", "2", "--limits-file", dir + "/limits.json"});
  auto client = server.Client();
  for (int i = 0; i < 6; ++i) {
    json r = Run(client, {{"command", {"/bin/true"}}});
    INFO(r.dump());
    CHECK(r["pool"]["hit"] == false);
  }
  std::string err = server.Stderr();
  INFO(err);
  std::size_t lines = 0;
  for (std::size_t at = 0;
       (at = err.find("the pool's sandbox was not built", at)) != std::string::npos; ++at) {
    ++lines;
  }
  CHECK(lines == 3);
  CHECK(err.find("failed or died before a job: no more") != std::string::npos);
  // Once the pool is off, a job says so.
  CHECK(Run(client, {{"command", {"/bin/true"}}})["pool"]["reason"] == "off");
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
  RemoveTree(dir);
}

TEST_CASE("serve: the escape suite's attacks meet a pre-built sandbox as a cold one",
          "[serve][escape]") {
  ServeProcess server({"--pool", "2"});
  auto client = server.Client();
  for (const char* mode : {"dotdot", "chroot", "handle", "userns", "mount", "keyctl", "io_uring",
                           "perf", "bpf", "sysfs", "cgroup"}) {
    CheckContained(Run(client, AttackRequest(mode)), mode);
  }
  CheckContained(Run(client, AttackRequest("x32")), "x32", /*may_be_killed=*/true);
  CheckContained(Run(client, AttackRequest("ptrace", {std::to_string(getpid())})), "ptrace");
  // Nothing of the host is reachable by pid, by loopback or by abstract socket.
  struct sigaction count = {}, old = {};
  count.sa_handler = CountUsr1;
  sigaction(SIGUSR1, &count, &old);
  g_usr1 = 0;
  CheckContained(Run(client, AttackRequest("kill", {std::to_string(getpid())})), "kill");
  CHECK(g_usr1 == 0);
  sigaction(SIGUSR1, &old, nullptr);
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(bind(tcp, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(listen(tcp, 4) == 0);
  REQUIRE(getsockname(tcp, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  CheckContained(Run(client, AttackRequest("tcp", {std::to_string(ntohs(addr.sin_port))})), "tcp");
  CHECK(accept(tcp, nullptr, nullptr) < 0);
  close(tcp);
  std::string name = "gaol-pool-escape-" + std::to_string(getpid());
  int unix_sock = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un un = {};
  un.sun_family = AF_UNIX;
  std::copy(name.begin(), name.end(), un.sun_path + 1);
  auto un_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(bind(unix_sock, reinterpret_cast<sockaddr*>(&un), un_len) == 0);
  REQUIRE(listen(unix_sock, 4) == 0);
  CheckContained(Run(client, AttackRequest("abstract", {name})), "abstract");
  CHECK(accept(unix_sock, nullptr, nullptr) < 0);
  close(unix_sock);
  CHECK(server.Stop() == 0);
  CHECK(LiveOrphans().empty());
}

// The server runs a pre-built sandbox's job itself; its pool runner only parents PID 1. Killed
// mid-job, the server can enforce nothing more: the runner sees the sandbox's lease hang up,
// kills PID 1 (and with it the job) and removes the leaf.
TEST_CASE("serve: a server killed mid-job on a pre-built sandbox leaves no job running",
          "[serve]") {
  std::vector<std::string> flags = {"--pool", "1"};
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  if (parent) flags.insert(flags.end(), {"--cgroup-parent", parent});
  auto leaves = [&] {
    std::size_t n = 0;
    if (parent) {
      for (const auto& e : std::filesystem::directory_iterator(parent)) n += e.is_directory();
    }
    return n;
  };
  std::size_t leaves_before = leaves();
  std::string marker = "4246." + std::to_string(getpid());
  {
    ServeProcess server(flags);
    auto client = server.Client();
    AwaitWaitingSandbox(server.Pid());
    Reply queued = Post(client, "/v1/jobs", {{"command", {"/bin/sleep", marker}}});
    REQUIRE(queued.status == 202);
    std::vector<std::string> job;
    for (int i = 0; i < 500 && (job = ProcessesWith(marker)).empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(job.size() == 1);
    // On the pre-built sandbox: the job's parent is its PID 1, whose parent is a pool runner.
    pid_t init = ParentOf(std::stoi(job.front()));
    CHECK(Comm(std::to_string(ParentOf(init))) == "gaol-runner");
    REQUIRE(kill(server.Pid(), SIGKILL) == 0);
    CHECK(server.Stop() == 128 + SIGKILL);
  }
  bool gone = false;
  for (int i = 0; i < 500 && !(gone = ProcessesWith(marker).empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(gone);
  for (int i = 0; i < 700 && !LiveOrphans().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(LiveOrphans().empty());
  CHECK(leaves() == leaves_before);
}

}  // namespace gaol::it
