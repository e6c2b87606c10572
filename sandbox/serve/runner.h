// The runner: one process per job of `gaol serve`, forked by the single-threaded fork server. It
// places the request's files in a job directory, runs the job through the same library call as
// `gaol run` (RunJob), collects stdout, stderr and the files asked for, removes the directory,
// and writes the result JSON to its result pipe. A closed pipe without a result is a runner crash.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "sandbox/run.h"
#include "sandbox/serve/request.h"

namespace gaol::serve {

// request_fd: a memfd holding RequestToJson; result_fd: where the result JSON goes; cancel_fd:
// readable or hung up when the server wants the job gone. `warm`: a sandbox built beforehand,
// run on when the job's shape is its own; otherwise the job starts cold, and the result's `pool`
// says why (`no_warm`: "off", "empty", "failed"). Returns the runner's exit status.
int RunnerMain(int request_fd, int result_fd, int cancel_fd, WarmSandboxPtr warm,
               const char* no_warm);

// A pool runner: builds a sandbox for `shape` (a runner request) and hands it over on `sock`
// ('k' and a WarmHandover with its descriptors) to the fork server, which keeps it for the
// server. Then 't' (the server took it): it stays PID 1's parent until the server is done with
// the sandbox or dies (AwaitHandedOver); EOF instead: exits, the sandbox unused.
int PoolRunnerMain(int sock, const std::string& shape);

// The server's side of the pool: `request`'s job on a sandbox it adopted, answered as a runner
// answers (hit), or nullopt when the job's shape is not the sandbox's (or its PID 1 is gone):
// `request` is then as it came, for a cold start, and the sandbox is of no further use.
std::optional<nlohmann::json> RunOnWarm(RunRequest& request, WarmSandbox& sandbox, int cancel_fd);

// The spec a pool's sandboxes are built for, from the pool's shape request.
JobSpec PoolShape(const RunRequest& shape);

}  // namespace gaol::serve
