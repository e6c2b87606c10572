// The job metrics of DESIGN.md ("Metrics") on prometheus-cpp: a LaunchObserver that sandbox/
// reports to (sandbox/ itself never links Prometheus). Label values are bounded: statuses and
// step names come from gaol's own enums, rejection reasons from a fixed list; none carries user
// input.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sandbox/run.h"

namespace gaol::metrics {

class JobMetrics : public LaunchObserver {
 public:
  explicit JobMetrics(std::shared_ptr<prometheus::Registry> registry);

  void OnStarted() override;
  void OnFinished(const RunResult& result) override;
  // A job refused before it started: "queue_full", "over_limits", "bad_request", "unauthorized".
  void OnRejected(std::string_view reason);
  void SetQueued(double jobs);
  // gaol serve's pool: "hit" (the job ran on a pre-built sandbox, built in `build_seconds`), or
  // why it started cold: "shape", "empty", "failed", "off".
  void OnPool(std::string_view outcome, std::optional<double> build_seconds);
  void SetPoolDepth(double sandboxes);

  const std::shared_ptr<prometheus::Registry>& Registry() const { return registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& started_;
  prometheus::Family<prometheus::Counter>& finished_;
  prometheus::Gauge& running_;
  prometheus::Gauge& queued_;
  prometheus::Histogram& start_latency_;
  prometheus::Histogram& wall_time_;
  prometheus::Histogram& cpu_time_;
  prometheus::Histogram& peak_memory_;
  prometheus::Family<prometheus::Counter>& setup_errors_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Histogram>& step_seconds_;
  prometheus::Counter& pool_hits_;
  prometheus::Family<prometheus::Counter>& pool_misses_;
  prometheus::Histogram& pool_build_;
  prometheus::Gauge& pool_depth_;
};

// The registry in Prometheus's text exposition format.
std::string TextExposition(const prometheus::Registry& registry);

}  // namespace gaol::metrics
