// JobSpec JSON (`gaol run --spec`, serve's requests): parsing and validation never crash, and a
// spec that parses prints to JSON that parses back to the same spec.
#include <nlohmann/json.hpp>

#include "sandbox/spec/job_spec.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto spec = gaol::SpecFromJsonText(gaol::fuzz::Text(data, size));
  if (!spec) return 0;
  (void)gaol::ValidateSpec(*spec);
  auto again = gaol::SpecFromJson(gaol::SpecToJson(*spec));
  gaol::fuzz::Require(again.has_value(), "SpecToJson's output is read back");
  gaol::fuzz::Require(*again == *spec, "a spec round-trips through JSON");
  return 0;
}
