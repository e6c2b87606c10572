// Merging a run's metrics into an existing textfile (node_exporter's collector reads it): the
// existing file is whatever is on disk. Input: EXISTING, a NUL, CURRENT.
#include "metrics/textfile.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text = gaol::fuzz::Text(data, size);
  std::size_t nul = text.find('\0');
  std::string existing = text.substr(0, nul);
  std::string current = nul == std::string::npos ? "" : text.substr(nul + 1);
  auto merged = gaol::metrics::MergeExpositions(existing, current);
  if (merged) {
    // What was merged merges again with nothing new: the text format is read back.
    gaol::fuzz::Require(gaol::metrics::MergeExpositions(*merged, "").has_value(),
                        "a merged exposition is read back");
  }
  return 0;
}
