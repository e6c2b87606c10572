// The runner: one process per job of `gaol serve`, forked by the single-threaded fork server. It
// places the request's files in a job directory, runs the job through the same library call as
// `gaol run` (RunJob), collects stdout, stderr and the files asked for, removes the directory,
// and writes the result JSON to its result pipe. A closed pipe without a result is a runner crash.
#pragma once

#include <string>

#include "sandbox/run.h"

namespace gaol::serve {

// request_fd: a memfd holding RequestToJson; result_fd: where the result JSON goes; cancel_fd:
// readable or hung up when the server wants the job gone. `warm`: a sandbox built beforehand,
// run on when the job's shape is its own; otherwise the job starts cold, and the result's `pool`
// says why (`no_warm`: "off", "empty", "failed"). Returns the runner's exit status.
int RunnerMain(int request_fd, int result_fd, int cancel_fd, WarmSandboxPtr warm,
               const char* no_warm);

// A pool runner: builds a sandbox for `shape` (a runner request), waits on `sock` for its job's
// three descriptors (as the fork server gets them), then runs it as RunnerMain. EOF: exits, the
// sandbox unused.
int PoolRunnerMain(int sock, const std::string& shape);

}  // namespace gaol::serve
