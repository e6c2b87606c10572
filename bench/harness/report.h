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
nlohmann::json ToJson(const StartReport& report);
Result<StartReport> StartReportFromJson(const nlohmann::json& json);

// The table a person reads: one line per row, milliseconds, ratios.
std::string FormatTable(const StartReport& report);

// `gaol bench compare`: each figure's change from `baseline` to `current`. Only ratios to the
// same run's floor are judged (absolute times move with the machine); a rise past `threshold`
// (0.10: 10 %) is a regression.
struct Change {
  std::string name;
  double baseline = 0, current = 0, change = 0;  // change = current / baseline - 1
  bool regression = false;
  std::string note;  // "new row", "row gone", "skipped"
};
struct Comparison {
  std::vector<Change> changes;
  bool Regressed() const;
};
Comparison Compare(const StartReport& baseline, const StartReport& current, double threshold);
std::string FormatComparison(const Comparison& comparison, double threshold);

}  // namespace gaol::bench
