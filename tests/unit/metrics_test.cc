// The job metrics: a fixed sequence of observations gives a fixed exposition (golden), which
// Prometheus's own promtool accepts.
#include <stdio.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "metrics/job_metrics.h"
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
