// gaol-probe: runs inside the sandbox under integration tests and prints what it sees as exactly
// one JSON line on stdout. Linked statically: the sandbox root may hold no libraries.
//
// Exit codes: as the mode says (usually 0); 2 for a bad command line; 3 for an unexpected
// failure, reported as {"error": "..."}.
#include "tests/probe/probe.h"

#include <array>
#include <string>
#include <string_view>

namespace gaol::probe {
namespace {

constexpr const char* kUsage =
    "usage: gaol-probe MODE [ARGS]; modes: report | write PATH [BYTES] | read PATH | stat PATH | "
    "exit N | crash | abort | sleep SECONDS | spew BYTES | spew-stderr BYTES | orphan | sigterm | "
    "tiocsti | fork N | hog BYTES [HOLD] | spin SECONDS";

struct Mode {
  std::string_view name;
  size_t min_args;
  size_t max_args;
  int (*run)(Args args);
};

constexpr std::array kModes = {
    Mode{"report", 0, 0, RunReport},   Mode{"write", 1, 2, RunWrite},
    Mode{"read", 1, 1, RunRead},       Mode{"stat", 1, 1, RunStat},
    Mode{"exit", 1, 1, RunExit},       Mode{"crash", 0, 0, RunCrash},
    Mode{"abort", 0, 0, RunAbort},     Mode{"sleep", 1, 1, RunSleep},
    Mode{"spew", 1, 1, RunSpew},       Mode{"spew-stderr", 1, 1, RunSpewStderr},
    Mode{"orphan", 0, 0, RunOrphan},   Mode{"sigterm", 0, 0, RunSigterm},
    Mode{"tiocsti", 0, 0, RunTiocsti}, Mode{"fork", 1, 1, RunFork},
    Mode{"hog", 1, 2, RunHog},         Mode{"spin", 1, 1, RunSpin},
};

int Dispatch(int argc, char** argv) {
  if (argc < 2) throw UsageError("missing mode");
  std::string_view name = argv[1];
  Args args(argv + 2, static_cast<size_t>(argc - 2));
  for (const Mode& mode : kModes) {
    if (mode.name != name) continue;
    if (args.size() < mode.min_args) throw UsageError("missing argument for " + std::string(name));
    if (args.size() > mode.max_args)
      throw UsageError("too many arguments for " + std::string(name));
    return mode.run(args);
  }
  throw UsageError("unknown mode '" + std::string(name) + "'");
}

}  // namespace
}  // namespace gaol::probe

int main(int argc, char** argv) {
  using gaol::probe::Emit;
  try {
    return gaol::probe::Dispatch(argc, argv);
  } catch (const gaol::probe::UsageError& e) {
    Emit({{"error", std::string(gaol::probe::kUsage) + " (" + e.what() + ")"}});
    return 2;
  } catch (const std::exception& e) {
    Emit({{"error", e.what()}});
    return 3;
  } catch (...) {
    Emit({{"error", "unknown exception"}});
    return 3;
  }
}
