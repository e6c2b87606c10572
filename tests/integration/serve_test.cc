// gaol serve's API against the real kernel, as an unprivileged uid: every endpoint, the operator's
// policy, the token, cancellation, the queue, SIGTERM drain, a fork server crash, bad flags.
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {
namespace {

using nlohmann::json;

// `gaol serve ARGS` that must fail at once: its stderr and exit status.
std::pair<int, std::string> ServeFails(const std::vector<std::string>& args) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);  // anything it leaves comes back to the test: LiveOrphans
  int err[2];
  REQUIRE(pipe(err) == 0);
  std::vector<std::string> all = {GaolBin(), "serve"};
  all.insert(all.end(), args.begin(), args.end());
  pid_t pid = Spawn(all, -1, err[1]);
  close(err[1]);
  std::string text = ReadToEnd(err[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

void WaitFor(const std::function<bool()>& done, int seconds = 20) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(done());
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("serve: POST /v1/run places files, runs the job, returns output and collected files",
          "[serve]") {
  std::string work = MakeTempDir();
  ServeProcess server({"--work-dir", work});
  auto client = server.Client();
  json request = {
      {"command", {"/bin/sh", "-c", "cat in.txt; echo made > out/result.txt; echo e >&2"}},
      {"files",
       {{{"path", "in.txt"}, {"content", "from the request\n"}},
        {{"path", "bin.dat"}, {"content", "AAEC/w=="}, {"encoding", "base64"}},
        {{"path", "out/.keep"}, {"content", ""}}}},
      {"collect", {"out/result.txt", "bin.dat", "nothing-here"}}};
  Reply r = Post(client, "/v1/run", request);
  REQUIRE(r.status == 200);
  CHECK(r.body["status"] == "ok");
  CHECK(r.body["schema"] == "gaol.result/v1");
  CHECK(r.body["stdout"]["content"] == "from the request\n");
  CHECK(r.body["stderr"]["content"] == "e\n");
  CHECK(r.body["files"]["out/result.txt"]["content"] == "made\n");
  // Not UTF-8: back as base64, byte for byte.
  CHECK(r.body["files"]["bin.dat"]["encoding"] == "base64");
  CHECK(r.body["files"]["bin.dat"]["content"] == "AAEC/w==");
  CHECK(r.body["files"]["nothing-here"].contains("error"));
  CHECK(r.body["id"].is_string());
  // A job's symlink does not make the server read outside the job directory.
  r = Post(client, "/v1/run",
           {{"command", {"/bin/ln", "-s", "/etc/passwd", "leak"}}, {"collect", {"leak"}}});
  REQUIRE(r.status == 200);
  CHECK(r.body["files"]["leak"].contains("error"));
  CHECK_FALSE(r.body["files"]["leak"].contains("content"));
  // The job directory is gone once the result is out.
  CHECK(server.Stop() == 0);
  CHECK(Entries(work) == 0);
  RemoveTree(work);
}

TEST_CASE("serve: GET /healthz, /metrics, /v1/check", "[serve]") {
  ServeProcess server;
  auto client = server.Client();
  Reply health = Get(client, "/healthz");
  REQUIRE(health.status == 200);
  CHECK(health.body["status"] == "ok");
  CHECK(health.body["fork_server_pid"].get<int>() > 0);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));
  CHECK(metrics->body.find("gaol_build_info{version=") != std::string::npos);
  Reply check = Get(client, "/v1/check");
  REQUIRE(check.status == 200);
  CHECK(check.body["schema"] == "gaol.check/v1");
  CHECK(Get(client, "/v2/nothing").status == 404);
  CHECK(server.Stop() == 0);
}

TEST_CASE("serve: asynchronous jobs, and DELETE cancels a running one with its processes",
          "[serve]") {
  ServeProcess server;
  auto client = server.Client();
  Reply made = Post(client, "/v1/jobs",
                    {{"command", {"/bin/sh", "-c", "trap '' TERM; exec /bin/sleep 4242.5"}}});
  REQUIRE(made.status == 202);
  std::string id = made.body["id"];
  WaitFor([&] { return !ProcessesWith("sleep 4242.5").empty(); });
  CHECK(Get(client, "/v1/jobs/" + id).body["state"] == "running");
  Reply cancelled = Delete(client, "/v1/jobs/" + id);
  REQUIRE(cancelled.status == 200);
  CHECK(cancelled.body["state"] == "done");
  CHECK(cancelled.body["result"]["status"] == "cancelled");
  CHECK(cancelled.body["result"]["signal_name"] == "SIGKILL");
  // Every process of the job is gone by the time DELETE answers.
  CHECK(ProcessesWith("sleep 4242.5").empty());
  // A finished job stays readable until deleted, then is forgotten.
  Reply done = Post(client, "/v1/jobs", {{"command", {"/bin/true"}}});
  std::string done_id = done.body["id"];
  WaitFor([&] { return Get(client, "/v1/jobs/" + done_id).body["state"] == "done"; });
  CHECK(Get(client, "/v1/jobs/" + done_id).body["result"]["status"] == "ok");
  CHECK(Delete(client, "/v1/jobs/" + done_id).status == 200);
  CHECK(Get(client, "/v1/jobs/" + done_id).status == 404);
  CHECK(Get(client, "/v1/jobs/0123456789abcdef").status == 404);
  CHECK(Delete(client, "/v1/jobs/0123456789abcdef").status == 404);
  CHECK(server.Stop() == 0);
}

TEST_CASE(
    "serve: bad requests are 400, what the operator refuses 403, naming the field; over "
    "--max-body is 413",
    "[serve]") {
  std::string dir = MakeTempDir();
  std::string limits = WriteFile(dir, "limits.json", R"({
    "defaults": {"limits": {"memory_bytes": 268435456}, "security": {"seccomp": "strict"}},
    "ceilings": {"memory_bytes": 536870912, "wall_time_limit_seconds": 5, "files_bytes": 1024},
    "allow": {"bind_sources": ["/usr/share"]}
  })");
  ServeProcess server({"--limits-file", limits, "--max-body", "64k"});
  auto client = server.Client();
  auto error_with = [&](int status, const json& body) {
    Reply r = Post(client, "/v1/run", body);
    CHECK(r.status == status);
    return r.body.value("error", std::string());
  };
  auto error_of = [&](const json& body) { return error_with(400, body); };
  auto refusal_of = [&](const json& body) { return error_with(403, body); };
  auto bad = client.Post("/v1/run", "{not json", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK_THAT(error_of({{"command", {"/bin/true"}}, {"limts", {}}}), Catch::Contains("`limts`"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"limits", {{"memory_bytes", 1LL << 30}}}}),
             Catch::Contains("limits.memory_bytes") && Catch::Contains("ceiling"));
  CHECK_THAT(
      refusal_of({{"command", {"/bin/true"}}, {"limits", {{"wall_time_limit_seconds", 60}}}}),
      Catch::Contains("limits.wall_time_limit_seconds"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}},
                         {"mounts", {{{"type", "bind"}, {"source", "/etc"}, {"target", "/x"}}}}}),
             Catch::Contains("mounts[0].source"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"network", "host"}}),
             Catch::Contains("`network`"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"stdout", "/tmp/x"}}),
             Catch::Contains("`stdout`"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"security", {{"seccomp", "unconfined"}}}}),
             Catch::Contains("security.seccomp"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"security", {{"landlock", false}}}}),
             Catch::Contains("security.landlock") && Catch::Contains("allow.landlock_off"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"chroot", true}}),
             Catch::Contains("`chroot`"));
  CHECK_THAT(refusal_of({{"command", {"/bin/true"}}, {"map_users", "auto"}}),
             Catch::Contains("`map_users`"));
  std::vector<std::string> many(65, "f");
  CHECK_THAT(error_of({{"command", {"/bin/true"}}, {"collect", many}}),
             Catch::Contains("at most 64"));
  CHECK_THAT(error_of({{"command", {"/bin/true"}},
                       {"files", {{{"path", "../escape"}, {"content", "x"}}}}}),
             Catch::Contains("files[0].path"));
  CHECK_THAT(error_of({{"command", {"/bin/true"}},
                       {"files", {{{"path", "big"}, {"content", std::string(2048, 'x')}}}}}),
             Catch::Contains("files_bytes"));
  // Allowed: a bind beneath allow.bind_sources; the operator's defaults and ceilings applied.
  Reply ok = Post(client, "/v1/run",
                  {{"command", {"/bin/ls", "/data"}},
                   {"mounts",
                    {{{"type", "bind"},
                      {"source", "/usr/share/doc"},
                      {"target", "/data"},
                      {"read_only", true}}}}});
  REQUIRE(ok.status == 200);
  CHECK(ok.body["status"] == "ok");
  CHECK(ok.body["seccomp"]["profile"] == "strict");
  CHECK(ok.body["enforcement"].contains("memory"));
  CHECK(ok.body["enforcement"].contains("wall_time_limit"));
  auto big = client.Post("/v1/run", std::string(70 * 1024, ' '), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

TEST_CASE("serve: a full queue answers 429; a queued job can be cancelled", "[serve]") {
  ServeProcess server({"--max-concurrent", "1", "--max-queue", "1"});
  auto client = server.Client();
  Reply running = Post(client, "/v1/jobs", {{"command", {"/bin/sleep", "4243.5"}}});
  Reply queued = Post(client, "/v1/jobs", {{"command", {"/bin/true"}}});
  REQUIRE(running.status == 202);
  REQUIRE(queued.status == 202);
  CHECK(queued.body["state"] == "queued");
  Reply refused = Post(client, "/v1/jobs", {{"command", {"/bin/true"}}});
  CHECK(refused.status == 429);
  CHECK(Post(client, "/v1/run", {{"command", {"/bin/true"}}}).status == 429);
  Reply gone = Delete(client, "/v1/jobs/" + queued.body["id"].get<std::string>());
  CHECK(gone.body["result"]["status"] == "cancelled");
  CHECK(Delete(client, "/v1/jobs/" + running.body["id"].get<std::string>())
            .body["result"]["status"] == "cancelled");
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("gaol_jobs_rejected_total{reason=\"queue_full\"} 2") !=
        std::string::npos);
  CHECK(ProcessesWith("sleep 4243.5").empty());
  CHECK(server.Stop() == 0);
}

TEST_CASE("serve: --token-file requires the bearer token on every endpoint but /healthz",
          "[serve]") {
  std::string dir = MakeTempDir();
  std::string token = "s3cret-token-for-the-test";
  std::string file = WriteFile(dir, "token", token + "\n");
  ServeProcess server({"--token-file", file});
  auto anonymous = server.Client();
  auto wrong = server.Client("s3cret-token-for-the-tesT");
  auto right = server.Client(token);
  for (const char* path : {"/metrics", "/v1/check", "/v1/jobs/00"}) {
    CHECK(Get(anonymous, path).status == 401);
    CHECK(Get(wrong, path).status == 401);
  }
  CHECK(Post(anonymous, "/v1/run", {{"command", {"/bin/true"}}}).status == 401);
  CHECK(Post(wrong, "/v1/run", {{"command", {"/bin/true"}}}).status == 401);
  CHECK(Get(anonymous, "/healthz").status == 200);
  CHECK(Post(right, "/v1/run", {{"command", {"/bin/true"}}}).body["status"] == "ok");
  CHECK(Get(right, "/metrics").status == 200);
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

TEST_CASE("serve: SIGTERM drains: running jobs finish, queued ones are cancelled, nothing left",
          "[serve]") {
  std::string work = MakeTempDir();
  ServeProcess server({"--work-dir", work, "--max-concurrent", "1"});
  auto running = std::async(std::launch::async, [&] {
    auto c = server.Client();
    return Post(c, "/v1/run", {{"command", {"/bin/sh", "-c", "sleep 1.01; echo finished"}}});
  });
  WaitFor([&] { return !ProcessesWith("sleep 1.01").empty(); });
  auto c = server.Client();
  Reply queued = Post(c, "/v1/jobs", {{"command", {"/bin/true"}}});
  CHECK(queued.body["state"] == "queued");
  CHECK(server.Stop() == 0);
  Reply finished = running.get();
  CHECK(finished.status == 200);
  CHECK(finished.body["status"] == "ok");
  CHECK(finished.body["stdout"]["content"] == "finished\n");
  CHECK(server.Stderr().find("draining") != std::string::npos);
  CHECK(LiveOrphans().empty());  // no fork server, no runner
  CHECK(Entries(work) == 0);
  RemoveTree(work);
}

TEST_CASE("serve: SIGTERM the moment it listens stops it, every time", "[serve]") {
  // The signal can arrive before the HTTP thread's listen loop has started, when cpp-httplib's
  // stop() does nothing: the server must still stop, not wait for its killer.
  int hung = 0;
  for (int i = 0; i < 40; ++i) {
    ServeProcess server;
    int stopped = server.Stop(10);
    INFO("stderr: " << server.Stderr());
    if (stopped != 0) ++hung;
  }
  CHECK(hung == 0);
}

TEST_CASE("serve: a bind source is opened once, beneath its allowed directory", "[serve]") {
  // The operator allows `allowed`; in it a directory, a link within it, and a link out of it
  // (to the host's /etc: the swap an attacker would make between check and open).
  std::string dir = MakeTempDir();
  std::string allowed = dir + "/allowed";
  REQUIRE(mkdir(allowed.c_str(), 0755) == 0);
  REQUIRE(mkdir((allowed + "/set").c_str(), 0755) == 0);
  WriteFile(allowed + "/set", "answer", "42\n");
  REQUIRE(symlink("set", (allowed + "/alias").c_str()) == 0);
  REQUIRE(symlink("/etc", (allowed + "/out").c_str()) == 0);
  REQUIRE(symlink("../..", (allowed + "/set/up").c_str()) == 0);
  std::string limits =
      WriteFile(dir, "limits.json", json({{"allow", {{"bind_sources", {allowed}}}}}).dump());
  ServeProcess server({"--limits-file", limits});
  auto client = server.Client();
  auto bind = [&](const std::string& source) {
    return Post(client, "/v1/run",
                {{"command", {"/bin/cat", "/data/answer"}},
                 {"mounts", {{{"type", "bind"}, {"source", source}, {"target", "/data"}}}}});
  };
  for (const char* good : {"/set", "/alias"}) {
    INFO(good);
    Reply r = bind(allowed + good);
    INFO(r.text);
    REQUIRE(r.status == 200);
    CHECK(r.body["status"] == "ok");
    CHECK(r.body["stdout"]["content"] == "42\n");
  }
  for (const char* out : {"/out", "/set/up", "/set/up/etc"}) {
    INFO(out);
    Reply r = bind(allowed + out);
    REQUIRE(r.status == 200);
    CHECK(r.body["status"] == "setup_error");
    CHECK_THAT(r.body["error"]["message"].get<std::string>(),
               Catch::Contains("beneath `" + allowed + "`"));
  }
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

// The same swap made while jobs start: a thread exchanges the bind source, a directory beneath
// the allowed one, with a link out of it (renameat2 RENAME_EXCHANGE, as fast as it can). Whatever
// moment a swap lands on, the job sees the inside directory or does not run; the sandbox, which
// must mount by path, checks it mounts the very object the runner opened beneath `allowed`.
TEST_CASE("serve: a bind source swapped while jobs start never mounts what lies outside",
          "[serve][escape]") {
  std::string dir = MakeTempDir();
  std::string allowed = dir + "/allowed", outside = dir + "/outside";
  REQUIRE(mkdir(allowed.c_str(), 0755) == 0);
  REQUIRE(mkdir(outside.c_str(), 0755) == 0);
  REQUIRE(mkdir((allowed + "/d").c_str(), 0755) == 0);
  WriteFile(allowed + "/d", "f", "inside\n");
  WriteFile(outside, "f", "SECRET\n");
  REQUIRE(symlink(outside.c_str(), (allowed + "/swap").c_str()) == 0);
  std::string limits =
      WriteFile(dir, "limits.json", json({{"allow", {{"bind_sources", {allowed}}}}}).dump());
  ServeProcess server({"--limits-file", limits, "--max-concurrent", "2"});
  std::atomic<bool> done{false};
  std::atomic<long> swaps{0};
  std::thread swapper([&] {
    while (!done) {
      if (syscall(SYS_renameat2, AT_FDCWD, (allowed + "/d").c_str(), AT_FDCWD,
                  (allowed + "/swap").c_str(), RENAME_EXCHANGE) == 0) {
        ++swaps;
      }
    }
  });
  std::atomic<int> inside{0}, refused{0}, replaced{0}, leaked{0}, other{0};
  std::mutex mu;
  std::vector<std::string> unexpected;
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      auto client = server.Client();
      for (int i = 0; i < 100; ++i) {
        Reply r = Post(client, "/v1/run",
                       {{"command", {"/bin/cat", "/data/f"}},
                        {"mounts",
                         {{{"type", "bind"},
                           {"source", allowed + "/d"},
                           {"target", "/data"},
                           {"read_only", true}}}}});
        // Read defensively: a refusal has no stdout, and Catch's macros are not for threads.
        auto text = [&](const char* outer, const char* inner) {
          if (!r.body.is_object() || !r.body.contains(outer) || !r.body[outer].is_object())
            return std::string();
          const json& v = r.body[outer];
          return v.contains(inner) && v[inner].is_string() ? v[inner].get<std::string>() : "";
        };
        std::string out = text("stdout", "content");
        std::string error = text("error", "message");
        bool ok = r.body.is_object() && r.body.value("status", json()) == "ok";
        if (out.find("SECRET") != std::string::npos) {
          ++leaked;
        } else if (ok && out == "inside\n") {
          ++inside;
        } else if (error.find("no longer what was opened") != std::string::npos) {
          ++replaced;  // the sandbox's open by path found the outside object: refused
        } else if (error.find("beneath") != std::string::npos) {
          ++refused;  // the runner's open beneath `allowed` met the link
        } else {
          ++other;
          std::lock_guard lock(mu);
          unexpected.push_back(r.text.substr(0, 400));
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  swapper.join();
  for (const auto& u : unexpected) UNSCOPED_INFO(u);
  CHECK(leaked == 0);
  CHECK(other == 0);
  CHECK(inside > 0);
  // The swaps are millions a second: about one job in five meets one between the runner's open
  // and the sandbox's, which is the check this test is for.
  CHECK(replaced > 0);
  WARN("bind source swapped " << swaps << " times under 200 jobs: " << inside << " ran inside, "
                              << refused << " refused at the runner's open, " << replaced
                              << " refused by the sandbox's check, " << leaked << " leaked");
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

TEST_CASE("serve: past --drain-timeout, running jobs are cancelled", "[serve]") {
  ServeProcess server({"--drain-timeout", "200ms"});
  auto c = server.Client();
  Reply made = Post(c, "/v1/jobs", {{"command", {"/bin/sleep", "4244.5"}}});
  REQUIRE(made.status == 202);
  WaitFor([&] { return !ProcessesWith("sleep 4244.5").empty(); });
  CHECK(server.Stop(20) == 0);
  CHECK(ProcessesWith("sleep 4244.5").empty());
}

TEST_CASE("serve: a crashed fork server is restarted and no job is lost", "[serve]") {
  ServeProcess server;
  auto c = server.Client();
  Reply long_job =
      Post(c, "/v1/jobs", {{"command", {"/bin/sh", "-c", "sleep 1.0417; echo survived"}}});
  REQUIRE(long_job.status == 202);
  // Killed only once the job runs in its runner's sandbox: a job the fork server has answered
  // for but not yet handed to its pool runner is lost with it (reported as a setup_error).
  WaitFor([&] { return !ProcessesWith("sleep 1.0417").empty(); });
  int fork_server = Get(c, "/healthz").body["fork_server_pid"];
  REQUIRE(kill(fork_server, SIGKILL) == 0);
  WaitFor([&] { return Get(c, "/healthz").body["fork_server_restarts"] == 1; });
  CHECK(Get(c, "/healthz").body["fork_server_pid"] != fork_server);
  CHECK(Post(c, "/v1/run", {{"command", {"/bin/true"}}}).body["status"] == "ok");
  // The runner of the job in flight outlived its fork server and still reported.
  std::string id = long_job.body["id"];
  WaitFor([&] { return Get(c, "/v1/jobs/" + id).body["state"] == "done"; });
  Reply done = Get(c, "/v1/jobs/" + id);
  INFO(done.text);
  CHECK(done.body["result"]["status"] == "ok");
  CHECK(done.body["result"]["stdout"]["content"] == "survived\n");
  CHECK(server.Stop() == 0);
}

TEST_CASE("serve: cancelling a job in a delegated cgroup kills it and removes its leaf", "[vm]") {
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  REQUIRE(parent);
  auto leaves = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(parent)) {
      n += e.is_directory() && e.path().filename().string().starts_with("gaol-job");
    }
    return n;
  };
  std::size_t before = leaves();
  std::string dir = MakeTempDir();
  std::string limits =
      WriteFile(dir, "limits.json", json({{"allow", {{"bind_sources", {ProbeDir()}}}}}).dump());
  // Cold starts: no pre-built sandbox's leaf among the ones counted here (the next case has them).
  ServeProcess server({"--cgroup-parent", parent, "--limits-file", limits, "--pool", "0"});
  auto c = server.Client();
  Reply made = Post(c, "/v1/jobs",
                    {{"command", {"/bin/sh", "-c", "sleep 4245.5 & sleep 4245.5"}},
                     {"limits", {{"memory_bytes", 64 << 20}, {"pids", 8}}}});
  REQUIRE(made.status == 202);
  WaitFor([&] { return ProcessesWith("sleep 4245.5").size() == 2; });
  CHECK(leaves() == before + 1);
  Reply cancelled = Delete(c, "/v1/jobs/" + made.body["id"].get<std::string>());
  CHECK(cancelled.body["result"]["status"] == "cancelled");
  CHECK(cancelled.body["result"]["enforcement"]["memory"] == "cgroup");
  CHECK(ProcessesWith("sleep 4245.5").empty());
  CHECK(leaves() == before);
  // A job over its memory limit through the server: the same verdict as gaol run's.
  Reply hog = Post(
      c, "/v1/run",
      {{"command", {"/probe/gaol-probe", "hog", "200000000"}},
       {"mounts",
        {{{"type", "bind"}, {"source", ProbeDir()}, {"target", "/probe"}, {"read_only", true}}}},
       {"limits", {{"memory_bytes", 32 << 20}}}});
  INFO(hog.text);
  CHECK(hog.body["status"] == "memory_limit");
  CHECK(leaves() == before);
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

TEST_CASE("serve: a pre-built sandbox's leaf gives a job the cold path's limits and figures",
          "[vm]") {
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  REQUIRE(parent);
  auto leaves = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(parent)) {
      n += e.is_directory() && e.path().filename().string().starts_with("gaol-job");
    }
    return n;
  };
  std::size_t before = leaves();
  ServeProcess cold({"--cgroup-parent", parent, "--pool", "0"});
  ServeProcess warm({"--cgroup-parent", parent, "--pool", "1"});
  auto cold_client = cold.Client();
  auto warm_client = warm.Client();
  std::vector<json> requests = {
      // dd reads into one 256 MiB buffer: far past the memory limit within a few page faults
      // (a pipe of /dev/zero into tail took over 10 s of CPU under the VM tier's emulation, and
      // the CPU-time default ended it first).
      {{"command", {"/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1"}},
       {"limits", {{"memory_bytes", 32 << 20}}}},
      {{"command", {"/bin/sh", "-c", "while :; do :; done"}},
       {"limits", {{"time_limit_seconds", 0.5}, {"wall_time_limit_seconds", 20}}}},
      {{"command", {"/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9; do sleep 2 & done; wait"}},
       {"limits", {{"pids", 4}}}},
      {{"command", {"/bin/sh", "-c", "echo ok"}}, {"limits", {{"memory_bytes", 64 << 20}}}},
  };
  for (const json& request : requests) {
    Reply c = Post(cold_client, "/v1/run", request);
    Reply w = Post(warm_client, "/v1/run", request);
    INFO(request.dump() << "\ncold: " << c.text << "\nwarm: " << w.text);
    REQUIRE(c.status == 200);
    REQUIRE(w.status == 200);
    CHECK(w.body["pool"]["hit"] == true);
    for (const char* field : {"status", "exit_code", "signal", "oom_killed", "enforcement",
                              "accounting", "peak_memory_source", "stdout"}) {
      INFO(field);
      CHECK(c.body[field] == w.body[field]);
    }
    CHECK(w.body["launch"]["steps"].contains("cgroup"));
  }
  CHECK(cold.Stop() == 0);
  CHECK(warm.Stop() == 0);
  // Every leaf goes: the jobs' and the one of the sandbox still waiting when the server stopped.
  CHECK(leaves() == before);
}

TEST_CASE("serve: --listen unix:PATH serves on a Unix socket", "[serve]") {
  std::string dir = MakeTempDir();
  std::string path = dir + "/gaol.sock";
  ServeProcess server({"--listen=unix:" + path});
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: gaol\r\nConnection: close\r\n\r\n";
  REQUIRE(write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  std::string reply = ReadToEnd(fd);
  close(fd);
  CHECK(reply.starts_with("HTTP/1.1 200"));
  CHECK(reply.find("\"status\":\"ok\"") != std::string::npos);
  CHECK(server.Stop() == 0);
  CHECK_FALSE(std::filesystem::exists(path));
  RemoveTree(dir);
}

TEST_CASE("serve: bad flags and limits files: one line, exit 125, nothing left", "[serve]") {
  std::string dir = MakeTempDir();
  std::string work = MakeTempDir();
  std::string bad_json = WriteFile(dir, "bad.json", "{");
  std::string unknown = WriteFile(dir, "unknown.json", R"({"ceilings": {"memroy_bytes": 1}})");
  std::string over = WriteFile(
      dir, "over.json", R"({"defaults": {"limits": {"pids": 100}}, "ceilings": {"pids": 10}})");
  std::string short_token = WriteFile(dir, "token", "short\n");
  struct Case {
    std::vector<std::string> args;
    const char* names;
  };
  for (const Case& c : std::vector<Case>{
           {{"--listen", "nowhere"}, "--listen `nowhere`"},
           {{"--listen", "127.0.0.1:99999"}, "--listen"},
           {{"--max-body", "lots"}, "--max-body `lots`"},
           {{"--max-concurrent", "0"}, "--max-concurrent"},
           {{"--pool", "some"}, "--pool"},
           {{"--pool", "-1"}, "--pool"},
           {{"--pool", "100000"}, "--pool"},
           {{"--drain-timeout", "soon"}, "--drain-timeout `soon`"},
           {{"--limits-file", dir + "/missing.json"}, "--limits-file"},
           {{"--limits-file", bad_json}, "valid JSON"},
           {{"--limits-file", unknown}, "ceilings.memroy_bytes"},
           {{"--limits-file", over}, "defaults.limits.pids"},
           {{"--token-file", short_token}, "--token-file"},
           {{"--token-file", dir + "/none"}, "--token-file"},
           {{"--no-such-flag"}, "--no-such-flag"},
       }) {
    std::vector<std::string> args = c.args;
    args.push_back("--work-dir");
    args.push_back(work);
    auto [status, err] = ServeFails(args);
    INFO(err);
    CHECK(status == 125);
    CHECK(err.find(c.names) != std::string::npos);
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
  }
  CHECK(Entries(work) == 0);
  CHECK(LiveOrphans().empty());
  RemoveTree(dir);
  RemoveTree(work);
}

// The job and the client are attackers: what a request names and what a job leaves in its
// directory reach only what they should, and nothing hangs the runner.
TEST_CASE("serve: a directory as stdin never reaches the job (CVE-2024-21626 class)",
          "[serve][escape]") {
  ServeProcess server;
  auto client = server.Client();
  // `d` is a directory the request itself created; given to the job as fd 0 it would lead to the
  // host's root by `..`. The probe command would print what it reached.
  Reply r = Post(client, "/v1/run",
                 {{"command", {"/bin/sh", "-c", "ls /proc/self/fd/0/../../../; echo ran"}},
                  {"files", {{{"path", "d/x"}, {"content", "x"}}}},
                  {"stdin", "d"}});
  // stdin must be one of the request's own files, named as there: a directory it made, `.`, or
  // a path the job could make later are refused before anything runs.
  REQUIRE(r.status == 403);
  CHECK_THAT(r.body.value("error", ""), Catch::Contains("`stdin`") && Catch::Contains("`files`"));
  for (const char* name : {".", "d/", "./d/x", "d/x/.."}) {
    Reply other = Post(client, "/v1/run",
                       {{"command", {"/bin/true"}},
                        {"files", {{{"path", "d/x"}, {"content", "x"}}}},
                        {"stdin", name}});
    INFO(name << ": " << other.text);
    CHECK(other.status == 403);
  }
  // A regular file still works.
  Reply ok = Post(client, "/v1/run",
                  {{"command", {"/bin/cat"}},
                   {"files", {{{"path", "in"}, {"content", "input\n"}}}},
                   {"stdin", "in"}});
  REQUIRE(ok.status == 200);
  CHECK(ok.body["stdout"]["content"] == "input\n");
  CHECK(server.Stop() == 0);
}

// Every job runs as the server's uid, so no mode bits part one job's directory from another's.
// The workdir is therefore nowhere on the host: a tmpfs of the job's own mount namespace, filled
// by PID 1, where `..` from any descriptor ends at the sandbox's root.
TEST_CASE("serve: a job's workdir lies on no host tree, and a descriptor of it leads nowhere",
          "[serve][escape]") {
  std::string work = MakeTempDir();
  ServeProcess server({"--work-dir", work});
  auto client = server.Client();
  std::string secret = "SECRET-" + std::to_string(getpid()) + "-4246";
  std::string marker = "2.0" + std::to_string(getpid());  // seconds the job sleeps
  std::string script =
      "import os, sys, time\n"
      "cwd = os.getcwd()\n"
      "kinds = [l.split(' - ')[1].split()[0] for l in open('/proc/self/mountinfo')\n"
      "         if l.split()[4] == cwd]\n"
      "print('workdir', cwd, kinds[-1] if kinds else 'none')\n"
      "fd = os.open('.', os.O_RDONLY)\n"
      "for _ in range(64):\n"
      "    up = os.open('..', os.O_RDONLY, dir_fd=fd); os.close(fd); fd = up\n"
      "print('walk', sorted(os.listdir(fd)) == sorted(os.listdir('/')))\n"
      "print('secret', open('secret').read() == sys.argv[2])\n"
      "open('out', 'w').write('made inside')\n"
      "sys.stdout.flush()\n"
      "time.sleep(float(sys.argv[1]))\n";
  Reply queued = Post(client, "/v1/jobs",
                      {{"command", {"/usr/bin/python3", "-c", script, marker, secret}},
                       {"files", {{{"path", "secret"}, {"content", secret}}}},
                       {"collect", {"out"}}});
  REQUIRE(queued.status == 202);
  std::string id = queued.body["id"];
  WaitFor([&] { return !ProcessesWith(marker).empty(); });
  // While the job runs, nothing beneath --work-dir holds the request's file or what the job wrote
  // in its workdir (its stdout, which does lie there, tells only that it read the secret).
  std::vector<std::string> found;
  std::error_code ec;  // a job directory may go while it is walked
  for (auto it = std::filesystem::recursive_directory_iterator(work, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& e = *it;
    if (!e.is_regular_file(ec)) continue;
    std::string text = ReadText(e.path());
    if (text.find(secret) != std::string::npos || text.find("made inside") != std::string::npos)
      found.push_back(e.path());
    CHECK(e.path().filename() != "secret");
  }
  CHECK(found.empty());
  Reply done;
  WaitFor([&] {
    done = Get(client, "/v1/jobs/" + id);
    return done.body["state"] == "done";
  });
  json result = done.body["result"];
  INFO(result.dump());
  CHECK(result["status"] == "ok");
  std::string out = result["stdout"]["content"];
  CHECK_THAT(out, Catch::Contains("workdir /work tmpfs"));
  CHECK_THAT(out, Catch::Contains("walk True"));
  CHECK_THAT(out, Catch::Contains("secret True"));
  CHECK(result["files"]["out"]["content"] == "made inside");
  CHECK(server.Stop() == 0);
  RemoveTree(work);
}

TEST_CASE("serve: collect reads only regular files, never blocks, and stays within its budget",
          "[serve][escape]") {
  std::string dir = MakeTempDir();
  std::string limits = WriteFile(dir, "limits.json", R"({"ceilings": {"collect_bytes": 1048576}})");
  ServeProcess server({"--max-concurrent", "1", "--limits-file", limits});
  auto client = server.Client();
  // A FIFO at a collect path hung the runner in open(); a socket, a directory and a link to a
  // host file are refused too. 20 hard links to one file are read within 4 x collect_bytes.
  std::string script =
      "mkfifo fifo; ln -s /etc/passwd link; mkdir dir; "
      "head -c 1048576 /dev/zero > big; for i in $(seq 1 20); do ln big big$i; done; "
      "/usr/bin/python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.bind(\"sock\")' "
      "2>/dev/null; true";
  std::vector<std::string> collect = {"fifo", "link", "dir", "sock"};
  for (int i = 1; i <= 20; ++i) collect.push_back("big" + std::to_string(i));
  auto start = std::chrono::steady_clock::now();
  Reply r = Post(client, "/v1/run",
                 {{"command", {"/bin/sh", "-c", script}},
                  {"files", {{{"path", ".keep"}, {"content", ""}}}},
                  {"collect", collect}});
  REQUIRE(r.status == 200);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  INFO(r.body.dump().substr(0, 2000));
  CHECK(r.body["status"] == "ok");
  for (const char* name : {"fifo", "link", "dir"}) {
    INFO(name);
    CHECK(r.body["files"][name].contains("error"));
  }
  // 20 links of 1 MiB with collect_bytes 1 MiB: four come back whole, the rest truncated.
  std::size_t total = 0;
  for (int i = 1; i <= 20; ++i) {
    const json& f = r.body["files"]["big" + std::to_string(i)];
    total += f["content"].get<std::string>().size();
    CHECK(f["truncated"] == (i > 4));
  }
  CHECK(total == 4u << 20);
  // The server still answers at once: nothing is stuck.
  Reply after = Post(client, "/v1/run", {{"command", {"/bin/true"}}});
  CHECK(after.status == 200);
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

namespace {

// A process's parent, from /proc/PID/status; -1 when it is gone.
pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("PPid:")) return std::stoi(line.substr(5));
  }
  return -1;
}

}  // namespace

TEST_CASE("serve: a 12,000-deep tree a job made is removed with the job", "[fault]") {
  std::string work = MakeTempDir();
  ServeProcess server({"--work-dir", work});
  auto client = server.Client();
  // Relative mkdir and chdir: no path ever grows past PATH_MAX for the job. The last level is
  // made unreadable, as a job may.
  Reply r = Post(client, "/v1/run",
                 {{"command",
                   {"/usr/bin/python3", "-c",
                    "import os\nfor i in range(12000):\n os.mkdir('d'); os.chdir('d')\n"
                    "os.mkdir('x', 0)\nprint('deep')"}},
                  {"files", {{{"path", ".keep"}, {"content", ""}}}},
                  {"limits", {{"wall_time_limit_seconds", 60}}}});
  REQUIRE(r.status == 200);
  CHECK(r.body["stdout"]["content"] == "deep\n");
  // Only the server's root and its lock are left while it runs; nothing once it stops.
  CHECK(Entries(work) == 2);
  CHECK(server.Stop() == 0);
  CHECK(Entries(work) == 0);
  RemoveTree(work);
}

TEST_CASE("serve: a runner killed mid-job loses no result silently and leaves nothing", "[fault]") {
  std::string work = MakeTempDir();
  ServeProcess server({"--work-dir", work});
  auto client = server.Client();
  std::string marker = "4245." + std::to_string(getpid());
  Reply queued =
      Post(client, "/v1/jobs",
           {{"command", {"/bin/sleep", marker}}, {"files", {{{"path", "in"}, {"content", "x"}}}}});
  REQUIRE(queued.status == 202);
  std::string id = queued.body["id"];
  std::vector<std::string> job;
  WaitFor([&] { return !(job = ProcessesWith(marker)).empty(); });
  // The job's parent is the sandbox's PID 1, whose parent is the runner.
  pid_t runner = ParentOf(ParentOf(std::stoi(job.front())));
  REQUIRE(runner > 0);
  REQUIRE(kill(runner, SIGKILL) == 0);
  Reply done;
  WaitFor([&] {
    done = Get(client, "/v1/jobs/" + id);
    return done.body["state"] == "done";
  });
  CHECK(done.body["result"]["status"] == "setup_error");
  CHECK_THAT(done.body["result"]["error"]["message"].get<std::string>(),
             Catch::Contains("runner ended without a result"));
  WaitFor([&] { return ProcessesWith(marker).empty(); });
  CHECK(Entries(work) == 2);  // the root and its lock: the job directory is gone
  CHECK(server.Stop() == 0);
  CHECK(Entries(work) == 0);
  RemoveTree(work);
}

TEST_CASE("serve: a server killed by SIGKILL leaves a root the next one removes", "[fault]") {
  std::string work = MakeTempDir();
  {
    ServeProcess dead({"--work-dir", work});
    auto client = dead.Client();
    REQUIRE(Post(client, "/v1/run", {{"command", {"/bin/true"}}}).status == 200);
    kill(dead.Pid(), SIGKILL);
    CHECK(dead.Stop() == 128 + SIGKILL);
  }
  CHECK(Entries(work) == 2);  // its root and lock, left behind
  // Another program's directory of the same name but no lock is left alone.
  REQUIRE(mkdir((work + "/gaol-serve-other").c_str(), 0700) == 0);
  ServeProcess next({"--work-dir", work});
  WaitFor([&] { return next.Stderr().find("removed 1 work root") != std::string::npos; });
  CHECK(Entries(work) == 3);  // next's root and lock, and the unlocked directory
  int stopped = next.Stop();
  INFO("next's stderr: " << next.Stderr());
  CHECK(stopped == 0);
  CHECK(Entries(work) == 1);
  RemoveTree(work);
}

TEST_CASE("serve: a TCP listener beyond loopback without a token is warned about", "[serve]") {
  // In a network namespace of the test's own: the wildcard address there reaches nothing.
  ServeProcess open_one({"--wrap=/usr/bin/unshare", "--wrap=-rn", "--listen=0.0.0.0:0"});
  CHECK_THAT(open_one.Stderr(), Catch::Contains("is not a loopback address and no --token-file"));
  CHECK(open_one.Stop() == 0);
  ServeProcess local;
  CHECK_THAT(local.Stderr(), !Catch::Contains("warning"));
  CHECK(local.Stop() == 0);
}

}  // namespace gaol::it

namespace gaol::it {
namespace {

std::set<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::set<std::string> out;
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

std::vector<std::string> Children(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_directory()) out.push_back(e.path().filename());
  }
  return out;
}

}  // namespace

// As under systemd with Delegate=yes: gaol serve started alone in a cgroup it may write.
TEST_CASE("serve alone in a writable cgroup moves into a leaf; jobs' leaves go beside it",
          "[cgroup]") {
  const char* delegated = std::getenv("GAOL_CGROUP_PARENT");
  REQUIRE(delegated != nullptr);
  std::string parent = delegated;
  // The service's cgroup gets what the delegated subtree has, as systemd gives a service its own:
  // turned on from the subtree's top down (the tier delegates parent's parent too).
  std::string top = parent.substr(0, parent.rfind('/'));
  for (const std::string& dir : {top, parent}) {
    for (const auto& c : Words(ReadText(dir + "/cgroup.controllers"))) {
      std::ofstream(dir + "/cgroup.subtree_control") << "+" << c;
    }
  }
  std::string own = parent + "/serve-" + std::to_string(getpid());
  REQUIRE(mkdir(own.c_str(), 0755) == 0);
  std::set<std::string> controllers = Words(ReadText(own + "/cgroup.controllers"));
  // The VM tier's subtree has memory and pids; this machine's cgroup2 tree may have none at all.
  if (std::getenv("GAOL_SESSION_CGROUP")) REQUIRE(controllers.count("memory") == 1);
  {
    // No pool: a pre-built sandbox's leaf would be there before the job.
    ServeProcess server({"--pool", "0", "--wrap=/bin/sh", "--wrap=-c",
                         "--wrap=echo $$ > \"$0/cgroup.procs\" && exec \"$@\"", "--wrap=" + own});
    std::string launcher = "gaol-serve-" + std::to_string(server.Pid());
    CHECK(server.Stderr().find("jobs' cgroups in its own " + own) != std::string::npos);
    std::string cgroup = ReadText("/proc/" + std::to_string(server.Pid()) + "/cgroup");
    CHECK(cgroup.find("/serve-" + std::to_string(getpid()) + "/" + launcher + "\n") !=
          std::string::npos);
    CHECK(Words(ReadText(own + "/cgroup.subtree_control")) == controllers);
    CHECK(Children(own) == std::vector<std::string>{launcher});
    auto client = server.Client();
    Reply made = Post(client, "/v1/jobs", {{"command", {"/bin/sleep", "1"}}});
    REQUIRE(made.status == 202);
    std::string id = made.body["id"];
    // While it runs, its leaf is a sibling of the server's.
    WaitFor([&] {
      auto children = Children(own);
      return std::any_of(children.begin(), children.end(),
                         [](const std::string& c) { return c.starts_with("gaol-job-"); });
    });
    WaitFor([&] { return Get(client, "/v1/jobs/" + id).body["state"] == "done"; });
    json result = Get(client, "/v1/jobs/" + id).body["result"];
    INFO(result.dump());
    CHECK(result["status"] == "ok");
    CHECK(result["accounting"] == "cgroup");
    CHECK(result["systemd_scope"].is_null());
    if (controllers.count("memory")) {
      json limited = Post(client, "/v1/run",
                          {{"command", {"/bin/true"}}, {"limits", {{"memory_bytes", 64 << 20}}}})
                         .body;
      INFO(limited.dump());
      CHECK(limited["enforcement"]["memory"] == "cgroup");
    }
    CHECK(server.Stop() == 0);
    // The cgroup as it was: the server back in it before it exited, its leaf gone, controllers
    // off.
    CHECK(Children(own).empty());
    CHECK(Words(ReadText(own + "/cgroup.subtree_control")).empty());
  }
  CHECK(rmdir(own.c_str()) == 0);
  CHECK(LiveOrphans().empty());
}

}  // namespace gaol::it
