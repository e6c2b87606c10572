// `--plot DIR`: pictures a person would rather look at than read, drawn by gnuplot (Debian's
// gnuplot-nox) as SVG: the start latency CDF of every row, and each limit's measured figure
// against the one asked for.
#pragma once

#include <string>

#include "bench/harness/enforce.h"
#include "bench/harness/report.h"
#include "bench/harness/serve.h"

namespace gaol::bench {

// DIR/start-latency.svg (with its .dat and .gp beside it).
Status PlotStart(const StartReport& report, const std::string& dir);
// DIR/serve-latency.svg: the CDF of each row's request (or fork+exec) time.
Status PlotServe(const ServeReport& report, const std::string& dir);
// DIR/enforce.svg: measured / asked per row, p50 with min-max bars, 1.0 marked.
Status PlotEnforce(const EnforceReport& report, const std::string& dir);

}  // namespace gaol::bench
