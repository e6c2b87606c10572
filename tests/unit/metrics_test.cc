// The job metrics: a fixed sequence of observations gives a fixed exposition (golden), which
// Prometheus's own promtool accepts.
#include <stdio.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "metrics/job_metrics.h"
#include "metrics/textfile.h"
#include "tests/unit/golden.h"

namespace {

gaol::RunResult Finished(gaol::RunStatus status, double wall, double cpu, std::uint64_t peak) {
  gaol::RunResult r;
  r.status = status;
  r.wall_time_seconds = wall;
  r.cpu_time_seconds = cpu;
  r.peak_memory_bytes = peak;
  r.launch_total_seconds = 0.0021;
  r.launch_steps = {
      {gaol::Step::kClone, 0.0007}, {gaol::Step::kMounts, 0.0006}, {gaol::Step::kSeccomp, 0.00026}};
  return r;
}

std::string Exposition() {
  gaol::metrics::JobMetrics m(std::make_shared<prometheus::Registry>());
  for (auto status : {gaol::RunStatus::kOk, gaol::RunStatus::kOk, gaol::RunStatus::kTimeLimit,
                      gaol::RunStatus::kSeccompViolation}) {
    m.OnStarted();
    m.OnFinished(Finished(status, 0.5, 0.25, 3 << 20));
  }
  m.OnStarted();
  gaol::RunResult failed;
  failed.status = gaol::RunStatus::kSetupError;
  failed.error = gaol::Error{gaol::Step::kPivotRoot, EINVAL, "pivot_root", "/", {}};
  m.OnFinished(failed);
  m.OnStarted();  // still running
  m.OnRejected("queue_full");
  m.OnRejected("a reason nobody listed");
  m.SetQueued(3);
  m.OnPool("hit", 0.004);
  m.OnPool("hit", 0.012);
  m.OnPool("shape", std::nullopt);
  m.OnPool("not a reason", std::nullopt);
  m.SetPoolDepth(2);
  return gaol::metrics::TextExposition(*m.Registry());
}

}  // namespace

TEST_CASE("Metrics: the exposition of a fixed sequence of jobs", "[metrics]") {
  std::string text = Exposition();
  // The version changes with every release: compare the rest.
  std::string version = "gaol_build_info{version=\"" GAOL_VERSION "\"}";
  REQUIRE(text.find(version) != std::string::npos);
  text.replace(text.find(version), version.size(), "gaol_build_info{version=\"VERSION\"}");
  gaol::testing::CheckGolden("metrics_exposition", text, ".prom");
  CHECK(text.find("gaol_jobs_finished_total{status=\"ok\"} 2") != std::string::npos);
  CHECK(text.find("gaol_jobs_running 1") != std::string::npos);
  CHECK(text.find("gaol_setup_errors_total{step=\"pivot_root\"} 1") != std::string::npos);
  CHECK(text.find("gaol_jobs_rejected_total{reason=\"other\"} 1") != std::string::npos);
  CHECK(text.find("gaol_serve_pool_hits_total 2") != std::string::npos);
  CHECK(text.find("gaol_serve_pool_misses_total{reason=\"shape\"} 1") != std::string::npos);
  CHECK(text.find("gaol_serve_pool_misses_total{reason=\"other\"} 1") != std::string::npos);
  CHECK(text.find("gaol_serve_pool_build_seconds_count 2") != std::string::npos);
  CHECK(text.find("gaol_serve_pool_depth 2") != std::string::npos);
}

TEST_CASE("Metrics: promtool check metrics accepts the exposition", "[metrics]") {
  std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") +
                     "/gaol-metrics-test.prom";
  std::ofstream(path) << Exposition();
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  int status = pclose(p);
  INFO(out);
  CHECK(status == 0);
  std::remove(path.c_str());
}

TEST_CASE("Metrics: a textfile merge adds counters and histograms, replaces gauges", "[metrics]") {
  std::string before =
      "# HELP a_total A\n# TYPE a_total counter\na_total{s=\"ok\"} 2\n"
      "# HELP g G\n# TYPE g gauge\ng 5\n"
      "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
      "h_sum 3.5\nh_count 2\n"
      "# HELP other_total kept as it is\n# TYPE other_total counter\nother_total 7\n";
  std::string now =
      "# HELP a_total A\n# TYPE a_total counter\na_total{s=\"ok\"} 1\na_total{s=\"x y}\"} 1\n"
      "# HELP g G\n# TYPE g gauge\ng 1\n"
      "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\n"
      "h_sum 4\nh_count 1\n";
  auto merged = gaol::metrics::MergeExpositions(before, now);
  REQUIRE(merged);
  CHECK(*merged ==
        "# HELP a_total A\n# TYPE a_total counter\na_total{s=\"ok\"} 3\na_total{s=\"x y}\"} 1\n"
        "# HELP g G\n# TYPE g gauge\ng 1\n"
        "# HELP h H\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 3\n"
        "h_sum 7.5\nh_count 3\n"
        "# HELP other_total kept as it is\n# TYPE other_total counter\nother_total 7\n");
  // Merging into nothing gives the exposition back; a damaged file is an error naming the line.
  CHECK(*gaol::metrics::MergeExpositions("", now) == now);
  auto bad = gaol::metrics::MergeExpositions("a_total{s=\"ok\"} two\n", now);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().Message(), Catch::Contains("line 1"));
}
