// gaol: run untrusted jobs in a rootless sandbox.
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "gaol_build_info.h"
#include "gaol_revision.h"
#include "sandbox/cli/commands.h"
#include "sandbox/cli/metrics_export.h"
#include "sandbox/lsm/landlock.h"

namespace gaol::cli {

// What a bug report needs: the version, the revision it was built from, and what is built in
// (every feature is: the libraries are required, linked statically or loaded when used).
std::string VersionText() {
  std::string text = "gaol " GAOL_VERSION " (revision " GAOL_REVISION ")\n";
  text += "built with " GAOL_COMPILER ", " GAOL_BUILD_TYPE "\n";
  text += "features: io_uring (liburing " GAOL_LIBURING_VERSION "), seccomp (libseccomp ";
  text += std::to_string(SCMP_VER_MAJOR) + "." + std::to_string(SCMP_VER_MINOR) + "." +
          std::to_string(SCMP_VER_MICRO);
  text += "), landlock (ABI 1-" + std::to_string(landlock::kNewestAbi) + ")";
  text += ", apparmor, capabilities (libcap " GAOL_LIBCAP_VERSION ")";
  text += ", systemd-scope (libsystemd, loaded when used), cgroup v2, metrics (Prometheus)";
  return text;
}

int ReportUsageError(const Error& error) {
  std::fprintf(stderr, "gaol: %s\n", error.Message().c_str());
  return kExitGaolFailed;
}

}  // namespace gaol::cli

int main(int argc, char** argv) {
  // Descriptors 0-2 must exist, or a file gaol opens could take their place.
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  // `gaol serve` and `gaol bench` are their own binaries, so their libraries (HTTP, Prometheus)
  // never load on `gaol run`.
  if (argc > 1 && std::string_view(argv[1]) == "serve") {
    return gaol::cli::ExecCompanion("gaol-serve", argc, argv);
  }
  if (argc > 1 && std::string_view(argv[1]) == "bench") {
    return gaol::cli::ExecCompanion("gaol-bench", argc, argv);
  }
  // `gaol run`: the caller's stop signals are the sandbox's from the first instant. Blocked now,
  // before anything else, they stay pending until the supervisor's signalfd forwards them (a
  // SIGTERM in gaol's first milliseconds killed it with no result and nothing reported).
  if (argc > 1 && std::string_view(argv[1]) == "run") {
    sigset_t stop;
    sigemptyset(&stop);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT}) sigaddset(&stop, sig);
    sigprocmask(SIG_BLOCK, &stop, nullptr);
  }
  // A closed reader of the job's output must not kill gaol before it reports.
  signal(SIGPIPE, SIG_IGN);
  // Never destroyed: tearing down CLI11's ~60 options and their strings at exit cost gaol's start
  // path 12 % of its instructions, for memory the process gives back as it ends.
  static CLI::App* const kApp = new CLI::App{
      "gaol: run an untrusted command in a rootless sandbox and report what it used", "gaol"};
  CLI::App& app = *kApp;
  app.set_version_flag("--version", gaol::cli::VersionText());
  app.require_subcommand(1);
  app.allow_extras();  // `run` takes its command from what follows its own flags
  static auto* const kRunFlags = new gaol::cli::RunFlags;
  gaol::cli::RunFlags& run_flags = *kRunFlags;
  CLI::App* run = app.add_subcommand("run", "Run one job: gaol run [OPTIONS] -- COMMAND [ARG...]");
  gaol::cli::AddRunFlags(*run, run_flags);
  bool check_json = false;
  CLI::App* check =
      app.add_subcommand("check", "Report what this host supports, with the fix for each gap");
  check->add_flag("--json", check_json, "Print the report as JSON (gaol.check/v1)");
  app.add_subcommand("serve",
                     "HTTP JSON API for judges: gaol serve --listen 127.0.0.1:8480 "
                     "(gaol serve --help for its options)");
  app.add_subcommand("bench",
                     "Start latency side by side with bwrap, unshare, crun; how exactly limits "
                     "hold; gaol serve beside fork+exec; compare against a baseline (gaol bench "
                     "--help)");
  CLI::App* profile = app.add_subcommand("profile", "The built-in seccomp profiles");
  profile->require_subcommand(1);
  profile->add_subcommand("list", "Name, default action and size of each built-in profile");
  std::string show_name;
  profile->add_subcommand("show", "Print a built-in profile's OCI JSON")
      ->add_option("NAME", show_name, "default, strict")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "gaol: %s (see gaol --help)\n", e.what());
    return gaol::cli::kExitGaolFailed;
  }
  if (run->parsed()) {
    run_flags.command = gaol::cli::CommandAfterFlags(app, *run);
    return gaol::cli::RunCommand(*run, run_flags);
  }
  if (profile->parsed()) {
    if (!app.remaining().empty() || !profile->remaining().empty() ||
        !profile->get_subcommand("list")->remaining().empty()) {
      std::fprintf(stderr, "gaol: profile: unexpected arguments (see gaol profile --help)\n");
      return gaol::cli::kExitGaolFailed;
    }
    if (profile->got_subcommand("list")) return gaol::cli::ProfileList();
    return gaol::cli::ProfileShow(show_name);
  }
  if (!check->remaining().empty() || !app.remaining().empty()) {
    std::fprintf(stderr, "gaol: check: expected no arguments (see gaol check --help)\n");
    return gaol::cli::kExitGaolFailed;
  }
  return gaol::cli::CheckCommand(check_json);
}
