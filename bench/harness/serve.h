// `gaol bench serve`: latency and throughput of `POST /v1/run` for a no-op job at several
// concurrencies, each beside the same number of parallel fork+execs of the same job, measured
// interleaved in the same run (round by round, every row once per round, the order rotating), so
// every figure is a ratio to its own floor.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bench/harness/report.h"

namespace gaol::bench {

struct ServeOptions {
  std::size_t rounds = 20;
  std::size_t requests = 20;  // per client and round
  std::vector<unsigned> concurrency = {1, 2, 4, 8};
  std::string gaol;           // the gaol binary whose `serve` is measured
  std::string cgroup_parent;  // given to the server: every job gets its leaf there
  bool progress = false;
  std::string work_dir;  // the server's --work-dir
};

struct ServeRow {
  std::string name;  // stable: compare matches rows by it
  std::string tool;  // "serve" or "floor"
  unsigned concurrency = 1;
  Summary seconds;              // one request (or one fork+exec) each
  std::vector<double> samples;  // every one, in seconds, in the order taken
  double per_second = 0;        // completed in all over the row's measured time
  // Of this row over the floor row of the same concurrency (the serve rows only).
  std::optional<double> ratio_p50, ratio_p99, ratio_throughput;
  std::string skipped;
};

struct ServeReport {
  Host host;
  std::size_t rounds = 0, requests = 0;
  std::vector<std::string> server;  // the server's command line
  std::vector<ServeRow> rows;
};

Result<ServeReport> RunServe(const ServeOptions& options);

nlohmann::json ToJson(const ServeReport& report);
Result<ServeReport> ServeReportFromJson(const nlohmann::json& json);
std::string FormatTable(const ServeReport& report);

}  // namespace gaol::bench
