// `gaol run`: flags in, one job run, the result out.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "sandbox/cli/commands.h"
#include "sandbox/run.h"

namespace gaol::cli {

void AddRunFlags(CLI::App& run, RunFlags& f) {
  run.add_option("--spec", f.spec_file,
                 "Read the job from a gaol.spec/v1 JSON file; flags override it")
      ->type_name("FILE");
  run.add_flag("--print-spec", f.print_spec, "Print the effective spec as JSON and exit");
  run.add_option("--share", f.share,
                 "Share these namespaces with the caller: net,ipc,uts,pid,cgroup [none]")
      ->type_name("LIST");
  run.add_option("--network", f.network, "none (only lo, up) or host [none]")->type_name("MODE");
  run.add_option("--hostname", f.hostname, "Host name inside [gaol]")->type_name("NAME");
  run.add_option("--uid", f.uid, "User ID inside [the caller's own]")->type_name("N");
  run.add_option("--gid", f.gid, "Group ID inside [the caller's own]")->type_name("N");
  run.add_option("--map-users", f.map_users,
                 "More user IDs via newuidmap: auto (from /etc/subuid) or IN:OUT:COUNT,...")
      ->type_name("RANGES");
  run.add_option("--map-groups", f.map_groups,
                 "More group IDs via newgidmap: auto or IN:OUT:COUNT,...")
      ->type_name("RANGES");
  run.add_option("--rootfs", f.rootfs,
                 "Use DIR as the root [the host view: /usr, /bin, /lib* read-only, a minimal /etc]")
      ->type_name("DIR");
  run.add_option("-v,--volume", f.volumes, "Bind a host path: SRC:DST[:ro]")
      ->type_name("SRC:DST[:ro]");
  run.add_option("--bind", f.binds, "Bind SRC at DST, writable")->type_name("SRC DST");
  run.add_option("--ro-bind", f.ro_binds, "Bind SRC at DST, read-only")->type_name("SRC DST");
  run.add_option("--tmpfs", f.tmpfs, "A fresh tmpfs at DST [size 64m]")->type_name("DST[:size=N]");
  run.add_flag("--read-only", f.read_only,
               "Read-only root (--read-only=false for a writable one) [true]");
  run.add_option("-w,--workdir", f.workdir, "Working directory inside [/]")->type_name("DIR");
  run.add_flag("--chroot", f.chroot,
               "chroot instead of pivot_root (weaker: the old root stays mounted)");
  run.add_option("--wall-time-limit", f.wall_time_limit,
                 "Kill the job after this much wall time (2s, 500ms, 1.5)")
      ->type_name("DURATION");
  run.add_option("--output-limit", f.output_limit,
                 "Keep at most this much of stdout+stderr, then kill the job (64m)")
      ->type_name("SIZE");
  run.add_option("--ulimit", f.ulimits,
                 "Resource limit: NAME=SOFT[:HARD] (nofile=64, core=0 is the default)")
      ->type_name("NAME=SOFT[:HARD]");
  run.add_option("-e,--env", f.env, "Set NAME=VALUE, or pass the caller's NAME")
      ->type_name("NAME[=VALUE]");
  run.add_option("--env-file", f.env_files, "Read NAME=VALUE lines from FILE")->type_name("FILE");
  run.add_flag("--clear-env", f.clear_env,
               "Start from an empty environment, not the minimal one (PATH, HOME, HOSTNAME, LANG)");
  run.add_flag("-i,--interactive", f.interactive,
               "Give the job gaol's own stdin (same as --stdin -)");
  run.add_option("--stdin", f.stdin_path, "The job's stdin: FILE or - for gaol's own [/dev/null]")
      ->type_name("FILE");
  run.add_option("--stdout", f.stdout_path, "Write the job's stdout to FILE [gaol's stdout]")
      ->type_name("FILE");
  run.add_option("--stderr", f.stderr_path, "Write the job's stderr to FILE [gaol's stderr]")
      ->type_name("FILE");
  run.add_option("--result", f.result_path,
                 "Write the gaol.result/v1 JSON to FILE, or - for stdout")
      ->type_name("FILE");
  run.add_option("--result-fd", f.result_fd, "Write the result JSON to this open descriptor")
      ->type_name("N");
  run.add_flag("-q,--quiet", f.quiet, "No message from gaol itself on stderr");
  // Everything from the first argument that is not a flag (or after `--`) is the command, with
  // its own flags: `gaol run --hostname x python3 -c ...` as with `docker run`.
  run.prefix_command();
  run.footer("Run as: gaol run [OPTIONS] [--] COMMAND [ARG...]");
}

namespace {

bool WriteAll(int fd, const std::string& text) {
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return true;
}

// The result JSON where it was asked for; false when it could not be written.
bool EmitResult(const RunFlags& f, const RunResult& result) {
  if (f.result_path.empty() && f.result_fd < 0) return true;
  std::string text = ResultToJson(result).dump() + "\n";
  bool ok = true;
  if (f.result_fd >= 0) ok = WriteAll(f.result_fd, text) && ok;
  if (f.result_path == "-") {
    ok = WriteAll(STDOUT_FILENO, text) && ok;
  } else if (!f.result_path.empty()) {
    int fd = open(f.result_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ok = fd >= 0 && WriteAll(fd, text) && ok;
    if (fd >= 0) close(fd);
  }
  return ok;
}

}  // namespace

int RunCommand(const CLI::App& run, const RunFlags& f) {
  if (f.result_fd >= 0 && (f.result_fd <= 2 || fcntl(f.result_fd, F_GETFD) < 0)) {
    return ReportUsageError(
        Invalid(fmt::format("--result-fd `{}`", f.result_fd), "an open descriptor above 2")
            .value());
  }
  auto spec = BuildSpec(run, f);
  // No spec, no job: a bad flag or field fails before anything is created.
  if (!spec) return ReportUsageError(spec.error());
  if (f.print_spec) {
    std::puts(SpecToJson(*spec).dump(2).c_str());
    return 0;
  }
  RunResult result = RunJob(*spec);
  if (result.error && !f.quiet) {
    std::string hint = HintFor(*result.error);
    std::string line =
        result.error->step == Step::kValidate
            ? result.error->Message()
            : fmt::format("{}: {}", StepName(result.error->step), result.error->Message());
    std::fprintf(stderr, "gaol: %s%s\n", line.c_str(), hint.empty() ? "" : (" — " + hint).c_str());
  }
  if (!EmitResult(f, result)) {
    if (!f.quiet)
      std::fprintf(stderr, "gaol: could not write the result: %s\n", std::strerror(errno));
    return 125;
  }
  return result.ExitStatus();
}

}  // namespace gaol::cli
