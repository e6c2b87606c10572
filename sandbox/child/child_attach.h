// A pre-built sandbox's PID 1 (gaol serve's pool) between its set-up steps and its job: it says
// kZygoteReady on kSyncFd and takes the job's parts (WarmParts, child_report.h). Nothing here
// allocates.
#pragma once

#include "sandbox/child/child_init.h"
#include "sandbox/launch/child_report.h"

namespace gaol {

// Waits until gaol gives this sandbox a job (or closes kSyncFd: the sandbox is discarded unused,
// and PID 1 exits). The job's stdio lands on 0-2, its argv, envp, exec candidates and rlimits
// in `ctx` (pointing into PID 1's own static copy), each tmpfs is resized for the job's limits
// and the workdir seeded; kSyncFd is closed before anything of the job runs. False (Step::kAttach
// in `report`) for a message that does not add up.
bool AwaitParts(ChildContext& ctx, ChildReport& report) noexcept;

}  // namespace gaol
