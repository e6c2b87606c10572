#include "sandbox/spec/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

namespace gaol {
namespace {

// A decimal number with an optional fraction; rejects signs, exponents and empty input.
std::optional<double> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  bool seen_dot = false, seen_digit = false;
  for (char c : text) {
    if (c == '.' && !seen_dot) {
      seen_dot = true;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      seen_digit = true;
    } else {
      return std::nullopt;
    }
  }
  if (!seen_digit) return std::nullopt;
  return std::stod(std::string(text));
}

}  // namespace

std::optional<std::uint64_t> ParseU64(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::uint32_t> ParseU32(std::string_view text) {
  auto value = ParseU64(text);
  if (!value || *value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
  return static_cast<std::uint32_t>(*value);
}

std::optional<std::uint64_t> ParseSize(std::string_view text) {
  std::uint64_t multiplier = 1;
  if (!text.empty()) {
    char last = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
    if (last == 'b') {
      text.remove_suffix(1);
      if (!text.empty())
        last = static_cast<char>(std::tolower(static_cast<unsigned char>(text.back())));
    }
    switch (last) {
      case 'k':
        multiplier = 1ULL << 10;
        break;
      case 'm':
        multiplier = 1ULL << 20;
        break;
      case 'g':
        multiplier = 1ULL << 30;
        break;
      case 't':
        multiplier = 1ULL << 40;
        break;
      default:
        break;
    }
    if (multiplier != 1) text.remove_suffix(1);
  }
  // A whole number stays exact (a double holds only 53 bits).
  if (text.find('.') == std::string_view::npos) {
    auto whole = ParseU64(text);
    if (!whole || *whole > std::numeric_limits<std::uint64_t>::max() / multiplier)
      return std::nullopt;
    return *whole * multiplier;
  }
  auto number = ParseDecimal(text);
  if (!number) return std::nullopt;
  double bytes = *number * static_cast<double>(multiplier);
  // 2^64 and above do not fit; llround would overflow from 2^63 on.
  if (!(bytes < 18446744073709551616.0)) return std::nullopt;
  return static_cast<std::uint64_t>(std::round(bytes));
}

std::optional<double> ParseDuration(std::string_view text) {
  double scale = 1.0;
  auto ends_with = [&](std::string_view suffix) {
    return text.size() > suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
  };
  if (ends_with("ms")) {
    scale = 1e-3;
    text.remove_suffix(2);
  } else if (ends_with("us")) {
    scale = 1e-6;
    text.remove_suffix(2);
  } else if (ends_with("s")) {
    text.remove_suffix(1);
  } else if (ends_with("m")) {
    scale = 60.0;
    text.remove_suffix(1);
  } else if (ends_with("h")) {
    scale = 3600.0;
    text.remove_suffix(1);
  }
  auto number = ParseDecimal(text);
  if (!number) return std::nullopt;
  return *number * scale;
}

}  // namespace gaol
