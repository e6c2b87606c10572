// Spec validation checks: a change to a valid spec that ValidateSpec accepts or refuses, and JSON
// that SpecFromJson refuses.
#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "sandbox/common/error.h"
#include "sandbox/spec/job_spec.h"

namespace gaol::testing {

// The field path an error names, as Message() prints it.
inline std::string Field(const std::string& path) { return "spec field `" + path + "`"; }

inline JobSpec ValidSpec() {
  JobSpec s;
  s.command = {"/bin/true"};
  return s;
}

// Applies `change` to a valid spec and expects a validation error whose message contains `text`
// and "expected". Returns the changed spec.
inline JobSpec CheckInvalid(const std::function<void(JobSpec&)>& change, const std::string& text) {
  JobSpec s = ValidSpec();
  change(s);
  Status status = ValidateSpec(s);
  REQUIRE_FALSE(status);
  CHECK(status.error().step == Step::kValidate);
  CHECK_THAT(status.error().Message(),
             Catch::Matchers::Contains(text) && Catch::Matchers::Contains("expected"));
  return s;
}

// Applies `change` to a valid spec and expects it to stay valid.
inline void CheckValid(const std::function<void(JobSpec&)>& change) {
  JobSpec s = ValidSpec();
  change(s);
  Status status = ValidateSpec(s);
  INFO((status ? std::string("ok") : status.error().Message()));
  CHECK(status);
}

// Expects SpecFromJson to refuse `value` with an error naming the field `path`.
inline void CheckRejected(const nlohmann::json& value, const std::string& path) {
  INFO(value.dump());
  auto spec = SpecFromJson(value);
  REQUIRE_FALSE(spec);
  CHECK(spec.error().step == Step::kValidate);
  CHECK_THAT(spec.error().Message(),
             Catch::Matchers::Contains(Field(path)) && Catch::Matchers::Contains("expected"));
}

}  // namespace gaol::testing
