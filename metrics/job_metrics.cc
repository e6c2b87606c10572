#include "metrics/job_metrics.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "sandbox/result/result.h"

namespace gaol::metrics {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

constexpr std::array<std::string_view, 6> kRejections = {"queue_full",         "over_limits",
                                                         "bad_request",        "unauthorized",
                                                         "client_connections", "request_timeout"};

// 1 ms to 60 s: job start and run times.
Histogram::BucketBoundaries Seconds() {
  return {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60};
}
// 10 µs to 100 ms: one launch step.
Histogram::BucketBoundaries StepSeconds() {
  return {1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1};
}
// 1 MiB to 16 GiB, by powers of 4.
Histogram::BucketBoundaries Bytes() {
  Histogram::BucketBoundaries out;
  for (double b = 1 << 20; b <= 16.0 * (1ULL << 30); b *= 4) out.push_back(b);
  return out;
}

}  // namespace

JobMetrics::JobMetrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      started_(BuildCounter()
                   .Name("gaol_jobs_started_total")
                   .Help("Jobs gaol started to launch")
                   .Register(*registry_)
                   .Add({})),
      finished_(BuildCounter()
                    .Name("gaol_jobs_finished_total")
                    .Help("Jobs finished, by result status")
                    .Register(*registry_)),
      running_(BuildGauge()
                   .Name("gaol_jobs_running")
                   .Help("Jobs launched and not yet finished")
                   .Register(*registry_)
                   .Add({})),
      queued_(BuildGauge()
                  .Name("gaol_jobs_queued")
                  .Help("Jobs accepted and waiting for a slot")
                  .Register(*registry_)
                  .Add({})),
      start_latency_(BuildHistogram()
                         .Name("gaol_job_start_latency_seconds")
                         .Help("From gaol's start of a launch to the job's execve")
                         .Register(*registry_)
                         .Add({}, Seconds())),
      wall_time_(BuildHistogram()
                     .Name("gaol_job_wall_time_seconds")
                     .Help("The job's wall time, from its execve to its end")
                     .Register(*registry_)
                     .Add({}, Seconds())),
      cpu_time_(BuildHistogram()
                    .Name("gaol_job_cpu_time_seconds")
                    .Help("The job's CPU time (user and system)")
                    .Register(*registry_)
                    .Add({}, Seconds())),
      peak_memory_(BuildHistogram()
                       .Name("gaol_job_peak_memory_bytes")
                       .Help("The job's peak memory")
                       .Register(*registry_)
                       .Add({}, Bytes())),
      setup_errors_(BuildCounter()
                        .Name("gaol_setup_errors_total")
                        .Help("Launches that failed in gaol's set-up, by step")
                        .Register(*registry_)),
      rejected_(BuildCounter()
                    .Name("gaol_jobs_rejected_total")
                    .Help("Jobs refused before they started, by reason")
                    .Register(*registry_)),
      step_seconds_(BuildHistogram()
                        .Name("gaol_launch_step_seconds")
                        .Help("Time of each launch step")
                        .Register(*registry_)),
      pool_hits_(BuildCounter()
                     .Name("gaol_serve_pool_hits_total")
                     .Help("Jobs run on a sandbox gaol serve built before they came")
                     .Register(*registry_)
                     .Add({})),
      pool_misses_(BuildCounter()
                       .Name("gaol_serve_pool_misses_total")
                       .Help("Jobs that started cold, by reason: shape (not the pool's), empty "
                             "(no sandbox waiting), failed (its build failed), off (--pool 0)")
                       .Register(*registry_)),
      pool_build_(BuildHistogram()
                      .Name("gaol_serve_pool_build_seconds")
                      .Help("How long building a pre-built sandbox took, off the job's path")
                      .Register(*registry_)
                      .Add({}, Seconds())),
      pool_depth_(BuildGauge()
                      .Name("gaol_serve_pool_depth")
                      .Help("Pre-built sandboxes waiting for a job (as the last job found them)")
                      .Register(*registry_)
                      .Add({})) {
  BuildGauge()
      .Name("gaol_build_info")
      .Help("gaol's version")
      .Register(*registry_)
      .Add({{"version", GAOL_VERSION}})
      .Set(1);
}

void JobMetrics::OnStarted() {
  started_.Increment();
  running_.Increment();
}

void JobMetrics::OnFinished(const RunResult& r) {
  running_.Decrement();
  finished_.Add({{"status", std::string(RunStatusName(r.status))}}).Increment();
  if (r.status == RunStatus::kSetupError) {
    Step step = r.error ? r.error->step : Step::kValidate;
    setup_errors_.Add({{"step", std::string(StepName(step))}}).Increment();
    return;
  }
  start_latency_.Observe(r.launch_total_seconds);
  wall_time_.Observe(r.wall_time_seconds);
  cpu_time_.Observe(r.cpu_time_seconds);
  peak_memory_.Observe(static_cast<double>(r.peak_memory_bytes));
  for (const auto& [step, seconds] : r.launch_steps) {
    step_seconds_.Add({{"step", std::string(StepName(step))}}, StepSeconds()).Observe(seconds);
  }
}

void JobMetrics::OnRejected(std::string_view reason) {
  bool known = false;
  for (auto r : kRejections) known = known || r == reason;
  rejected_.Add({{"reason", known ? std::string(reason) : "other"}}).Increment();
}

void JobMetrics::SetQueued(double jobs) { queued_.Set(jobs); }

void JobMetrics::OnPool(std::string_view outcome, std::optional<double> build_seconds) {
  if (outcome == "hit") {
    pool_hits_.Increment();
    if (build_seconds) pool_build_.Observe(*build_seconds);
    return;
  }
  bool known = false;
  for (std::string_view r : {"shape", "empty", "failed", "off"}) known = known || r == outcome;
  pool_misses_.Add({{"reason", known ? std::string(outcome) : "other"}}).Increment();
}

void JobMetrics::SetPoolDepth(double sandboxes) { pool_depth_.Set(sandboxes); }

std::string TextExposition(const prometheus::Registry& registry) {
  // prometheus-cpp keeps a family's series in a hash map: sorted here, so that the exposition is
  // stable from one scrape (and one build) to the next.
  auto families = registry.Collect();
  for (auto& family : families) {
    std::sort(family.metric.begin(), family.metric.end(), [](const auto& a, const auto& b) {
      return std::lexicographical_compare(a.label.begin(), a.label.end(), b.label.begin(),
                                          b.label.end(), [](const auto& x, const auto& y) {
                                            return std::tie(x.name, x.value) <
                                                   std::tie(y.name, y.value);
                                          });
    });
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace gaol::metrics
