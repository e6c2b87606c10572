// `gaol bench ... --metrics-textfile FILE.prom / --metrics-push URL`: the figures as Prometheus
// gauges, so a CI system's Prometheus can chart them run after run. Labels are gaol's own row
// names and fixed quantiles: bounded.
#pragma once

#include <string>

#include "bench/harness/enforce.h"
#include "bench/harness/report.h"
#include "bench/harness/serve.h"

namespace gaol::bench {

// The text exposition of a report's figures (gauges: a textfile merge replaces them).
std::string StartExposition(const StartReport& report);
std::string EnforceExposition(const EnforceReport& report);
std::string ServeExposition(const ServeReport& report);

// To the textfile and/or the Pushgateway (job=gaol-bench); empty strings skip that target.
Status ExportStart(const StartReport& report, const std::string& textfile,
                   const std::string& push_url);
Status ExportServe(const ServeReport& report, const std::string& textfile,
                   const std::string& push_url);
Status ExportEnforce(const EnforceReport& report, const std::string& textfile,
                     const std::string& push_url);

}  // namespace gaol::bench
