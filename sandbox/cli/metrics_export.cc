#include "sandbox/cli/metrics_export.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>

#include "sandbox/common/self.h"

namespace gaol::cli {
namespace {

// gaol's companion files: beside gaol in the build tree, in ../lib/gaol when installed.
std::vector<std::string> Companion(const std::string& name) {
  std::string dir = SelfDir();
  return {dir + "/" + name, dir + "/../lib/gaol/" + name};
}

Result<GaolMetricsExportFn> LoadExporter() {
  std::string tried;
  for (const std::string& path : Companion("gaol-metrics.so")) {
    if (access(path.c_str(), R_OK) != 0) {
      tried += (tried.empty() ? "" : ", ") + path;
      continue;
    }
    void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) return Fail(Step::kCleanup, fmt::format("load {}", path), dlerror() ?: "", 0);
    void* fn = dlsym(lib, kGaolMetricsExportSymbol);
    if (!fn)
      return Fail(Step::kCleanup, fmt::format("find {} in", kGaolMetricsExportSymbol), path, 0);
    return reinterpret_cast<GaolMetricsExportFn>(fn);
  }
  return Fail(Step::kCleanup, "find gaol's metrics module (install it beside gaol)", tried, 0);
}

}  // namespace

Status CheckMetricsTargets(const std::string& path, const std::string& url) {
  if (!path.empty()) {
    auto slash = path.rfind('/');
    std::string dir =
        slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
    if (!path.ends_with(".prom")) {
      return Invalid(fmt::format("--metrics-textfile `{}`", path),
                     "a file name ending in .prom (node_exporter reads only those)");
    }
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return Invalid(
          fmt::format("--metrics-textfile `{}`", path),
          fmt::format("a file in a writable directory ({}: {})", dir, std::strerror(errno)));
    }
  }
  if (!url.empty()) {
    auto colon = url.rfind(':');
    bool ok = (url.starts_with("http://") || url.starts_with("https://")) &&
              colon != std::string::npos && colon > url.find("//") + 2 &&
              url.find_first_not_of("0123456789/", colon + 1) == std::string::npos &&
              colon + 1 < url.size() && url[colon + 1] != '/';
    if (!ok) return Invalid(fmt::format("--metrics-push `{}`", url), "http://HOST:PORT");
  }
  return {};
}

int ExecCompanion(const std::string& name, int argc, char** argv) {
  std::vector<char*> args;
  std::string arg0 = name;
  args.push_back(arg0.data());
  for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  for (const auto& path : Companion(name)) execv(path.c_str(), args.data());
  std::fprintf(stderr, "gaol: %s: cannot run %s (%s; looked beside gaol and in ../lib/gaol)\n",
               argv[1], name.c_str(), std::strerror(errno));
  return 125;
}

Status ExportMetrics(const RunResult& result, const std::string& textfile,
                     const std::string& push_url) {
  auto exporter = LoadExporter();
  if (!exporter) return tl::unexpected(exporter.error());
  std::string status(RunStatusName(result.status));
  std::string error_step = result.error ? std::string(StepName(result.error->step)) : "";
  std::vector<const char*> names;
  std::vector<double> seconds;
  for (const auto& [step, s] : result.launch_steps) {
    names.push_back(StepName(step).data());  // kStepNames are NUL-terminated literals
    seconds.push_back(s);
  }
  GaolRunFigures figures{status.c_str(),
                         result.error ? error_step.c_str() : nullptr,
                         result.launch_total_seconds,
                         result.wall_time_seconds,
                         result.cpu_time_seconds,
                         result.peak_memory_bytes,
                         names.size(),
                         names.data(),
                         seconds.data()};
  std::array<char, 512> error{};
  if ((*exporter)(&figures, textfile.c_str(), push_url.c_str(), error.data(), error.size()) != 0) {
    return Fail(Step::kCleanup, "export metrics", error.data(), 0);
  }
  return {};
}

}  // namespace gaol::cli
