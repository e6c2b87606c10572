#include "bench/harness/enforce.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

extern char** environ;

namespace gaol::bench {
namespace {

using nlohmann::json;

constexpr double kMiB = 1 << 20;

struct Case {
  std::string name, limit, figure;
  double asked;
  std::vector<std::string> flags;
  std::vector<std::string> workload;
  std::function<double(const json& result, const std::string& out)> measure;
};

double Number(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (int mib : {32, 64, 128}) {
    cases.push_back(
        {fmt::format("memory {} MiB: hog", mib),
         "memory",
         "peak MiB",
         double(mib),
         {"--memory", fmt::format("{}m", mib)},
         {"hog", std::to_string(4ULL * mib << 20)},
         [](const json& r, const std::string&) { return Number(r, "peak_memory_bytes") / kMiB; }});
  }
  cases.push_back({"pids 16: fork bomb",
                   "pids",
                   "processes reached",
                   16,
                   {"--pids-limit", "16"},
                   {"fork", "200"},
                   [](const json& r, const std::string& out) {
                     // pids.peak with a cgroup; else the job's own count, with it and PID 1.
                     if (r.contains("pids_peak") && r["pids_peak"].is_number()) {
                       return r["pids_peak"].get<double>();
                     }
                     return std::strtod(out.c_str(), nullptr) + 2;
                   }});
  for (double cpus : {0.25, 0.5, 1.0}) {
    cases.push_back({fmt::format("cpus {}: spinner", cpus),
                     "cpu",
                     "share of a CPU",
                     cpus,
                     // It ends by itself after 1 s of wall time: CPU time counts exactly, leaf
                     // or not (a kill would leave rusage without the killed processes).
                     {"--cpus", fmt::format("{}", cpus)},
                     {"spin", "1"},
                     [](const json& r, const std::string&) {
                       double wall = Number(r, "wall_time_seconds");
                       return wall > 0 ? Number(r, "cpu_time_seconds") / wall : 0.0;
                     }});
  }
  cases.push_back(
      {"time limit 1 s: spinner",
       "time_limit",
       "CPU seconds at the kill",
       1,
       {"--time-limit", "1s"},
       {"spin", "30"},
       [](const json& r, const std::string&) { return Number(r, "cpu_time_seconds"); }});
  cases.push_back({"wall-time limit 0.5 s: sleeper",
                   "wall_time_limit",
                   "ms from the limit to the kill",
                   0,
                   {"--wall-time-limit", "500ms"},
                   {"sleep", "30"},
                   [](const json& r, const std::string&) {
                     return Number(r, "wall_time_kill_latency_seconds") * 1e3;
                   }});
  cases.push_back({"output limit 1 MiB: writer",
                   "output_limit",
                   "bytes kept",
                   kMiB,
                   {"--output-limit", "1m"},
                   {"write", std::to_string(10 << 20)},
                   [](const json& r, const std::string&) {
                     return Number(r, "stdout_bytes") + Number(r, "stderr_bytes");
                   }});
  return cases;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One run: gaol's result JSON (null if it wrote none) and the job's stdout (capped by the row).
std::pair<json, std::string> RunOnce(const std::vector<std::string>& command,
                                     const std::string& dir) {
  std::string out_path = dir + "/stdout", result_path = dir + "/result.json";
  unlink(result_path.c_str());
  std::vector<std::string> argv = command;
  argv.insert(argv.begin() + 2, {"--result", result_path});
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0600);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc == 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  json result = json::parse(ReadAll(result_path), nullptr, false);
  if (result.is_discarded()) result = nullptr;
  return {result, ReadAll(out_path).substr(0, 64)};
}

std::string Statuses(const std::map<std::string, int>& seen) {
  std::string out;
  for (const auto& [status, n] : seen) {
    out += fmt::format("{}{} x{}", out.empty() ? "" : ", ", status, n);
  }
  return out;
}

}  // namespace

Result<EnforceReport> RunEnforce(const EnforceOptions& o) {
  EnforceReport report;
  report.host = DescribeHost();
  report.repeat = o.repeat;
  std::string self_dir = o.self.substr(0, o.self.rfind('/'));
  std::string self_name = o.self.substr(o.self.rfind('/') + 1);
  char dir_template[] = "/tmp/gaol-bench-enforce-XXXXXX";
  if (!mkdtemp(dir_template)) return Fail(Step::kOpenIo, "mkdtemp", dir_template);
  std::string dir = dir_template;
  auto cases = Cases();
  std::size_t done = 0, total = cases.size() * o.repeat;
  for (const Case& c : cases) {
    EnforceRow row;
    row.name = c.name;
    row.limit = c.limit;
    row.figure = c.figure;
    row.asked = c.asked;
    std::vector<std::string> command = {o.gaol, "run", "-q", "--ro-bind", self_dir, "/gaol-bench"};
    if (!o.cgroup_parent.empty())
      command.insert(command.end(), {"--cgroup-parent", o.cgroup_parent});
    command.insert(command.end(), c.flags.begin(), c.flags.end());
    command.insert(command.end(), {"--", "/gaol-bench/" + self_name, "workload"});
    command.insert(command.end(), c.workload.begin(), c.workload.end());
    std::vector<double> measured, wall;
    std::map<std::string, int> statuses;
    for (std::size_t i = 0; i < o.repeat; ++i) {
      auto [result, out] = RunOnce(command, dir);
      ++done;
      if (o.progress) std::fprintf(stderr, "\r%zu/%zu runs", done, total);
      if (result.is_null()) {
        row.skipped = "gaol wrote no result";
        break;
      }
      ++statuses[result.value("status", "?")];
      if (result.value("status", "") == "setup_error") {
        row.skipped = "setup_error: " + result["error"].value("message", "");
        break;
      }
      if (row.mechanism.empty() && result["enforcement"].contains(c.limit)) {
        row.mechanism = result["enforcement"][c.limit];
      }
      measured.push_back(c.measure(result, out));
      wall.push_back(Number(result, "wall_time_seconds"));
    }
    row.statuses = Statuses(statuses);
    if (row.skipped.empty()) {
      row.measured = Summarise(measured);
      row.wall_seconds = Summarise(wall);
      row.error_p50 = row.measured.p50 - c.asked;
      for (double m : measured) {
        if (std::fabs(m - c.asked) > std::fabs(row.error_worst)) row.error_worst = m - c.asked;
      }
    }
    report.rows.push_back(std::move(row));
  }
  if (o.progress) std::fprintf(stderr, "\n");
  for (const char* f : {"/stdout", "/result.json"}) unlink((dir + f).c_str());
  rmdir(dir.c_str());
  return report;
}

json ToJson(const EnforceReport& r) {
  json rows = json::array();
  for (const auto& row : r.rows) {
    const Summary& s = row.measured;
    rows.push_back(
        {{"name", row.name},
         {"limit", row.limit},
         {"mechanism", row.mechanism},
         {"figure", row.figure},
         {"asked", row.asked},
         {"measured",
          {{"n", s.n}, {"min", s.min}, {"p50", s.p50}, {"max", s.max}, {"mean", s.mean}}},
         {"error_p50", row.error_p50},
         {"wall_seconds_p50", row.wall_seconds.p50},
         {"error_worst", row.error_worst},
         {"statuses", row.statuses},
         {"skipped", row.skipped.empty() ? json(nullptr) : json(row.skipped)}});
  }
  return {{"schema", kBenchSchema},
          {"kind", "enforce"},
          {"host", ToJson(r.host)},
          {"repeat", r.repeat},
          {"rows", rows}};
}

Result<EnforceReport> EnforceReportFromJson(const json& j) {
  EnforceReport r;
  try {
    if (j.at("schema") != kBenchSchema) return Invalid("report `schema`", kBenchSchema);
    if (j.at("kind") != "enforce") return Invalid("report `kind`", "\"enforce\"");
    r.host = HostFromJson(j.at("host"));
    r.repeat = j.at("repeat");
    for (const json& row : j.at("rows")) {
      EnforceRow out;
      out.name = row.at("name");
      out.limit = row.at("limit");
      out.mechanism = row.at("mechanism");
      out.figure = row.at("figure");
      out.asked = row.at("asked");
      const json& m = row.at("measured");
      out.measured.n = m.at("n");
      out.measured.min = m.at("min");
      out.measured.p50 = m.at("p50");
      out.measured.max = m.at("max");
      out.measured.mean = m.at("mean");
      out.error_p50 = row.at("error_p50");
      out.wall_seconds.p50 = row.at("wall_seconds_p50");
      out.error_worst = row.at("error_worst");
      out.statuses = row.at("statuses");
      if (!row.at("skipped").is_null()) out.skipped = row.at("skipped");
      r.rows.push_back(std::move(out));
    }
  } catch (const json::exception& e) {
    return Invalid("gaol.bench/v1 enforce report",
                   fmt::format("every field of the schema ({})", e.what()));
  }
  return r;
}

std::string FormatTable(const EnforceReport& r) {
  std::string out = fmt::format("{:<32} {:<11} {:>9} {:>10} {:>10} {:>10} {:>8}  {}\n",
                                "limit: workload, " + r.host.user, "mechanism", "asked", "measured",
                                "p50 error", "worst", "wall s", "figure; verdicts");
  for (const auto& row : r.rows) {
    if (!row.skipped.empty()) {
      out += fmt::format("{:<32} skipped: {}\n", row.name, row.skipped);
      continue;
    }
    out += fmt::format("{:<32} {:<11} {:>9.4g} {:>10.4g} {:>+10.3g} {:>+10.3g} {:>8.3f}  {}; {}\n",
                       row.name, row.mechanism, row.asked, row.measured.p50, row.error_p50,
                       row.error_worst, row.wall_seconds.p50, row.figure, row.statuses);
  }
  out += fmt::format("{} runs per row; {} CPUs, kernel {}, cgroup {}\n", r.repeat, r.host.cpus,
                     r.host.kernel, r.host.cgroup_mode);
  return out;
}

}  // namespace gaol::bench
