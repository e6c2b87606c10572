// Docker's unit syntax for sizes ("64m", "1g", "512k", "1024") and durations ("2s", "500ms",
// "1.5" seconds, "2m").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace gaol {

std::optional<std::uint64_t> ParseSize(std::string_view text);
std::optional<double> ParseDuration(std::string_view text);
// A non-negative integer that fits 32 bits.
std::optional<std::uint32_t> ParseU32(std::string_view text);
std::optional<std::uint64_t> ParseU64(std::string_view text);

}  // namespace gaol
