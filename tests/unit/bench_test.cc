// gaol bench's statistics, report schema and regression judgement, on crafted inputs.
#include <catch2/catch.hpp>

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
