// The statistics of `gaol bench`: a distribution per row, ratios to the same run's reference,
// and the interleaved order that makes a noisy machine's drift fall on every row alike.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace gaol::bench {

struct Summary {
  std::size_t n = 0;
  double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Nearest-rank percentile of sorted samples: the smallest sample with at least p % of the
// samples at or below it (p in (0, 100]). Exact on small samples, never interpolated.
double Percentile(const std::vector<double>& sorted, double p);
Summary Summarise(std::vector<double> samples);

// a / b, or nothing when b is not positive.
std::optional<double> Ratio(double a, double b);

// The order of `rows` rows in round `round`: every row once, the first one rotating, so over
// `rows` rounds each row takes each position once (A B C, B C A, C A B, ...).
std::vector<std::size_t> RoundOrder(std::size_t rows, std::size_t round);

}  // namespace gaol::bench
