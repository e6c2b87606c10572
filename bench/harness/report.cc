#include "bench/harness/report.h"

#include <fmt/format.h>
#include <linux/magic.h>
#include <pwd.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "sandbox/common/field_reader.h"

namespace gaol::bench {
namespace {

using nlohmann::json;

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

std::string CgroupMode() {
  struct statfs fs = {};
  if (statfs("/sys/fs/cgroup", &fs) != 0) return "none";
  if (fs.f_type == CGROUP2_SUPER_MAGIC) return "unified";
  if (statfs("/sys/fs/cgroup/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
    return "hybrid";
  return "legacy";
}

std::string Turbo() {
  std::string no_turbo = FirstLine("/sys/devices/system/cpu/intel_pstate/no_turbo");
  if (!no_turbo.empty()) return no_turbo == "1" ? "off" : "on";
  std::string boost = FirstLine("/sys/devices/system/cpu/cpufreq/boost");
  if (!boost.empty()) return boost == "1" ? "on" : "off";
  return "unknown";
}

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::string Ms(double seconds) { return fmt::format("{:.2f}", seconds * 1e3); }
std::string Times(const std::optional<double>& r) { return r ? fmt::format("{:.2f}", *r) : "-"; }

}  // namespace

Host DescribeHost() {
  Host h;
  utsname u = {};
  uname(&u);
  h.kernel = u.release;
  h.cpu_model = CpuModel();
  h.cpus = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
  h.cgroup_mode = CgroupMode();
  h.gaol_version = GAOL_VERSION;
  std::string governor = FirstLine("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  if (!governor.empty()) h.governor = governor;
  h.turbo = Turbo();
  std::string aslr = FirstLine("/proc/sys/kernel/randomize_va_space");
  if (!aslr.empty()) h.aslr = aslr == "0" ? "off" : (aslr == "1" ? "partial" : "full");
  passwd* pw = getpwuid(getuid());
  h.user = fmt::format("{}({})", getuid(), pw ? pw->pw_name : "?");
  return h;
}

json ToJson(const Summary& s) {
  return {{"n", s.n},     {"min", s.min}, {"p50", s.p50},  {"p90", s.p90},
          {"p99", s.p99}, {"max", s.max}, {"mean", s.mean}};
}

Summary SummaryFromJson(const json& s) {
  return {s.at("n"), s.at("min"), s.at("p50"), s.at("p90"), s.at("p99"), s.at("max"), s.at("mean")};
}

void ShowProgress(std::size_t done, std::size_t total) {
  int width = 40;
  auto filled = static_cast<int>(width * done / total);
  std::fprintf(stderr, "\r[%s%s] %zu/%zu rounds", std::string(filled, '#').c_str(),
               std::string(width - filled, ' ').c_str(), done, total);
  if (done == total) std::fprintf(stderr, "\n");
}

json ToJson(const Host& h) {
  return {{"kernel", h.kernel},
          {"cpu_model", h.cpu_model},
          {"cpus", h.cpus},
          {"cgroup_mode", h.cgroup_mode},
          {"gaol_version", h.gaol_version},
          {"governor", h.governor},
          {"turbo", h.turbo},
          {"aslr", h.aslr},
          {"pinned_cpu", h.pinned_cpu ? json(*h.pinned_cpu) : json(nullptr)},
          {"user", h.user}};
}

json ToJson(const StartReport& r) {
  json rows = json::array();
  for (const auto& row : r.rows) {
    json j = {{"name", row.name},
              {"tool", row.tool},
              {"command", row.command},
              {"seconds", ToJson(row.seconds)},
              {"samples_seconds", row.samples},
              {"ratio_to_floor", Optional(row.ratio_to_floor)},
              {"ratio_to_bwrap", Optional(row.ratio_to_bwrap)},
              {"skipped", row.skipped.empty() ? json(nullptr) : json(row.skipped)}};
    rows.push_back(std::move(j));
  }
  return {{"schema", kBenchSchema},
          {"kind", "start"},
          {"host", ToJson(r.host)},
          {"rounds", r.rounds},
          {"rows", rows}};
}

Host HostFromJson(const json& h) {
  Host host;
  host.kernel = h.at("kernel");
  host.cpu_model = h.at("cpu_model");
  host.cpus = h.at("cpus");
  host.cgroup_mode = h.at("cgroup_mode");
  host.gaol_version = h.at("gaol_version");
  host.governor = h.at("governor");
  host.turbo = h.at("turbo");
  host.aslr = h.at("aslr");
  if (!h.at("pinned_cpu").is_null()) host.pinned_cpu = h.at("pinned_cpu").get<int>();
  host.user = h.at("user");
  return host;
}

Result<StartReport> StartReportFromJson(const json& j) {
  StartReport r;
  try {
    if (j.at("schema") != kBenchSchema) return Invalid("report `schema`", kBenchSchema);
    if (j.at("kind") != "start") return Invalid("report `kind`", "\"start\"");
    r.host = HostFromJson(j.at("host"));
    r.rounds = j.at("rounds");
    for (const json& row : j.at("rows")) {
      Row out;
      out.name = row.at("name");
      out.tool = row.at("tool");
      out.command = row.at("command").get<std::vector<std::string>>();
      out.seconds = SummaryFromJson(row.at("seconds"));
      out.samples = row.value("samples_seconds", std::vector<double>{});
      if (!row.at("ratio_to_floor").is_null()) out.ratio_to_floor = row.at("ratio_to_floor");
      if (!row.at("ratio_to_bwrap").is_null()) out.ratio_to_bwrap = row.at("ratio_to_bwrap");
      if (!row.at("skipped").is_null()) out.skipped = row.at("skipped");
      r.rows.push_back(std::move(out));
    }
  } catch (const json::exception& e) {
    return Invalid("gaol.bench/v1 report", fmt::format("every field of the schema ({})", e.what()));
  }
  return r;
}

std::string FormatTable(const StartReport& r) {
  std::string out = fmt::format("{:<44} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8}\n",
                                "start latency (ms), " + r.host.user, "min", "p50", "p90", "p99",
                                "max", "/floor", "/bwrap");
  for (const auto& row : r.rows) {
    if (!row.skipped.empty()) {
      out += fmt::format("{:<44} skipped: {}\n", row.name, row.skipped);
      continue;
    }
    const Summary& s = row.seconds;
    out += fmt::format("{:<44} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8}\n", row.name, Ms(s.min),
                       Ms(s.p50), Ms(s.p90), Ms(s.p99), Ms(s.max), Times(row.ratio_to_floor),
                       Times(row.ratio_to_bwrap));
  }
  out += fmt::format(
      "{} rounds, interleaved; {} CPUs ({}), kernel {}, cgroup {}, governor {}, "
      "turbo {}, ASLR {}{}\n",
      r.rounds, r.host.cpus, r.host.cpu_model, r.host.kernel, r.host.cgroup_mode, r.host.governor,
      r.host.turbo, r.host.aslr,
      r.host.pinned_cpu ? fmt::format(", pinned to CPU {}", *r.host.pinned_cpu) : std::string());
  return out;
}

}  // namespace gaol::bench
