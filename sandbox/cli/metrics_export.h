// `gaol run --metrics-textfile FILE` and `--metrics-push URL`. Prometheus stays off gaol's start
// path (DESIGN.md): the exporter is a module, gaol-metrics.so, that gaol loads with dlopen only
// after a run that asked for it. The two sides share this plain-C struct, so the module (built
// with its own copy of libstdc++) never touches gaol's C++ objects.
#pragma once

#include <cstddef>

#include "sandbox/common/error.h"
#include "sandbox/result/result.h"

extern "C" {

struct GaolRunFigures {
  const char* status;      // RunStatusName
  const char* error_step;  // StepName of a setup_error's step, or null
  double launch_total_seconds;
  double wall_time_seconds;
  double cpu_time_seconds;
  unsigned long long peak_memory_bytes;
  std::size_t step_count;
  const char* const* step_names;
  const double* step_seconds;
};

// 0 on success; otherwise -1 with one line in `error`.
using GaolMetricsExportFn = int (*)(const GaolRunFigures* figures, const char* textfile,
                                    const char* push_url, char* error, std::size_t error_size);
inline constexpr const char* kGaolMetricsExportSymbol = "gaol_metrics_export";
}

namespace gaol::cli {

// Loads gaol-metrics.so (beside gaol, or in ../lib/gaol) and exports `result` to the textfile
// and/or the Pushgateway. Empty strings skip that target.
Status ExportMetrics(const RunResult& result, const std::string& textfile,
                     const std::string& push_url);

// --metrics-textfile FILE.prom in a writable directory, --metrics-push http://HOST:PORT; empty
// strings pass. The error names the flag and what was expected.
Status CheckMetricsTargets(const std::string& textfile, const std::string& push_url);

// `gaol serve ARGS` / `gaol bench ARGS`: execs gaol-serve / gaol-bench ARGS (beside gaol, or
// ../lib/gaol); returns 125 if it cannot.
int ExecCompanion(const std::string& name, int argc, char** argv);

}  // namespace gaol::cli
