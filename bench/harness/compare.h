// `gaol bench compare`: each figure's change from a baseline report to a current one, judged only
// on figures that do not move with the machine:
//   start    each row's p50 over the same run's floor (fork+exec of /bin/true);
//   enforce  each limit's worst error as a share of the limit asked, and its mechanism;
//   serve    each concurrency's p50 over the same run's parallel fork+exec p50, and the fork+exec
//            rate over gaol serve's rate;
//   micro    Google Benchmark JSON of gaol-micro-bench: each benchmark's time over the same run's
//            floor/fork_exec_true.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/harness/enforce.h"
#include "bench/harness/report.h"
#include "bench/harness/serve.h"
#include "sandbox/common/error.h"

namespace gaol::bench {

struct Change {
  enum class Kind { kRatio, kErrorShare };
  std::string name;
  Kind kind = Kind::kRatio;
  // kRatio: ratios to the floor, change = current / baseline - 1.
  // kErrorShare: |worst error| / asked, change = current - baseline (points of the limit).
  double baseline = 0, current = 0, change = 0;
  bool regression = false;
  std::string note;  // "new row", "row gone", "skipped: ...", "mechanism cgroup -> rlimit"
};

struct Comparison {
  std::string kind;  // start, enforce, serve, micro
  std::vector<Change> changes;
  bool Regressed() const;
};

// threshold: 0.10 is 10 % (a ratio's rise), or 10 points of the limit (an error share's rise).
Comparison Compare(const StartReport& baseline, const StartReport& current, double threshold);
Comparison Compare(const EnforceReport& baseline, const EnforceReport& current, double threshold);
Comparison Compare(const ServeReport& baseline, const ServeReport& current, double threshold);
// Both Google Benchmark JSON documents; an error when either lacks a measured floor.
Result<Comparison> CompareMicro(const nlohmann::json& baseline, const nlohmann::json& current,
                                double threshold);
// Reads the kind of both documents and compares them; an error when the kinds differ.
Result<Comparison> CompareDocuments(const nlohmann::json& baseline, const nlohmann::json& current,
                                    double threshold);

std::string FormatComparison(const Comparison& comparison, double threshold);

}  // namespace gaol::bench
