// `gaol bench compare` reads reports written by other runs, machines and versions.
#include <nlohmann/json.hpp>

#include "bench/harness/enforce.h"
#include "bench/harness/report.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(gaol::fuzz::Text(data, size), nullptr, false);
  if (json.is_discarded()) return 0;
  (void)gaol::bench::StartReportFromJson(json);
  (void)gaol::bench::EnforceReportFromJson(json);
  return 0;
}
