// Metrics with Prometheus's own tools: promtool on gaol serve's /metrics, a real Prometheus server
// scraping it, a real Pushgateway receiving `gaol run --metrics-push`, and many `gaol run
// --metrics-textfile` finishing at once without losing a count.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {
namespace {

using nlohmann::json;

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// A background process of the test (Prometheus, the Pushgateway), killed at scope exit.
class Daemon {
 public:
  Daemon(const std::vector<std::string>& argv, const std::string& log) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    pid_ = Spawn(argv, fd, fd);
    close(fd);
  }
  ~Daemon() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }

 private:
  pid_t pid_;
};

int Sh(const std::string& command) {
  int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The same mix every time: 3 ok, 2 nonzero_exit, 1 wall_time_limit, 1 bad request, 1 rejected
// by the queue.
void RunMix(ServeProcess& server) {
  auto c = server.Client();
  for (int i = 0; i < 3; ++i)
    REQUIRE(Post(c, "/v1/run", {{"command", {"/bin/true"}}}).status == 200);
  for (int i = 0; i < 2; ++i)
    REQUIRE(Post(c, "/v1/run", {{"command", {"/bin/false"}}}).status == 200);
  Reply slow =
      Post(c, "/v1/run",
           {{"command", {"/bin/sleep", "5"}}, {"limits", {{"wall_time_limit_seconds", 0.2}}}});
  REQUIRE(slow.body["status"] == "wall_time_limit");
  REQUIRE(Post(c, "/v1/run", {{"command", "not a list"}}).status == 400);
}

}  // namespace

TEST_CASE("metrics: gaol serve's /metrics passes promtool after ok, failed, timed-out, rejected",
          "[metrics]") {
  ServeProcess server;
  RunMix(server);
  auto c = server.Client();
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  std::string dir = MakeTempDir();
  std::ofstream(dir + "/m.prom") << metrics->body;
  CHECK(Sh("promtool check metrics < " + dir + "/m.prom > " + dir + "/promtool.log 2>&1") == 0);
  INFO(ReadText(dir + "/promtool.log"));
  const std::string& text = metrics->body;
  CHECK(text.find("gaol_jobs_finished_total{status=\"ok\"} 3\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_finished_total{status=\"nonzero_exit\"} 2\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_finished_total{status=\"wall_time_limit\"} 1\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_rejected_total{reason=\"bad_request\"} 1\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_started_total 6\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_running 0\n") != std::string::npos);
  // Every job planned; on a pre-built sandbox (the pool), its clone came before the job did.
  CHECK(text.find("gaol_launch_step_seconds_count{step=\"plan\"} 6\n") != std::string::npos);
  CHECK(text.find("gaol_serve_pool_hits_total 6\n") != std::string::npos);
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

TEST_CASE("metrics: a real Prometheus scrapes gaol serve and counts jobs per status", "[metrics]") {
  ServeProcess server;
  RunMix(server);
  std::string dir = MakeTempDir();
  int port = FreePort();
  std::ofstream(dir + "/prometheus.yml")
      << "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gaol\n"
      << "    static_configs:\n      - targets: ['" << server.Host() << ":" << server.Port()
      << "']\n";
  Daemon prometheus({"prometheus", "--config.file=" + dir + "/prometheus.yml",
                     "--storage.tsdb.path=" + dir + "/data",
                     "--web.listen-address=127.0.0.1:" + std::to_string(port)},
                    dir + "/prometheus.log");
  httplib::Client api("127.0.0.1", port);
  json counts;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = api.Get("/api/v1/query?query=gaol_jobs_finished_total");
    if (r && r->status == 200) {
      json body = json::parse(r->body, nullptr, false);
      if (!body.is_discarded() && body["data"]["result"].size() == 3) {
        counts = body["data"]["result"];
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  INFO(ReadText(dir + "/prometheus.log"));
  REQUIRE(counts.size() == 3);
  std::map<std::string, std::string> by_status;
  for (const auto& series : counts) {
    by_status[series["metric"]["status"]] = series["value"][1];
    CHECK(series["metric"]["job"] == "gaol");
  }
  CHECK(by_status["ok"] == "3");
  CHECK(by_status["nonzero_exit"] == "2");
  CHECK(by_status["wall_time_limit"] == "1");
  CHECK(server.Stop() == 0);
  RemoveTree(dir);
}

TEST_CASE("metrics: gaol run --metrics-push reaches a real Pushgateway", "[metrics]") {
  std::string dir = MakeTempDir();
  int port = FreePort();
  Daemon gateway(
      {"prometheus-pushgateway", "--web.listen-address=127.0.0.1:" + std::to_string(port),
       "--persistence.file=" + dir + "/persist"},
      dir + "/pushgateway.log");
  httplib::Client client("127.0.0.1", port);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!client.Get("/-/ready") && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  GaolRun run = RunGaol({"--metrics-push", "http://127.0.0.1:" + std::to_string(port), "--",
                         "/bin/sh", "-c", "exit 3"});
  INFO(run.err);
  CHECK(run.exit_status == 3);
  CHECK(run.err.find("warning") == std::string::npos);
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("gaol_jobs_finished_total{instance=") != std::string::npos);
  CHECK(metrics->body.find("job=\"gaol\",status=\"nonzero_exit\"} 1") != std::string::npos);
  // Nobody listening: the job's verdict stands, the failed push is one warning.
  GaolRun unreachable = RunGaol(
      {"--metrics-push", "http://127.0.0.1:" + std::to_string(FreePort()), "--", "/bin/true"});
  CHECK(unreachable.exit_status == 0);
  CHECK(unreachable.err.find("warning: export metrics") != std::string::npos);
  RemoveTree(dir);
}

TEST_CASE("metrics: --metrics-textfile from many runs at once loses no count", "[metrics]") {
  std::string dir = MakeTempDir();
  std::string file = dir + "/gaol.prom";
  constexpr int kRuns = 24;
  std::vector<std::thread> runs;
  std::atomic<int> ok{0};
  for (int i = 0; i < kRuns; ++i) {
    runs.emplace_back([&, i] {
      GaolRun r =
          RunGaol({"--metrics-textfile", file, "--", "/bin/sh", "-c", i % 3 ? "exit 0" : "exit 1"});
      if (r.exit_status == (i % 3 ? 0 : 1) && r.err.empty()) ++ok;
    });
  }
  for (auto& t : runs) t.join();
  CHECK(ok == kRuns);
  std::string text = ReadText(file);
  CHECK(text.find("gaol_jobs_started_total 24\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_finished_total{status=\"ok\"} 16\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_finished_total{status=\"nonzero_exit\"} 8\n") != std::string::npos);
  CHECK(text.find("gaol_job_start_latency_seconds_count 24\n") != std::string::npos);
  CHECK(Sh("promtool check metrics < " + file + " >/dev/null 2>&1") == 0);
  // Only the textfile is left in the directory: no temporary file, no lock file.
  std::size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);
  // Bad targets are refused before the job runs.
  GaolRun bad = RunGaol({"--metrics-textfile", dir + "/gaol.txt", "--", "/bin/true"});
  CHECK(bad.exit_status == 125);
  CHECK(bad.err.find("--metrics-textfile") != std::string::npos);
  bad = RunGaol({"--metrics-push", "ftp://x", "--", "/bin/true"});
  CHECK(bad.exit_status == 125);
  CHECK(bad.err.find("--metrics-push `ftp://x`") != std::string::npos);
  RemoveTree(dir);
}

}  // namespace gaol::it
