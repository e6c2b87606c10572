#pragma once

#include <CLI/CLI.hpp>

#include "sandbox/cli/run_flags.h"
#include "sandbox/common/error.h"

namespace gaol::cli {

inline constexpr int kExitGaolFailed = 125;

// One line on stderr naming what was wrong and what was expected; returns 125.
int ReportUsageError(const Error& error);

int RunCommand(const CLI::App& run, const RunFlags& flags);
int CheckCommand(bool json);
int ProfileList();
int ProfileShow(const std::string& name);

}  // namespace gaol::cli
