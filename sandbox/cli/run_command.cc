// `gaol run`: flags in, one job run, the result out.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "sandbox/cli/commands.h"
#include "sandbox/cli/metrics_export.h"
#include "sandbox/common/unique_fd.h"
#include "sandbox/run.h"
#include "sandbox/spec/units.h"

namespace gaol::cli {

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

// --result FILE: an unnamed file in FILE's directory, opened before the job runs (a bad path
// fails before anything is created), written whole and only then given FILE's name. A full disk
// or a kill leaves FILE as it was, never a truncated result.
class ResultFile {
 public:
  static Result<ResultFile> Open(const std::string& path) {
    ResultFile f;
    std::string dir = ".";
    auto slash = path.rfind('/');
    if (slash != std::string::npos) dir = path.substr(0, slash + 1);
    f.base_ = path.substr(slash == std::string::npos ? 0 : slash + 1);
    struct stat st = {};
    if (f.base_.empty() || (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)))
      return Invalid(fmt::format("--result `{}`", path), "a path for a regular file, or -");
    auto unwritable = [&] {
      return Invalid(
          fmt::format("--result `{}`", path),
          fmt::format("a file in a directory gaol can write ({}: {})", dir, std::strerror(errno)));
    };
    f.dir_.Reset(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!f.dir_) return unwritable();
    f.fd_.Reset(openat(f.dir_.Get(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644));
    if (!f.fd_) return unwritable();
    f.path_ = path;
    return f;
  }
  // Writes `text`, names the file; false (errno set) when either failed.
  bool Commit(const std::string& text) {
    if (!WriteAll(fd_.Get(), text) || fsync(fd_.Get()) != 0) return false;
    std::string tmp = fmt::format(".{}.{}.tmp", base_, getpid());
    std::string self = fmt::format("/proc/self/fd/{}", fd_.Get());
    unlinkat(dir_.Get(), tmp.c_str(), 0);
    if (linkat(AT_FDCWD, self.c_str(), dir_.Get(), tmp.c_str(), AT_SYMLINK_FOLLOW) != 0)
      return false;
    if (renameat(dir_.Get(), tmp.c_str(), dir_.Get(), base_.c_str()) != 0) {
      int err = errno;
      unlinkat(dir_.Get(), tmp.c_str(), 0);
      errno = err;
      return false;
    }
    return true;
  }

 private:
  UniqueFd dir_, fd_;
  std::string path_, base_;
};

// The result JSON where it was asked for; false when it could not be written.
bool EmitResult(const RunFlags& f, const RunResult& result, std::optional<ResultFile>& file) {
  if (f.result_path.empty() && f.result_fd < 0) return true;
  std::string text = ResultToJson(result).dump() + "\n";
  bool ok = true;
  if (f.result_fd >= 0) ok = WriteAll(f.result_fd, text) && ok;
  if (f.result_path == "-") {
    ok = WriteAll(STDOUT_FILENO, text) && ok;
  } else if (file) {
    ok = file->Commit(text) && ok;
  }
  return ok;
}

// One line when a limit could not go to a cgroup controller, so nobody mistakes an rlimit (or
// nothing) for the real thing.
void WarnFallbacks(const RunFlags& f, const RunResult& result) {
  std::vector<std::string> weaker;
  for (const auto& [limit, how] : result.enforcement) {
    if (how == "rlimit" || how == "none") weaker.push_back(fmt::format("{} by {}", limit, how));
  }
  if (f.quiet) return;
  for (const auto& w : result.warnings) std::fprintf(stderr, "gaol: warning: %s\n", w.c_str());
  if (weaker.empty()) return;
  std::fprintf(stderr,
               "gaol: warning: no delegated cgroup controller for every limit here: %s "
               "(see `gaol check`; --require-cgroup makes this an error)\n",
               fmt::format("{}", fmt::join(weaker, ", ")).c_str());
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
  // Checked before the job runs: a typo must not cost a run's figures.
  if (auto targets = CheckMetricsTargets(f.metrics_textfile, f.metrics_push); !targets) {
    return ReportUsageError(targets.error());
  }
  if (f.print_spec) {
    std::puts(SpecToJson(*spec).dump(2).c_str());
    return 0;
  }
  CallerStdio caller;
  auto stop = ParseDuration(f.stop_timeout);
  if (!stop || *stop < 0) {
    return ReportUsageError(
        Invalid(fmt::format("--stop-timeout `{}`", f.stop_timeout), "a duration such as 5s")
            .value());
  }
  caller.stop_timeout_seconds = *stop;
  // gaol exits right after the result: PID 1's exit and the namespaces' teardown (≈0.25 ms) need
  // not hold up the caller (bwrap does not wait for it either). See CallerStdio.
  caller.wait_for_teardown = false;
  std::optional<ResultFile> result_file;
  if (!f.result_path.empty() && f.result_path != "-") {
    auto opened = ResultFile::Open(f.result_path);
    if (!opened) return ReportUsageError(opened.error());
    result_file = std::move(*opened);
  }
  RunResult result = RunJob(*spec, caller);
  WarnFallbacks(f, result);
  if (result.error && !f.quiet) {
    std::string hint = HintFor(*result.error);
    std::string line =
        result.error->step == Step::kValidate
            ? result.error->Message()
            : fmt::format("{}: {}", StepName(result.error->step), result.error->Message());
    std::fprintf(stderr, "gaol: %s%s\n", line.c_str(), hint.empty() ? "" : (" — " + hint).c_str());
  }
  if (!f.metrics_textfile.empty() || !f.metrics_push.empty()) {
    auto exported = ExportMetrics(result, f.metrics_textfile, f.metrics_push);
    if (!exported && !f.quiet) {
      std::fprintf(stderr, "gaol: warning: %s\n", exported.error().Message().c_str());
    }
  }
  if (!EmitResult(f, result, result_file)) {
    if (!f.quiet)
      std::fprintf(stderr, "gaol: could not write the result: %s\n", std::strerror(errno));
    return 125;
  }
  return result.ExitStatus();
}

}  // namespace gaol::cli
