// What a serve client sends (a request body) and what an operator writes (a limits file): never a
// crash; an accepted request survives the trip to its runner unchanged.
#include <nlohmann/json.hpp>

#include "sandbox/serve/request.h"
#include "tests/fuzz/fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text = gaol::fuzz::Text(data, size);
  static const gaol::serve::Policy policy = gaol::serve::Policy::BuiltIn();
  auto request = gaol::serve::ParseRunRequest(text, policy);
  if (request) {
    request->job_name = "job-1";
    auto again = gaol::serve::RequestFromJson(gaol::serve::RequestToJson(*request));
    gaol::fuzz::Require(again.has_value(), "a checked request is read back by its runner");
    gaol::fuzz::Require(again->spec == request->spec, "the spec survives the runner's copy");
    gaol::fuzz::Require(again->files.size() == request->files.size(), "every file survives");
  }
  auto json = nlohmann::json::parse(text, nullptr, false);
  if (!json.is_discarded()) (void)gaol::serve::PolicyFromJson(json);
  return 0;
}
