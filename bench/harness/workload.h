// The workloads `gaol bench enforce` runs inside the sandbox: gaol-bench itself, bind-mounted
// read-only, as `gaol-bench workload KIND ARG` (no test binary ships with the product).
#pragma once

namespace gaol::bench {

// hog BYTES: touch memory 1 MiB at a time; fork N: keep forking (children pause) and print how
// many succeeded; spin SECONDS: burn CPU; sleep SECONDS; write BYTES: to stdout.
int WorkloadMain(int argc, char** argv);

}  // namespace gaol::bench
