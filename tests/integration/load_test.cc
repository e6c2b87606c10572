// A bounded load test of gaol serve on loopback: 2,000 POST /v1/run of a small job from 16
// concurrent clients. Nothing lost or duplicated, every result complete, nothing left behind, and
// the server's memory back near where it was. Prints the throughput (not asserted: this machine
// is shared; bench/ measures it against a reference).
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {

TEST_CASE("load: 2000 requests from 16 clients, none lost, nothing left", "[load]") {
  constexpr int kClients = 16, kRequests = 2000;
  constexpr std::size_t kPool = 2;
  std::string work = MakeTempDir();
  std::vector<std::string> flags = {"--work-dir", work,     "--max-queue",
                                    "64",         "--pool", std::to_string(kPool)};
  // As root, run-unprivileged.sh delegates a cgroup subtree for this tier: every job gets a leaf.
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  if (parent) {
    flags.push_back("--cgroup-parent");
    flags.push_back(parent);
  } else {
    WARN("GAOL_CGROUP_PARENT unset (not run as root): jobs run without a leaf, none is checked");
  }
  std::size_t mounts_before = TakeLeftovers().mounts;
  ServeProcess server(flags);
  nlohmann::json job = {{"command", {"/bin/sh", "-c", "echo $0", "x"}}};
  // Warm-up: every HTTP thread and allocator arena the load will use exists before "before".
  std::atomic<int> warm_ok{0};
  std::mutex warm_mu;
  std::vector<std::string> warm_failures;
  {
    std::vector<std::thread> warm;
    for (int c = 0; c < kClients; ++c) {
      warm.emplace_back([&] {
        auto client = server.Client();
        for (int i = 0; i < 4; ++i) {
          Reply r = Post(client, "/v1/run", job);
          // value(): g++ 12 -O3's -Warray-bounds misfires on json == "literal" here.
          if (r.status == 200 && r.body.value("status", "") == "ok") {
            ++warm_ok;
          } else {
            std::lock_guard lock(warm_mu);
            warm_failures.push_back(std::to_string(r.status) + " " + r.text);
          }
        }
      });
    }
    for (auto& t : warm) t.join();
  }
  for (const auto& f : warm_failures) UNSCOPED_INFO("warm-up: " << f);
  CHECK(warm_ok == kClients * 4);
  long rss_before = server.RssKb();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // warm-up connections close
  std::size_t fds_before = server.Fds();
  std::mutex mu;
  std::set<std::string> ids;
  int complete = 0, failed = 0;
  std::atomic<int> next{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto client = server.Client();
      while (next.fetch_add(1) < kRequests) {
        Reply r = Post(client, "/v1/run", job);
        std::lock_guard lock(mu);
        bool whole = r.status == 200 && r.body["status"] == "ok" &&
                     (!parent || r.body["accounting"] == "cgroup") &&
                     r.body["stdout"]["content"] == "x\n" && r.body["launch"].contains("steps") &&
                     r.body["id"].is_string();
        if (whole) {
          ids.insert(r.body["id"].get<std::string>());
          ++complete;
        } else {
          ++failed;
          if (failed < 5) UNSCOPED_INFO(r.status << " " << r.text);
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "load: %d requests, %d clients, %.1f s, %.0f requests/s\n", kRequests,
               kClients, seconds, kRequests / seconds);
  CHECK(failed == 0);
  CHECK(complete == kRequests);
  CHECK(ids.size() == static_cast<std::size_t>(kRequests));  // no duplicate
  std::string text;
  {
    auto client = server.Client();
    client.set_keep_alive(false);
    auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    text = metrics->body;
  }
  INFO(text);
  CHECK(text.find("gaol_jobs_finished_total{status=\"ok\"} " + std::to_string(kRequests + warm_ok) +
                  "\n") != std::string::npos);
  CHECK(text.find("gaol_jobs_running 0\n") != std::string::npos);
  long rss_after = server.RssKb();
  std::fprintf(stderr, "load: server RSS %ld kB before, %ld kB after\n", rss_before, rss_after);
  CHECK(static_cast<double>(rss_after) <= 1.10 * static_cast<double>(rss_before));
  // The clients' connections close asynchronously on the server's side.
  for (int i = 0; i < 50 && server.Fds() > fds_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(server.Fds() == fds_before);
  CHECK(ProcessesWith("echo $0").empty());
  CHECK(Entries(work) == 2);  // the server's own directory and its lock file, nothing else
  CHECK(TakeLeftovers().mounts == mounts_before);
  auto leaves = [&] {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(parent)) n += e.is_directory();
    return n;
  };
  // The pool's sandboxes waiting for jobs have their leaves (--pool: max-concurrent); the jobs'
  // are gone, and every one once the server is.
  if (parent) CHECK(leaves() <= kPool);
  CHECK(server.Stop() == 0);
  if (parent) CHECK(leaves() == 0);
  RemoveTree(work);
}

}  // namespace gaol::it
