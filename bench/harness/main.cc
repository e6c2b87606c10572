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
#include "bench/harness/serve.h"
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

// Every option of the three subcommands; only one subcommand is parsed.
struct Args {
  gaol::bench::StartOptions start;
  gaol::bench::EnforceOptions enforce;
  gaol::bench::ServeOptions serve;
  std::string concurrency = "1,2,4,8";
  Outputs outputs;
  std::string cgroup_parent, plot_dir;
  bool quick = false;
  int cpu = -1;
  std::string baseline, current;
  double threshold = 10;
};

CLI::App* AddStart(CLI::App& app, Args& a) {
  CLI::App* cmd = app.add_subcommand(
      "start", "Spawn-to-exit latency of a no-op job: gaol at each isolation level and the peers");
  cmd->add_option("--rounds", a.start.rounds, "Interleaved rounds (each row once per round)")
      ->capture_default_str();
  cmd->add_flag("--quick", a.quick, "30 rounds: a smoke test, not a figure");
  AddOutputOptions(*cmd, a.outputs);
  cmd->add_option("--plot", a.plot_dir, "Draw DIR/start-latency.svg, a CDF per row (gnuplot)")
      ->type_name("DIR");
  cmd->add_option("--cpu", a.cpu, "Pin the harness and every sample to this CPU")->type_name("N");
  cmd->add_option("--cgroup-parent", a.cgroup_parent,
                  "A delegated cgroup v2 directory, for the rows with a cgroup leaf")
      ->type_name("DIR");
  cmd->add_option("--gaol", a.start.gaol, "The gaol binary to measure [the one beside this]")
      ->type_name("FILE");
  return cmd;
}

CLI::App* AddEnforce(CLI::App& app, Args& a) {
  CLI::App* cmd = app.add_subcommand(
      "enforce",
      "How exactly each limit holds: memory, pids, CPU bandwidth, CPU time, wall time, "
      "output, with the mechanism that enforced it");
  cmd->add_option("--repeat", a.enforce.repeat, "Runs per row")->capture_default_str();
  cmd->add_flag("--quick", a.quick, "2 runs per row: a smoke test, not a figure");
  AddOutputOptions(*cmd, a.outputs);
  cmd->add_option("--plot", a.plot_dir, "Draw DIR/enforce.svg (gnuplot)")->type_name("DIR");
  cmd->add_option("--cgroup-parent", a.cgroup_parent,
                  "A delegated cgroup v2 directory: measure the cgroup path")
      ->type_name("DIR");
  cmd->add_option("--gaol", a.enforce.gaol, "The gaol binary to measure [the one beside this]")
      ->type_name("FILE");
  return cmd;
}

CLI::App* AddServe(CLI::App& app, Args& a) {
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Latency and throughput of gaol serve's POST /v1/run beside parallel fork+exec of the same "
      "job, at several concurrencies");
  cmd->add_option("--rounds", a.serve.rounds, "Interleaved rounds (each row once per round)")
      ->capture_default_str();
  cmd->add_option("--requests", a.serve.requests, "Requests per client and round")
      ->capture_default_str();
  cmd->add_option("--concurrency", a.concurrency, "Clients at once, one row each")
      ->type_name("LIST")
      ->capture_default_str();
  cmd->add_flag("--quick", a.quick, "3 rounds of 5: a smoke test, not a figure");
  AddOutputOptions(*cmd, a.outputs);
  cmd->add_option("--plot", a.plot_dir, "Draw DIR/serve-latency.svg, a CDF per row (gnuplot)")
      ->type_name("DIR");
  cmd->add_option("--cgroup-parent", a.cgroup_parent,
                  "A delegated cgroup v2 directory, for the server's job leaves")
      ->type_name("DIR");
  cmd->add_option("--gaol", a.serve.gaol, "The gaol binary to measure [the one beside this]")
      ->type_name("FILE");
  return cmd;
}

CLI::App* AddCompare(CLI::App& app, Args& a) {
  CLI::App* cmd = app.add_subcommand(
      "compare", "Each figure's change from BASELINE to CURRENT; exit 1 past the threshold");
  cmd->add_option("BASELINE", a.baseline,
                  "A gaol.bench/v1 start, enforce or serve report, or gaol-micro-bench's JSON "
                  "(--benchmark_out)")
      ->required();
  cmd->add_option("CURRENT", a.current, "A report of the same kind")->required();
  cmd->add_option("--threshold", a.threshold,
                  "Percent rise of a ratio to the floor (start, micro), or points of the limit "
                  "(enforce), that counts as a regression")
      ->capture_default_str();
  return cmd;
}

int Compare(const Args& a) {
  if (!(a.threshold > 0)) return Usage("--threshold: expected a positive percentage");
  auto baseline = Load(a.baseline);
  if (!baseline) return Usage(baseline.error().Message());
  auto current = Load(a.current);
  if (!current) return Usage(current.error().Message());
  auto comparison = gaol::bench::CompareDocuments(*baseline, *current, a.threshold / 100);
  if (!comparison) return Usage(comparison.error().Message());
  std::fputs(gaol::bench::FormatComparison(*comparison, a.threshold / 100).c_str(), stdout);
  return comparison->Regressed() ? 1 : 0;
}

// What start and enforce both check before measuring: the gaol binary (found beside this one
// when not given), the cgroup parent, the metrics targets. An empty string when all is well.
std::string CheckCommon(std::string& gaol_bin, const Args& a) {
  if (gaol_bin.empty()) gaol_bin = gaol::FindGaolBinary();
  if (access(gaol_bin.c_str(), X_OK) != 0) {
    return "--gaol `" + gaol_bin + "`: expected the gaol binary";
  }
  if (!a.cgroup_parent.empty() && access(a.cgroup_parent.c_str(), W_OK) != 0) {
    return "--cgroup-parent `" + a.cgroup_parent + "`: expected a writable cgroup directory";
  }
  auto targets = gaol::cli::CheckMetricsTargets(a.outputs.textfile, a.outputs.push);
  return targets ? "" : targets.error().Message();
}

// A measured report out: its plot (--plot), its figures to Prometheus, then Emit.
template <typename Report>
int Publish(const Report& report, const Args& a,
            gaol::Status (*plot)(const Report&, const std::string&),
            gaol::Status (*to_metrics)(const Report&, const std::string&, const std::string&)) {
  if (!a.plot_dir.empty()) {
    if (auto s = plot(report, a.plot_dir); !s) return Usage(s.error().Message());
  }
  if (auto s = to_metrics(report, a.outputs.textfile, a.outputs.push); !s) {
    return Usage(s.error().Message());
  }
  return Emit(gaol::bench::ToJson(report), gaol::bench::FormatTable(report), a.outputs);
}

int Enforce(Args& a) {
  gaol::bench::EnforceOptions& o = a.enforce;
  if (a.quick) o.repeat = 2;
  if (o.repeat == 0) return Usage("--repeat `0`: expected at least 1");
  if (std::string bad = CheckCommon(o.gaol, a); !bad.empty()) return Usage(bad);
  o.cgroup_parent = a.cgroup_parent;
  o.self = gaol::SelfPath("gaol-bench");
  o.progress = isatty(2);
  auto report = gaol::bench::RunEnforce(o);
  if (!report) return Usage(report.error().Message());
  return Publish(*report, a, gaol::bench::PlotEnforce, gaol::bench::ExportEnforce);
}

// start and serve: the common checks, a scratch directory for the run (a crun bundle, the
// server's jobs), the measurement, then Publish.
template <typename Options, typename Report>
int Measure(Options& o, const Args& a, gaol::Result<Report> (*run)(const Options&),
            gaol::Status (*plot)(const Report&, const std::string&),
            gaol::Status (*to_metrics)(const Report&, const std::string&, const std::string&)) {
  if (std::string bad = CheckCommon(o.gaol, a); !bad.empty()) return Usage(bad);
  o.cgroup_parent = a.cgroup_parent;
  o.progress = isatty(2);
  char dir[] = "/tmp/gaol-bench-XXXXXX";
  if (!mkdtemp(dir)) return Usage(std::string("mkdtemp: ") + std::strerror(errno));
  o.work_dir = dir;
  auto report = run(o);
  std::system(("rm -rf '" + std::string(dir) + "'").c_str());
  if (!report) return Usage(report.error().Message());
  return Publish(*report, a, plot, to_metrics);
}

int Serve(Args& a) {
  gaol::bench::ServeOptions& o = a.serve;
  if (a.quick) {
    o.rounds = 3;
    o.requests = 5;
  }
  if (o.rounds == 0) return Usage("--rounds `0`: expected at least 1");
  if (o.requests == 0) return Usage("--requests `0`: expected at least 1");
  o.concurrency.clear();
  std::stringstream list(a.concurrency);
  for (std::string item; std::getline(list, item, ',');) {
    char* end = nullptr;
    unsigned long n = std::strtoul(item.c_str(), &end, 10);
    if (item.empty() || *end != 0 || n == 0 || n > 256) {
      return Usage("--concurrency `" + a.concurrency +
                   "`: expected a list of client counts from 1 to 256, such as 1,2,4,8");
    }
    o.concurrency.push_back(static_cast<unsigned>(n));
  }
  return Measure(o, a, gaol::bench::RunServe, gaol::bench::PlotServe, gaol::bench::ExportServe);
}

int Start(Args& a) {
  gaol::bench::StartOptions& o = a.start;
  if (a.quick) o.rounds = 30;
  if (o.rounds == 0) return Usage("--rounds `0`: expected at least 1");
  if (a.cpu >= 0) o.cpu = a.cpu;
  return Measure(o, a, gaol::bench::RunStart, gaol::bench::PlotStart, gaol::bench::ExportStart);
}

}  // namespace

int main(int argc, char** argv) {
  // Inside the sandbox, as `gaol bench enforce`'s workload.
  if (argc > 1 && std::string(argv[1]) == "workload") return gaol::bench::WorkloadMain(argc, argv);
  CLI::App app{
      "gaol bench: start latency side by side with the peers installed here, how exactly limits "
      "hold, gaol serve beside fork+exec, and regressions against a baseline (docs/BENCH.md)",
      "gaol bench"};
  app.require_subcommand(1);
  Args args;
  CLI::App* start = AddStart(app, args);
  CLI::App* enforce = AddEnforce(app, args);
  CLI::App* serve = AddServe(app, args);
  CLI::App* compare = AddCompare(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Usage(std::string(e.what()) + " (see gaol bench --help)");
  }
  if (compare->parsed()) return Compare(args);
  if (enforce->parsed()) return Enforce(args);
  if (start->parsed()) return Start(args);
  if (serve->parsed()) return Serve(args);
  return Usage("expected a subcommand: start, enforce, serve or compare");
}
