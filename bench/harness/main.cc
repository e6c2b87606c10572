// gaol-bench: `gaol bench` (gaol execs this binary). `start` measures start latency against the
// peers installed here, interleaved; `enforce` how exactly limits hold; `compare` judges one
// report (or gaol-micro-bench's JSON) against a baseline.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/harness/compare.h"
#include "bench/harness/enforce.h"
#include "bench/harness/export.h"
#include "bench/harness/plot.h"
#include "bench/harness/report.h"
#include "bench/harness/start.h"
#include "bench/harness/workload.h"
#include "sandbox/cli/metrics_export.h"
#include "sandbox/common/self.h"

namespace {

int Usage(const std::string& message) {
  std::fprintf(stderr, "gaol bench: %s\n", message.c_str());
  return 125;
}

// What both `start` and `enforce` write: the report (--json), stdout's form, the metrics.
struct Outputs {
  std::string json, format = "table", textfile, push;
};

void AddOutputOptions(CLI::App& cmd, Outputs& o) {
  cmd.add_option("--json", o.json, "Write the gaol.bench/v1 report to FILE")->type_name("FILE");
  cmd.add_option("--format", o.format, "What goes to stdout: table or json")
      ->check(CLI::IsMember({"table", "json"}));
  cmd.add_option("--metrics-textfile", o.textfile,
                 "Merge the figures into a node_exporter textfile")
      ->type_name("FILE.prom");
  cmd.add_option("--metrics-push", o.push, "Push the figures to a Pushgateway (job=gaol-bench)")
      ->type_name("URL");
}

// The report to --json FILE, and the table (or the JSON) to stdout.
int Emit(const nlohmann::json& report, const std::string& table, const Outputs& o) {
  std::string json = report.dump(2) + "\n";
  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << json;
    if (!out) return Usage("--json `" + o.json + "`: could not write it");
  }
  std::fputs(o.format == "json" ? json.c_str() : table.c_str(), stdout);
  return 0;
}

gaol::Result<nlohmann::json> Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return gaol::Invalid("report `" + path + "`", "a readable JSON file");
  std::stringstream ss;
  ss << in.rdbuf();
  auto json = nlohmann::json::parse(ss.str(), nullptr, false);
  if (json.is_discarded()) return gaol::Invalid("report `" + path + "`", "valid JSON");
  return json;
}

}  // namespace

int main(int argc, char** argv) {
  // Inside the sandbox, as `gaol bench enforce`'s workload.
  if (argc > 1 && std::string(argv[1]) == "workload") return gaol::bench::WorkloadMain(argc, argv);
  CLI::App app{
      "gaol bench: start latency side by side with the peers installed here, tracked "
      "in CI (docs/BENCH.md)",
      "gaol bench"};
  app.require_subcommand(1);
  gaol::bench::StartOptions start;
  std::string cgroup_parent;
  bool quick = false;
  int cpu = -1;
  CLI::App* start_cmd = app.add_subcommand(
      "start", "Spawn-to-exit latency of a no-op job: gaol at each isolation level and the peers");
  start_cmd->add_option("--rounds", start.rounds, "Interleaved rounds (each row once per round)")
      ->capture_default_str();
  start_cmd->add_flag("--quick", quick, "30 rounds: a smoke test, not a figure");
  Outputs outputs;  // one subcommand is parsed: they share it
  AddOutputOptions(*start_cmd, outputs);
  std::string plot_dir;
  start_cmd->add_option("--plot", plot_dir, "Draw DIR/start-latency.svg, a CDF per row (gnuplot)")
      ->type_name("DIR");
  start_cmd->add_option("--cpu", cpu, "Pin the harness and every sample to this CPU")
      ->type_name("N");
  start_cmd->add_option("--cgroup-parent", cgroup_parent,
                        "A delegated cgroup v2 directory, for the rows with a cgroup leaf");
  start_cmd->add_option("--gaol", start.gaol, "The gaol binary to measure [the one beside this]");
  gaol::bench::EnforceOptions enforce;
  std::string enforce_cgroup, enforce_plot;
  bool enforce_quick = false;
  CLI::App* enforce_cmd = app.add_subcommand(
      "enforce",
      "How exactly each limit holds: memory, pids, CPU bandwidth, CPU time, wall time, "
      "output, with the mechanism that enforced it");
  enforce_cmd->add_option("--repeat", enforce.repeat, "Runs per row")->capture_default_str();
  enforce_cmd->add_flag("--quick", enforce_quick, "2 runs per row: a smoke test, not a figure");
  AddOutputOptions(*enforce_cmd, outputs);
  enforce_cmd->add_option("--plot", enforce_plot, "Draw DIR/enforce.svg (gnuplot)")
      ->type_name("DIR");
  enforce_cmd->add_option("--cgroup-parent", enforce_cgroup,
                          "A delegated cgroup v2 directory: measure the cgroup path");
  enforce_cmd->add_option("--gaol", enforce.gaol,
                          "The gaol binary to measure [the one beside this]");
  std::string baseline, current;
  double threshold = 10;
  CLI::App* compare = app.add_subcommand(
      "compare", "Each figure's change from BASELINE to CURRENT; exit 1 past the threshold");
  compare
      ->add_option("BASELINE", baseline,
                   "A gaol.bench/v1 start or enforce report, or gaol-micro-bench's JSON "
                   "(--benchmark_out)")
      ->required();
  compare->add_option("CURRENT", current, "A report of the same kind")->required();
  compare
      ->add_option("--threshold", threshold,
                   "Percent rise of a ratio to the floor (start, micro), or points of the limit "
                   "(enforce), that counts as a regression")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Usage(std::string(e.what()) + " (see gaol bench --help)");
  }
  if (compare->parsed()) {
    if (!(threshold > 0)) return Usage("--threshold: expected a positive percentage");
    auto a = Load(baseline);
    if (!a) return Usage(a.error().Message());
    auto b = Load(current);
    if (!b) return Usage(b.error().Message());
    auto comparison = gaol::bench::CompareDocuments(*a, *b, threshold / 100);
    if (!comparison) return Usage(comparison.error().Message());
    std::fputs(gaol::bench::FormatComparison(*comparison, threshold / 100).c_str(), stdout);
    return comparison->Regressed() ? 1 : 0;
  }
  if (auto targets = gaol::cli::CheckMetricsTargets(outputs.textfile, outputs.push); !targets) {
    return Usage(targets.error().Message());
  }
  if (enforce_cmd->parsed()) {
    if (enforce_quick) enforce.repeat = 2;
    if (enforce.repeat == 0) return Usage("--repeat `0`: expected at least 1");
    if (enforce.gaol.empty()) enforce.gaol = gaol::FindGaolBinary();
    if (access(enforce.gaol.c_str(), X_OK) != 0) {
      return Usage("--gaol `" + enforce.gaol + "`: expected the gaol binary");
    }
    if (!enforce_cgroup.empty() && access(enforce_cgroup.c_str(), W_OK) != 0) {
      return Usage("--cgroup-parent `" + enforce_cgroup +
                   "`: expected a writable cgroup directory");
    }
    enforce.cgroup_parent = enforce_cgroup;
    enforce.self = gaol::SelfPath("gaol-bench");
    enforce.progress = isatty(2);
    auto report = gaol::bench::RunEnforce(enforce);
    if (!report) return Usage(report.error().Message());
    if (!enforce_plot.empty()) {
      if (auto s = gaol::bench::PlotEnforce(*report, enforce_plot); !s) {
        return Usage(s.error().Message());
      }
    }
    if (auto s = gaol::bench::ExportEnforce(*report, outputs.textfile, outputs.push); !s) {
      return Usage(s.error().Message());
    }
    return Emit(gaol::bench::ToJson(*report), gaol::bench::FormatTable(*report), outputs);
  }
  if (quick) start.rounds = 30;
  if (start.rounds == 0) return Usage("--rounds `0`: expected at least 1");
  if (cpu >= 0) start.cpu = cpu;
  if (start.gaol.empty()) start.gaol = gaol::FindGaolBinary();
  if (access(start.gaol.c_str(), X_OK) != 0) {
    return Usage("--gaol `" + start.gaol + "`: expected the gaol binary");
  }
  if (!cgroup_parent.empty() && access(cgroup_parent.c_str(), W_OK) != 0) {
    return Usage("--cgroup-parent `" + cgroup_parent + "`: expected a writable cgroup directory");
  }
  start.cgroup_parent = cgroup_parent;
  start.progress = isatty(2);
  char dir[] = "/tmp/gaol-bench-XXXXXX";
  if (!mkdtemp(dir)) return Usage(std::string("mkdtemp: ") + std::strerror(errno));
  start.work_dir = dir;
  auto report = gaol::bench::RunStart(start);
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());
  if (!report) return Usage(report.error().Message());
  if (!plot_dir.empty()) {
    if (auto s = gaol::bench::PlotStart(*report, plot_dir); !s) return Usage(s.error().Message());
  }
  if (auto s = gaol::bench::ExportStart(*report, outputs.textfile, outputs.push); !s) {
    return Usage(s.error().Message());
  }
  return Emit(gaol::bench::ToJson(*report), gaol::bench::FormatTable(*report), outputs);
}
