// The runner: one process per job of `gaol serve`, forked by the single-threaded fork server. It
// places the request's files in a job directory, runs the job through the same library call as
// `gaol run` (RunJob), collects stdout, stderr and the files asked for, removes the directory,
// and writes the result JSON to its result pipe. A closed pipe without a result is a runner crash.
#pragma once

namespace gaol::serve {

// request_fd: a memfd holding RequestToJson; result_fd: where the result JSON goes; cancel_fd:
// readable or hung up when the server wants the job gone. Returns the runner's exit status.
int RunnerMain(int request_fd, int result_fd, int cancel_fd);

}  // namespace gaol::serve
