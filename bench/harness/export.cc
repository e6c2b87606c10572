#include "bench/harness/export.h"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "metrics/job_metrics.h"
#include "metrics/textfile.h"

namespace gaol::bench {
namespace {

using prometheus::BuildGauge;

std::shared_ptr<prometheus::Registry> StartRegistry(const StartReport& r) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& latency = BuildGauge()
                      .Name("gaol_bench_start_latency_seconds")
                      .Help("Spawn-to-exit latency of a no-op job, by row and percentile")
                      .Register(*registry);
  auto& ratio = BuildGauge()
                    .Name("gaol_bench_start_ratio_to_floor")
                    .Help("A row's p50 over the same run's fork+exec p50")
                    .Register(*registry);
  for (const auto& row : r.rows) {
    if (!row.skipped.empty()) continue;
    // "percentile", not "quantile": Prometheus keeps that label for summaries.
    for (auto [p, v] : {std::pair{"p50", row.seconds.p50}, std::pair{"p90", row.seconds.p90},
                        std::pair{"p99", row.seconds.p99}}) {
      latency.Add({{"percentile", p}, {"row", row.name}}).Set(v);
    }
    if (row.ratio_to_floor) ratio.Add({{"row", row.name}}).Set(*row.ratio_to_floor);
  }
  return registry;
}

std::shared_ptr<prometheus::Registry> ServeRegistry(const ServeReport& r) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& latency = BuildGauge()
                      .Name("gaol_bench_serve_latency_seconds")
                      .Help("Time of one POST /v1/run (or one fork+exec), by row and percentile")
                      .Register(*registry);
  auto& rate = BuildGauge()
                   .Name("gaol_bench_serve_per_second")
                   .Help("Requests (or fork+execs) completed per second, by row")
                   .Register(*registry);
  auto& ratio = BuildGauge()
                    .Name("gaol_bench_serve_ratio_to_floor")
                    .Help("A serve row's figure over the fork+exec row of the same concurrency")
                    .Register(*registry);
  for (const auto& row : r.rows) {
    for (auto [p, v] : {std::pair{"p50", row.seconds.p50}, std::pair{"p90", row.seconds.p90},
                        std::pair{"p99", row.seconds.p99}}) {
      latency.Add({{"percentile", p}, {"row", row.name}}).Set(v);
    }
    rate.Add({{"row", row.name}}).Set(row.per_second);
    for (auto [figure, v] : {std::pair{"p50", row.ratio_p50}, std::pair{"p99", row.ratio_p99},
                             std::pair{"throughput", row.ratio_throughput}}) {
      if (v) ratio.Add({{"figure", figure}, {"row", row.name}}).Set(*v);
    }
  }
  return registry;
}

std::shared_ptr<prometheus::Registry> EnforceRegistry(const EnforceReport& r) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& asked = BuildGauge()
                    .Name("gaol_bench_enforce_asked")
                    .Help("The limit asked for, in the row's unit")
                    .Register(*registry);
  auto& measured = BuildGauge()
                       .Name("gaol_bench_enforce_measured")
                       .Help("The p50 of the figure measured against the limit, same unit")
                       .Register(*registry);
  auto& worst = BuildGauge()
                    .Name("gaol_bench_enforce_error_worst")
                    .Help("The largest signed error of measured against asked, same unit")
                    .Register(*registry);
  for (const auto& row : r.rows) {
    if (!row.skipped.empty()) continue;
    prometheus::Labels labels = {{"row", row.name}, {"mechanism", row.mechanism}};
    asked.Add(labels).Set(row.asked);
    measured.Add(labels).Set(row.measured.p50);
    worst.Add(labels).Set(row.error_worst);
  }
  return registry;
}

}  // namespace

std::string StartExposition(const StartReport& r) {
  return metrics::TextExposition(*StartRegistry(r));
}

std::string ServeExposition(const ServeReport& r) {
  return metrics::TextExposition(*ServeRegistry(r));
}

std::string EnforceExposition(const EnforceReport& r) {
  return metrics::TextExposition(*EnforceRegistry(r));
}

namespace {

Status Export(const std::shared_ptr<prometheus::Registry>& registry, const std::string& textfile,
              const std::string& push_url) {
  if (!textfile.empty()) {
    if (auto s = metrics::MergeIntoTextfile(textfile, metrics::TextExposition(*registry)); !s) {
      return s;
    }
  }
  if (!push_url.empty()) return metrics::PushToGateway(push_url, "gaol-bench", registry);
  return {};
}

}  // namespace

Status ExportStart(const StartReport& r, const std::string& textfile, const std::string& push_url) {
  return Export(StartRegistry(r), textfile, push_url);
}

Status ExportServe(const ServeReport& r, const std::string& textfile, const std::string& push_url) {
  return Export(ServeRegistry(r), textfile, push_url);
}

Status ExportEnforce(const EnforceReport& r, const std::string& textfile,
                     const std::string& push_url) {
  return Export(EnforceRegistry(r), textfile, push_url);
}

}  // namespace gaol::bench
