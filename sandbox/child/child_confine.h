// PID 1 once its job runs (child_init.cc): what the job could reach of it is worth nothing.
#pragma once

#include "sandbox/child/child_init.h"
#include "sandbox/launch/child_report.h"

namespace gaol {

// Keeps only CAP_KILL and loads PID 1's own small seccomp filter (x86-64): the calls it still
// makes (waiting, signalling, its reports), EPERM for anything else.
bool ConfineInit(const ChildContext& ctx, ChildReport& report) noexcept;

}  // namespace gaol
