#include "bench/harness/compare.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "bench/harness/stats.h"

namespace gaol::bench {
namespace {

using nlohmann::json;

constexpr const char* kMicroFloor = "floor/fork_exec_true";

// Matches figures by name: each current one against its baseline (`judge` fills the change),
// then a line for each baseline figure that is gone.
template <typename Figure, typename Judge>
void Match(const std::vector<Figure>& baseline, const std::vector<Figure>& current,
           const std::string& suffix, Comparison& out, Judge judge) {
  std::map<std::string, const Figure*> before;
  for (const auto& f : baseline) before[f.name] = &f;
  for (const auto& f : current) {
    Change c;
    c.name = f.name + suffix;
    auto it = before.find(f.name);
    if (it == before.end()) {
      c.note = "new row";
    } else {
      judge(*it->second, f, c);
      before.erase(it);
    }
    out.changes.push_back(std::move(c));
  }
  for (const auto& [name, figure] : before) {
    Change c;
    c.name = name + suffix;
    c.note = "row gone";
    out.changes.push_back(std::move(c));
  }
}

void JudgeRatio(double baseline, double current, double threshold, Change& c) {
  c.baseline = baseline;
  c.current = current;
  c.change = current / baseline - 1;
  c.regression = c.change > threshold;
}

// One figure of a Google Benchmark run.
struct MicroFigure {
  std::string name;
  double ns = 0;
  std::string skipped;
};

double NsPer(const std::string& unit) {
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  return 1;
}

// Each benchmark once: the fastest of its repetitions (each one a mean over many iterations) when
// the file has them: noise on a shared machine only ever adds time, so the least disturbed
// repetition is the steadiest estimate (medians of 5 moved by 20 % between two runs here, the
// fastest by a few). A file of aggregates only gives its median.
Result<std::vector<MicroFigure>> MicroFigures(const json& doc, const char* which) {
  std::vector<MicroFigure> out;
  std::map<std::string, std::vector<double>> runs;
  std::map<std::string, double> medians;
  std::map<std::string, std::string> errors;
  std::vector<std::string> order;  // as the run listed them
  std::set<std::string> seen;
  try {
    for (const json& b : doc.at("benchmarks")) {
      std::string name = b.value("run_name", b.at("name").get<std::string>());
      if (seen.insert(name).second) order.push_back(name);
      if (b.value("error_occurred", false)) {
        errors[name] = b.value("error_message", std::string("no reason given"));
        continue;
      }
      double ns = b.at("real_time").get<double>() * NsPer(b.value("time_unit", "ns"));
      if (b.value("run_type", "iteration") == "aggregate") {
        if (b.value("aggregate_name", "") == "median") medians[name] = ns;
      } else {
        runs[name].push_back(ns);
      }
    }
  } catch (const json::exception& e) {
    return Invalid(fmt::format("{} Google Benchmark JSON", which),
                   fmt::format("`benchmarks` with name and real_time ({})", e.what()));
  }
  for (const auto& name : order) {
    MicroFigure f{name, 0, ""};
    if (errors.count(name)) {
      f.skipped = errors[name];
    } else if (!runs[name].empty()) {
      f.ns = Summarise(runs[name]).min;
    } else if (medians.count(name)) {
      f.ns = medians[name];
    } else {
      f.skipped = "neither a repetition nor a median aggregate in the file";
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<double> FloorNs(const std::vector<MicroFigure>& figures) {
  for (const auto& f : figures) {
    // Google Benchmark appends how it timed: floor/fork_exec_true/real_time.
    bool floor = f.name.rfind(kMicroFloor, 0) == 0 && (f.name.size() == std::strlen(kMicroFloor) ||
                                                       f.name[std::strlen(kMicroFloor)] == '/');
    if (floor && f.skipped.empty() && f.ns > 0) return f.ns;
  }
  return std::nullopt;
}

std::string Kind(const json& doc) {
  if (doc.is_object() && doc.contains("benchmarks") && doc.contains("context")) return "micro";
  if (doc.is_object() && doc.value("schema", "") == kBenchSchema) return doc.value("kind", "");
  return "";
}

}  // namespace

bool Comparison::Regressed() const {
  for (const auto& c : changes) {
    if (c.regression) return true;
  }
  return false;
}

Comparison Compare(const StartReport& baseline, const StartReport& current, double threshold) {
  Comparison out{"start", {}};
  Match(baseline.rows, current.rows, " p50/floor", out, [&](const Row& a, const Row& b, Change& c) {
    if (!a.ratio_to_floor || !b.ratio_to_floor) {
      c.note = "skipped";
      return;
    }
    JudgeRatio(*a.ratio_to_floor, *b.ratio_to_floor, threshold, c);
  });
  return out;
}

Comparison Compare(const EnforceReport& baseline, const EnforceReport& current, double threshold) {
  Comparison out{"enforce", {}};
  Match(baseline.rows, current.rows, " worst error", out,
        [&](const EnforceRow& a, const EnforceRow& b, Change& c) {
          c.kind = Change::Kind::kErrorShare;
          if (!a.skipped.empty() || !b.skipped.empty()) {
            c.note = "skipped";
            return;
          }
          // Another mechanism is another measurement (and cgroup -> rlimit a weaker one): the
          // figures do not compare, and that is worth failing on.
          if (a.mechanism != b.mechanism) {
            c.note = "mechanism " + a.mechanism + " -> " + b.mechanism;
            c.regression = true;
            return;
          }
          auto share = [](const EnforceRow& r) {
            return r.asked > 0 ? std::fabs(r.error_worst) / r.asked : 0.0;
          };
          c.baseline = share(a);
          c.current = share(b);
          c.change = c.current - c.baseline;
          c.regression = c.change > threshold;
        });
  return out;
}

Comparison Compare(const ServeReport& baseline, const ServeReport& current, double threshold) {
  Comparison out{"serve", {}};
  auto serve_rows = [](const ServeReport& r) {
    std::vector<ServeRow> rows;
    for (const auto& row : r.rows) {
      if (row.tool == "serve") rows.push_back(row);
    }
    return rows;
  };
  auto a = serve_rows(baseline), b = serve_rows(current);
  Match(a, b, " p50/floor", out, [&](const ServeRow& x, const ServeRow& y, Change& c) {
    if (!x.ratio_p50 || !y.ratio_p50) {
      c.note = "skipped";
      return;
    }
    JudgeRatio(*x.ratio_p50, *y.ratio_p50, threshold, c);
  });
  // Throughput as floor rate / rate: a rise is a loss, as with every other ratio here.
  Match(a, b, " floor rate/rate", out, [&](const ServeRow& x, const ServeRow& y, Change& c) {
    if (!x.ratio_throughput || !y.ratio_throughput || !(*x.ratio_throughput > 0) ||
        !(*y.ratio_throughput > 0)) {
      c.note = "skipped";
      return;
    }
    JudgeRatio(1 / *x.ratio_throughput, 1 / *y.ratio_throughput, threshold, c);
  });
  return out;
}

Result<Comparison> CompareMicro(const json& baseline, const json& current, double threshold) {
  auto a = MicroFigures(baseline, "BASELINE");
  if (!a) return tl::unexpected(a.error());
  auto b = MicroFigures(current, "CURRENT");
  if (!b) return tl::unexpected(b.error());
  auto floor_a = FloorNs(*a);
  auto floor_b = FloorNs(*b);
  if (!floor_a || !floor_b) {
    return Invalid(fmt::format("{} Google Benchmark JSON", floor_a ? "CURRENT" : "BASELINE"),
                   fmt::format("a measured {} (keep it in --benchmark_filter)", kMicroFloor));
  }
  Comparison out{"micro", {}};
  Match(*a, *b, " /floor", out, [&](const MicroFigure& x, const MicroFigure& y, Change& c) {
    if (!y.skipped.empty() || !x.skipped.empty()) {
      c.note = "skipped: " + (y.skipped.empty() ? x.skipped : y.skipped);
      return;
    }
    JudgeRatio(x.ns / *floor_a, y.ns / *floor_b, threshold, c);
  });
  return out;
}

Result<Comparison> CompareDocuments(const json& baseline, const json& current, double threshold) {
  std::string kind = Kind(baseline);
  if (kind != "start" && kind != "enforce" && kind != "serve" && kind != "micro") {
    return Invalid("BASELINE",
                   "a gaol.bench/v1 start, enforce or serve report, or gaol-micro-bench's JSON");
  }
  if (Kind(current) != kind) {
    return Invalid("CURRENT", fmt::format("the same kind of report as BASELINE ({})", kind));
  }
  if (kind == "micro") return CompareMicro(baseline, current, threshold);
  if (kind == "enforce") {
    auto a = EnforceReportFromJson(baseline);
    if (!a) return tl::unexpected(std::move(a.error()).With("BASELINE"));
    auto b = EnforceReportFromJson(current);
    if (!b) return tl::unexpected(std::move(b.error()).With("CURRENT"));
    return Compare(*a, *b, threshold);
  }
  if (kind == "serve") {
    auto a = ServeReportFromJson(baseline);
    if (!a) return tl::unexpected(std::move(a.error()).With("BASELINE"));
    auto b = ServeReportFromJson(current);
    if (!b) return tl::unexpected(std::move(b.error()).With("CURRENT"));
    return Compare(*a, *b, threshold);
  }
  auto a = StartReportFromJson(baseline);
  if (!a) return tl::unexpected(std::move(a.error()).With("BASELINE"));
  auto b = StartReportFromJson(current);
  if (!b) return tl::unexpected(std::move(b.error()).With("CURRENT"));
  return Compare(*a, *b, threshold);
}

std::string FormatComparison(const Comparison& comparison, double threshold) {
  std::string out;
  for (const auto& c : comparison.changes) {
    std::string mark = c.regression ? "  REGRESSION" : "";
    if (!c.note.empty()) {
      out += fmt::format("{:<60} {}{}\n", c.name, c.note, mark);
    } else if (c.kind == Change::Kind::kErrorShare) {
      out += fmt::format("{:<60} {:>6.2f} % -> {:>6.2f} % of the limit  {:>+6.2f} pts{}\n", c.name,
                         c.baseline * 100, c.current * 100, c.change * 100, mark);
    } else {
      out += fmt::format("{:<60} {:>7.3f} -> {:>7.3f}  {:>+6.1f} %{}\n", c.name, c.baseline,
                         c.current, c.change * 100, mark);
    }
  }
  std::string rule =
      comparison.kind == "enforce"
          ? fmt::format(
                "+{:.0f} points of the limit on each worst error, and the "
                "same mechanism",
                threshold * 100)
          : fmt::format("+{:.0f} % on ratios to the same run's floor", threshold * 100);
  out += fmt::format("threshold: {}: {}\n", rule, comparison.Regressed() ? "regressed" : "ok");
  return out;
}

}  // namespace gaol::bench
