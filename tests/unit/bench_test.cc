// gaol bench's statistics, report schema and regression judgement, on crafted inputs.
#include <catch2/catch.hpp>

#include "bench/harness/compare.h"
#include "bench/harness/enforce.h"
#include "bench/harness/report.h"
#include "bench/harness/stats.h"

namespace {

using gaol::bench::Row;
using gaol::bench::StartReport;

StartReport Report(std::vector<std::pair<std::string, double>> p50s) {
  StartReport r;
  r.host = gaol::bench::DescribeHost();
  r.rounds = 10;
  double floor = p50s.front().second;
  for (auto& [name, p50] : p50s) {
    Row row;
    row.name = name;
    row.tool = name == "floor" ? "floor" : "gaol";
    row.command = {"/bin/true"};
    row.seconds = gaol::bench::Summarise({p50 * 0.9, p50, p50 * 1.5});
    row.ratio_to_floor = p50 / floor;
    r.rows.push_back(row);
  }
  return r;
}

gaol::bench::EnforceRow Limit(std::string name, std::string mechanism, double asked,
                              double error_worst) {
  gaol::bench::EnforceRow row;
  row.name = std::move(name);
  row.limit = "memory";
  row.mechanism = std::move(mechanism);
  row.figure = "peak_memory_bytes";
  row.asked = asked;
  row.measured = gaol::bench::Summarise({asked + error_worst});
  row.error_worst = error_worst;
  row.error_p50 = error_worst;
  row.statuses = "memory_limit x1";
  return row;
}

gaol::bench::EnforceReport Enforce(std::vector<gaol::bench::EnforceRow> rows) {
  gaol::bench::EnforceReport r;
  r.host = gaol::bench::DescribeHost();
  r.repeat = 1;
  r.rows = std::move(rows);
  return r;
}

// A Google Benchmark JSON document as gaol-micro-bench writes it (--benchmark_out).
nlohmann::json Micro(std::vector<std::tuple<std::string, double, std::string>> runs) {
  nlohmann::json doc = {{"context", {{"num_cpus", 2}}}, {"benchmarks", nlohmann::json::array()}};
  for (auto& [name, time, unit] : runs) {
    doc["benchmarks"].push_back({{"name", name},
                                 {"run_name", name},
                                 {"run_type", "iteration"},
                                 {"real_time", time},
                                 {"time_unit", unit}});
  }
  return doc;
}

}  // namespace

TEST_CASE("Bench: nearest-rank percentiles", "[bench]") {
  using gaol::bench::Percentile;
  std::vector<double> ten = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  CHECK(Percentile(ten, 50) == 5);
  CHECK(Percentile(ten, 90) == 9);
  CHECK(Percentile(ten, 99) == 10);
  CHECK(Percentile(ten, 100) == 10);
  CHECK(Percentile(ten, 1) == 1);
  CHECK(Percentile({7}, 50) == 7);
  CHECK(Percentile({}, 50) == 0);
  auto s = gaol::bench::Summarise({3, 1, 2, 10});
  CHECK(s.n == 4);
  CHECK(s.min == 1);
  CHECK(s.max == 10);
  CHECK(s.p50 == 2);
  CHECK(s.mean == 4);
}

TEST_CASE("Bench: interleaving puts every row in every position once", "[bench]") {
  const std::size_t rows = 5;
  std::vector<std::vector<int>> seen(rows, std::vector<int>(rows, 0));
  for (std::size_t round = 0; round < rows; ++round) {
    auto order = gaol::bench::RoundOrder(rows, round);
    REQUIRE(order.size() == rows);
    std::vector<int> once(rows, 0);
    for (std::size_t pos = 0; pos < rows; ++pos) {
      ++once[order[pos]];
      ++seen[order[pos]][pos];
    }
    for (int c : once) CHECK(c == 1);
  }
  for (const auto& row : seen) {
    for (int c : row) CHECK(c == 1);
  }
  CHECK(gaol::bench::RoundOrder(0, 3).empty());
}

TEST_CASE("Bench: ratios", "[bench]") {
  CHECK(*gaol::bench::Ratio(6, 3) == 2);
  CHECK_FALSE(gaol::bench::Ratio(1, 0));
  CHECK_FALSE(gaol::bench::Ratio(1, -1));
}

TEST_CASE("Bench: a report round-trips through gaol.bench/v1 JSON", "[bench]") {
  StartReport r = Report({{"floor", 0.001}, {"gaol", 0.005}});
  r.rows[1].ratio_to_bwrap = 1.07;
  Row skipped;
  skipped.name = "crun";
  skipped.tool = "crun";
  skipped.skipped = "crun is not installed";
  r.rows.push_back(skipped);
  r.host.pinned_cpu = 1;
  auto json = gaol::bench::ToJson(r);
  CHECK(json["schema"] == "gaol.bench/v1");
  auto back = gaol::bench::StartReportFromJson(json);
  REQUIRE(back);
  CHECK(gaol::bench::ToJson(*back) == json);
  CHECK(back->rows[2].skipped == "crun is not installed");
  CHECK(back->host.pinned_cpu == 1);
  json.erase("rounds");
  CHECK_FALSE(gaol::bench::StartReportFromJson(json));
  json = gaol::bench::ToJson(r);
  json["schema"] = "gaol.bench/v0";
  CHECK_FALSE(gaol::bench::StartReportFromJson(json));
  // The table names every row, and the skipped one with its reason.
  std::string table = gaol::bench::FormatTable(r);
  CHECK(table.find("crun") != std::string::npos);
  CHECK(table.find("skipped: crun is not installed") != std::string::npos);
}

TEST_CASE("Bench: compare judges ratios to the floor, not absolute times", "[bench]") {
  StartReport base = Report({{"floor", 0.001}, {"gaol", 0.005}, {"gone", 0.002}});
  // Everything twice as slow (a slower machine): the ratios hold, no regression.
  StartReport slower = Report({{"floor", 0.002}, {"gaol", 0.010}, {"new", 0.004}});
  auto c = gaol::bench::Compare(base, slower, 0.10);
  CHECK_FALSE(c.Regressed());
  REQUIRE(c.changes.size() == 4);
  CHECK(c.changes[1].change == Approx(0.0));
  CHECK(c.changes[2].note == "new row");
  CHECK(c.changes[3].note == "row gone");
  // gaol 9 % slower relative to the floor: under 10 %. 11 %: a regression. Faster: never.
  CHECK_FALSE(
      gaol::bench::Compare(base, Report({{"floor", 0.001}, {"gaol", 0.00545}}), 0.10).Regressed());
  auto worse = gaol::bench::Compare(base, Report({{"floor", 0.001}, {"gaol", 0.00555}}), 0.10);
  CHECK(worse.Regressed());
  CHECK(gaol::bench::FormatComparison(worse, 0.10).find("REGRESSION") != std::string::npos);
  CHECK_FALSE(
      gaol::bench::Compare(base, Report({{"floor", 0.001}, {"gaol", 0.002}}), 0.10).Regressed());
  // A looser threshold lets the 11 % through.
  CHECK_FALSE(
      gaol::bench::Compare(base, Report({{"floor", 0.001}, {"gaol", 0.00555}}), 0.20).Regressed());
}

TEST_CASE("Bench: an enforce report round-trips through gaol.bench/v1 JSON", "[bench]") {
  auto r = Enforce({Limit("memory 64 MiB: hog", "cgroup", 64.0, -0.5)});
  r.rows.push_back(Limit("pids 16: fork bomb", "rlimit", 16, 1));
  r.rows.back().skipped = "no controller";
  auto back = gaol::bench::EnforceReportFromJson(gaol::bench::ToJson(r));
  REQUIRE(back);
  REQUIRE(back->rows.size() == 2);
  CHECK(back->rows[0].mechanism == "cgroup");
  CHECK(back->rows[0].error_worst == Approx(-0.5));
  CHECK(back->rows[0].measured.p50 == Approx(63.5));
  CHECK(back->rows[1].skipped == "no controller");
  CHECK(back->host.kernel == r.host.kernel);
  // A start report is not an enforce report.
  auto wrong = gaol::bench::EnforceReportFromJson(gaol::bench::ToJson(Report({{"floor", 1}})));
  REQUIRE_FALSE(wrong);
  CHECK(wrong.error().Message().find("kind") != std::string::npos);
}

TEST_CASE("Bench: compare judges enforcement by the worst error's share of the limit", "[bench]") {
  auto base = Enforce({Limit("memory", "cgroup", 100, -2), Limit("time", "supervisor", 1, 0.01)});
  // 2 % -> 11 %: 9 points, under 10. 2 % -> 13 %: 11 points, a regression.
  auto ok = gaol::bench::Compare(
      base, Enforce({Limit("memory", "cgroup", 100, 11), Limit("time", "supervisor", 1, 0.01)}),
      0.10);
  CHECK_FALSE(ok.Regressed());
  REQUIRE(ok.changes.size() == 2);
  CHECK(ok.changes[0].kind == gaol::bench::Change::Kind::kErrorShare);
  CHECK(ok.changes[0].baseline == Approx(0.02));
  CHECK(ok.changes[0].current == Approx(0.11));
  CHECK(ok.changes[0].change == Approx(0.09));
  auto worse = gaol::bench::Compare(
      base, Enforce({Limit("memory", "cgroup", 100, -13), Limit("time", "supervisor", 1, 0.01)}),
      0.10);
  CHECK(worse.Regressed());
  CHECK(worse.changes[0].regression);
  CHECK_FALSE(worse.changes[1].regression);
  // More exact is never a regression.
  CHECK_FALSE(
      gaol::bench::Compare(base, Enforce({Limit("memory", "cgroup", 100, 0)}), 0.10).Regressed());
  // The cgroup path replaced by the rlimit fallback: the figures no longer compare; flagged.
  auto fallback = gaol::bench::Compare(base, Enforce({Limit("memory", "rlimit", 100, -2)}), 0.10);
  CHECK(fallback.Regressed());
  CHECK(fallback.changes[0].note == "mechanism cgroup -> rlimit");
  CHECK(fallback.changes[1].note == "row gone");
  std::string text = gaol::bench::FormatComparison(worse, 0.10);
  CHECK(text.find("of the limit") != std::string::npos);
  CHECK(text.find("REGRESSION") != std::string::npos);
}

TEST_CASE("Bench: compare judges Google Benchmark JSON by ratios to its floor", "[bench]") {
  auto base = Micro({{"floor/fork_exec_true/real_time", 700, "us"},
                     {"clone3/all_seven", 1000000, "ns"},
                     {"launch/true_default", 3.5, "ms"}});
  // A machine twice as slow throughout: no regression, whatever the units.
  auto slower = Micro({{"floor/fork_exec_true/real_time", 1.4, "ms"},
                       {"clone3/all_seven", 2000, "us"},
                       {"launch/true_default", 7, "ms"}});
  auto same = gaol::bench::CompareDocuments(base, slower, 0.10);
  REQUIRE(same);
  CHECK(same->kind == "micro");
  CHECK_FALSE(same->Regressed());
  REQUIRE(same->changes.size() == 3);
  CHECK(same->changes[1].baseline == Approx(1000000.0 / 700000));
  CHECK(same->changes[1].change == Approx(0.0));
  // launch 12 % slower against the same floor: a regression at 10 %, not at 20 %.
  auto worse = Micro({{"floor/fork_exec_true/real_time", 700, "us"},
                      {"clone3/all_seven", 1000, "us"},
                      {"launch/true_default", 3.92, "ms"}});
  auto judged = gaol::bench::CompareDocuments(base, worse, 0.10);
  REQUIRE(judged);
  CHECK(judged->Regressed());
  CHECK(judged->changes[2].regression);
  CHECK_FALSE(gaol::bench::CompareDocuments(base, worse, 0.20)->Regressed());
  // Aggregates only (--benchmark_report_aggregates_only): the median is the figure, not the mean
  // (which comes first).
  auto reps = base;
  reps["benchmarks"].erase(2);
  reps["benchmarks"].push_back({{"name", "launch/true_default_mean"},
                                {"run_name", "launch/true_default"},
                                {"run_type", "aggregate"},
                                {"aggregate_name", "mean"},
                                {"real_time", 50.0},
                                {"time_unit", "ms"}});
  reps["benchmarks"].push_back({{"name", "launch/true_default_median"},
                                {"run_name", "launch/true_default"},
                                {"run_type", "aggregate"},
                                {"aggregate_name", "median"},
                                {"real_time", 3.5},
                                {"time_unit", "ms"}});
  auto with_reps = gaol::bench::CompareDocuments(base, reps, 0.10);
  REQUIRE(with_reps);
  CHECK_FALSE(with_reps->Regressed());
  REQUIRE(with_reps->changes.size() == 3);  // one line per benchmark, not per aggregate
  CHECK(with_reps->changes[2].current == Approx(5.0));
  // Repetitions in the file: the fastest is the figure (noise only adds time).
  auto runs = base;
  runs["benchmarks"][2]["real_time"] = 9.0;  // a disturbed repetition
  for (double ms : {3.5, 4.0}) {
    runs["benchmarks"].push_back({{"name", "launch/true_default"},
                                  {"run_name", "launch/true_default"},
                                  {"run_type", "iteration"},
                                  {"real_time", ms},
                                  {"time_unit", "ms"}});
  }
  auto fastest = gaol::bench::CompareDocuments(base, runs, 0.10);
  REQUIRE(fastest);
  REQUIRE(fastest->changes.size() == 3);
  CHECK(fastest->changes[2].current == Approx(5.0));
  CHECK_FALSE(fastest->Regressed());
  // A benchmark the host could not run is skipped with its reason, not judged.
  auto skipped = base;
  skipped["benchmarks"][1] = {{"name", "clone3/all_seven"},
                              {"run_name", "clone3/all_seven"},
                              {"run_type", "iteration"},
                              {"error_occurred", true},
                              {"error_message", "clone3: Operation not permitted"}};
  auto s = gaol::bench::CompareDocuments(base, skipped, 0.10);
  REQUIRE(s);
  CHECK(s->changes[1].note == "skipped: clone3: Operation not permitted");
  CHECK_FALSE(s->Regressed());
  // Without its floor a run cannot be judged; nor can two kinds of report be compared.
  auto no_floor = Micro({{"clone3/all_seven", 1000, "us"}});
  auto bad = gaol::bench::CompareDocuments(base, no_floor, 0.10);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().Message().find("floor/fork_exec_true") != std::string::npos);
  auto mixed =
      gaol::bench::CompareDocuments(base, gaol::bench::ToJson(Report({{"floor", 1}})), 0.10);
  REQUIRE_FALSE(mixed);
  CHECK(mixed.error().Message().find("same kind") != std::string::npos);
}

namespace {

gaol::bench::ServeReport Serve(double p50_ratio, double rate_ratio) {
  gaol::bench::ServeReport r;
  r.host = gaol::bench::DescribeHost();
  r.rounds = 3;
  r.requests = 5;
  r.server = {"gaol", "serve"};
  gaol::bench::ServeRow floor;
  floor.name = "fork+exec /bin/true, 1 at once (floor)";
  floor.tool = "floor";
  floor.seconds = gaol::bench::Summarise({0.0005, 0.0006});
  floor.per_second = 2000;
  gaol::bench::ServeRow serve;
  serve.name = "POST /v1/run /bin/true, 1 client";
  serve.tool = "serve";
  serve.seconds = gaol::bench::Summarise({0.003, 0.004});
  serve.per_second = 2000 * rate_ratio;
  serve.ratio_p50 = p50_ratio;
  serve.ratio_p99 = p50_ratio * 2;
  serve.ratio_throughput = rate_ratio;
  r.rows = {floor, serve};
  return r;
}

}  // namespace

TEST_CASE("Bench: a serve report round-trips and compare judges latency and throughput",
          "[bench]") {
  auto base = Serve(6.0, 0.2);
  auto json = gaol::bench::ToJson(base);
  CHECK(json["kind"] == "serve");
  auto back = gaol::bench::ServeReportFromJson(json);
  REQUIRE(back);
  CHECK(gaol::bench::ToJson(*back) == json);
  CHECK(back->rows[0].ratio_p50 == std::nullopt);
  json.erase("requests");
  CHECK_FALSE(gaol::bench::ServeReportFromJson(json));
  CHECK(gaol::bench::FormatTable(base).find("POST /v1/run /bin/true, 1 client") !=
        std::string::npos);
  // Only the serve rows are judged, each on its p50 ratio and its throughput ratio.
  auto same = gaol::bench::Compare(base, Serve(6.0, 0.2), 0.10);
  CHECK_FALSE(same.Regressed());
  REQUIRE(same.changes.size() == 2);
  CHECK(same.changes[0].name == "POST /v1/run /bin/true, 1 client p50/floor");
  CHECK(same.changes[1].name == "POST /v1/run /bin/true, 1 client floor rate/rate");
  CHECK(gaol::bench::Compare(base, Serve(6.9, 0.2), 0.10).Regressed());   // 15 % slower
  CHECK(gaol::bench::Compare(base, Serve(6.0, 0.17), 0.10).Regressed());  // 15 % fewer per second
  CHECK_FALSE(gaol::bench::Compare(base, Serve(2.0, 0.5), 0.10).Regressed());  // faster
  // CompareDocuments reads the kind, and refuses a serve report against a start one.
  auto docs = gaol::bench::CompareDocuments(gaol::bench::ToJson(base),
                                            gaol::bench::ToJson(Serve(6.9, 0.2)), 0.10);
  REQUIRE(docs);
  CHECK(docs->Regressed());
  CHECK_FALSE(gaol::bench::CompareDocuments(gaol::bench::ToJson(base),
                                            gaol::bench::ToJson(Report({{"floor", 0.001}})), 0.1));
}
