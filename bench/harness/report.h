// gaol.bench/v1: what `gaol bench` writes with --json, reads back in `gaol bench compare`, and
// prints as a table. docs/BENCH.md documents every field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/harness/stats.h"
#include "sandbox/common/error.h"

namespace gaol::bench {

inline constexpr const char* kBenchSchema = "gaol.bench/v1";

// The machine the figures come from, with what isolate's reproducibility advice says to report.
struct Host {
  std::string kernel, cpu_model, cgroup_mode, gaol_version;
  unsigned cpus = 0;
  std::string governor = "unknown";  // scaling_governor of CPU 0
  std::string turbo = "unknown";     // "on", "off" or "unknown"
  std::string aslr = "unknown";      // kernel.randomize_va_space
  std::optional<int> pinned_cpu;     // --cpu N
  std::string user;                  // the uid measured as
};
Host DescribeHost();

struct Row {
  std::string name;  // stable: compare matches rows by it
  std::string tool;  // floor, unshare, bwrap, crun, nsjail, firejail, gaol
  std::vector<std::string> command;
  Summary seconds;
  std::vector<double> samples;  // every measured sample, in seconds, in the order taken
  std::optional<double> ratio_to_floor, ratio_to_bwrap;  // of p50s
  std::string skipped;  // why the row was not measured ("bwrap is not installed"); else empty
};

struct StartReport {
  Host host;
  std::size_t rounds = 0;
  std::vector<Row> rows;
};

nlohmann::json ToJson(const Host& host);
// A row's distribution, as every kind of report writes it; the reader throws as HostFromJson.
nlohmann::json ToJson(const Summary& summary);
Summary SummaryFromJson(const nlohmann::json& json);
// The progress bar on stderr: "[####    ] done/total rounds", a newline at the end.
void ShowProgress(std::size_t done, std::size_t total);
// Throws nlohmann::json::exception on a missing or mistyped field (the callers catch it).
Host HostFromJson(const nlohmann::json& json);
nlohmann::json ToJson(const StartReport& report);
Result<StartReport> StartReportFromJson(const nlohmann::json& json);

// The table a person reads: one line per row, milliseconds, ratios.
std::string FormatTable(const StartReport& report);

}  // namespace gaol::bench
