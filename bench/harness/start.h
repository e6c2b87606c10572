// `gaol bench start`: spawn-to-exit latency of a no-op job, for gaol at each isolation level and
// for every peer installed here, interleaved in one run (A B C, B C A, ...) so the machine's
// drift falls on every row alike.
#pragma once

#include <optional>
#include <string>

#include "bench/harness/report.h"

namespace gaol::bench {

struct StartOptions {
  std::size_t rounds = 200;
  std::string gaol;           // the gaol binary measured
  std::string cgroup_parent;  // for the "+ cgroup leaf" rows; empty: those rows are skipped
  std::optional<int> cpu;     // pin the harness and every sample to this CPU
  bool progress = false;      // a progress bar on stderr
  std::string work_dir;       // where the crun bundle is prepared
};

// The rows, in order: the floor, the peers, then gaol from user+mount namespaces up to its full
// default. A row whose tool is missing or fails is kept with the reason in `skipped`.
std::vector<Row> StartRows(const StartOptions& options);

Result<StartReport> RunStart(const StartOptions& options);

}  // namespace gaol::bench
