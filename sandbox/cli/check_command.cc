// `gaol check`: what this host supports, with the fix for each gap.
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "sandbox/check/check.h"
#include "sandbox/cli/commands.h"

namespace gaol::cli {

int CheckCommand(bool json) {
  check::Report report = check::InspectHost(getuid());
  if (json) {
    std::puts(check::ToJson(report).dump(2).c_str());
  } else {
    std::fputs(check::FormatText(report).c_str(), stdout);
  }
  // 0: gaol can run jobs here (gaps may remain); 1: it cannot.
  return report.CanRun() ? 0 : 1;
}

}  // namespace gaol::cli
