// gaol-metrics.so: what `gaol run --metrics-textfile/--metrics-push` loads after a run. The run's
// figures arrive as a plain-C struct and become one JobMetrics observation.
#include <fmt/format.h>
#include <prometheus/gateway.h>
#include <unistd.h>

#include <cstring>
#include <regex>

#include "metrics/job_metrics.h"
#include "metrics/textfile.h"
#include "sandbox/cli/metrics_export.h"

namespace {

using gaol::RunResult;

RunResult FromFigures(const GaolRunFigures& f) {
  RunResult r;
  r.status = gaol::RunStatusFromName(f.status);
  if (f.error_step) r.error = gaol::Error{gaol::StepFromName(f.error_step), 0, "", "", ""};
  r.launch_total_seconds = f.launch_total_seconds;
  r.wall_time_seconds = f.wall_time_seconds;
  r.cpu_time_seconds = f.cpu_time_seconds;
  r.peak_memory_bytes = f.peak_memory_bytes;
  for (std::size_t i = 0; i < f.step_count; ++i)
    r.launch_steps[gaol::StepFromName(f.step_names[i])] = f.step_seconds[i];
  return r;
}

int Failed(char* error, std::size_t size, const std::string& message) {
  std::snprintf(error, size, "%s", message.c_str());
  return -1;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int gaol_metrics_export(
    const GaolRunFigures* figures, const char* textfile, const char* push_url, char* error,
    std::size_t error_size) {
  try {
    auto registry = std::make_shared<prometheus::Registry>();
    gaol::metrics::JobMetrics metrics(registry);
    metrics.OnStarted();
    metrics.OnFinished(FromFigures(*figures));
    if (textfile && *textfile) {
      auto merged =
          gaol::metrics::MergeIntoTextfile(textfile, gaol::metrics::TextExposition(*registry));
      if (!merged) return Failed(error, error_size, merged.error().Message());
    }
    if (push_url && *push_url) {
      auto pushed = gaol::metrics::PushToGateway(push_url, "gaol", registry);
      if (!pushed) return Failed(error, error_size, pushed.error().Message());
    }
    return 0;
  } catch (const std::exception& e) {
    return Failed(error, error_size, e.what());
  }
}
