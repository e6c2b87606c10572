// `gaol bench enforce`: how exactly each limit holds. Each row runs a workload against one limit
// `repeat` times and reports the measured figure against the one asked for, with the mechanism
// gaol reported for it (cgroup, rlimit, supervisor, none): on a host without delegated
// controllers that is the rlimit fallback, measured as such.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/harness/report.h"

namespace gaol::bench {

struct EnforceOptions {
  std::size_t repeat = 10;
  std::string gaol;           // the gaol binary
  std::string self;           // gaol-bench, for its workloads
  std::string cgroup_parent;  // passed to every run when given
  bool progress = false;
};

struct EnforceRow {
  std::string name;       // "memory 64 MiB: hog"
  std::string limit;      // the result's enforcement key: memory, pids, cpu, time_limit, ...
  std::string mechanism;  // what gaol said enforced it (the first run's)
  std::string figure;     // what is measured: "peak_memory_bytes", "share of a CPU", ...
  double asked = 0;
  Summary measured;
  Summary wall_seconds;  // the job's wall time: for memory, the time to the OOM kill
  double error_p50 = 0, error_worst = 0;  // measured - asked (signed; worst: largest |error|)
  std::string statuses;                   // the verdicts seen, e.g. "memory_limit x10"
  std::string skipped;
};

struct EnforceReport {
  Host host;
  std::size_t repeat = 0;
  std::vector<EnforceRow> rows;
};

Result<EnforceReport> RunEnforce(const EnforceOptions& options);
nlohmann::json ToJson(const EnforceReport& report);
Result<EnforceReport> EnforceReportFromJson(const nlohmann::json& json);
std::string FormatTable(const EnforceReport& report);

}  // namespace gaol::bench
