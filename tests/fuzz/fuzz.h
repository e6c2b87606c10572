// Shared by the libFuzzer harnesses: the input as text, and a check that aborts (a finding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace gaol::fuzz {

inline std::string Text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A property that must hold for every input: libFuzzer records the input that breaks it.
inline void Require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "gaol fuzz: property broken: %s\n", what);
  std::abort();
}

}  // namespace gaol::fuzz
