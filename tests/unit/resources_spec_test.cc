// The resource fields of JobSpec: the validation of the limit values and their JSON round trip.
#include <catch2/catch.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sandbox/plan/plan.h"
#include "sandbox/spec/job_spec.h"
#include "tests/unit/resources_fixture.h"
#include "tests/unit/spec_fixture.h"

namespace gaol {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;
using testing::AllControllers;
using testing::AllLimits;
using testing::CheckRejected;
using testing::CheckValid;
using testing::Field;
using testing::kMiB;
using testing::kParentPath;
using testing::ValidSpec;

// ---------------------------------------------------------------------------------------------
// Validation

// testing::CheckInvalid for the spec field `field`, and MakePlan refuses the spec as well.
void CheckInvalid(const std::function<void(JobSpec&)>& change, const std::string& field) {
  JobSpec s = testing::CheckInvalid(change, Field(field));
  // MakePlan validates first: nothing is planned for an invalid spec.
  auto plan = MakePlan(s, AllControllers());
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(), Contains(Field(field)));
}

TEST_CASE("Resources: memory is at least 1 MiB", "[resources][validate]") {
  CheckValid([](JobSpec& s) { s.limits.memory_bytes = kMiB; });
  CheckValid([](JobSpec& s) { s.limits.memory_bytes = UINT64_MAX; });
  CheckInvalid([](JobSpec& s) { s.limits.memory_bytes = kMiB - 1; }, "limits.memory_bytes");
  CheckInvalid([](JobSpec& s) { s.limits.memory_bytes = 0; }, "limits.memory_bytes");
}

TEST_CASE("Resources: memory+swap needs memory and is not below it", "[resources][validate]") {
  CheckValid([](JobSpec& s) {
    s.limits.memory_bytes = 64 * kMiB;
    s.limits.memory_swap_bytes = 64 * kMiB;
  });
  CheckValid([](JobSpec& s) {
    s.limits.memory_bytes = 64 * kMiB;
    s.limits.memory_swap_bytes = 128 * kMiB;
  });
  CheckInvalid(
      [](JobSpec& s) {
        s.limits.memory_bytes = 64 * kMiB;
        s.limits.memory_swap_bytes = 64 * kMiB - 1;
      },
      "limits.memory_swap_bytes");
  CheckInvalid([](JobSpec& s) { s.limits.memory_swap_bytes = 64 * kMiB; },
               "limits.memory_swap_bytes");
}

TEST_CASE("Resources: pids is at least 1", "[resources][validate]") {
  CheckValid([](JobSpec& s) { s.limits.pids = 1; });
  CheckInvalid([](JobSpec& s) { s.limits.pids = 0; }, "limits.pids");
}

TEST_CASE("Resources: cpus is at most 1024", "[resources][validate]") {
  CheckValid([](JobSpec& s) { s.limits.cpus = 1024; });
  CheckValid([](JobSpec& s) { s.limits.cpus = 0.5; });
  CheckInvalid([](JobSpec& s) { s.limits.cpus = 1024.5; }, "limits.cpus");
  CheckInvalid([](JobSpec& s) { s.limits.cpus = 1e9; }, "limits.cpus");
}

TEST_CASE("Resources: cpu_weight is 1 to 10000", "[resources][validate]") {
  CheckValid([](JobSpec& s) { s.limits.cpu_weight = 1; });
  CheckValid([](JobSpec& s) { s.limits.cpu_weight = 10000; });
  CheckInvalid([](JobSpec& s) { s.limits.cpu_weight = 0; }, "limits.cpu_weight");
  CheckInvalid([](JobSpec& s) { s.limits.cpu_weight = 10001; }, "limits.cpu_weight");
}

TEST_CASE("Resources: cpuset_cpus is a CPU list", "[resources][validate]") {
  for (const char* list : {"0", "0-1,3", "0,2-3", "12-15", "0,1,2,3"}) {
    INFO(list);
    CheckValid([&](JobSpec& s) { s.limits.cpuset_cpus = list; });
  }
  for (const char* list : {"", "a", "0 1", ",1", "1,", "-1", "1-", "0-1;3", "all"}) {
    INFO(list);
    CheckInvalid([&](JobSpec& s) { s.limits.cpuset_cpus = list; }, "limits.cpuset_cpus");
  }
  CHECK_THAT(([] {
               JobSpec s = ValidSpec();
               s.limits.cpuset_cpus = std::string("x");
               return ValidateSpec(s).error().Message();
             }()),
             Contains("\"x\""));
}

TEST_CASE("Resources: cpuset_cpus ranges are well formed", "[resources][validate]") {
  // Refused at validation (exit 125), not by the kernel when the leaf is written.
  for (const char* list : {"1--2", "0-1-2", "1,-2", "1-,2", "3-1", ",", "1,,2"}) {
    INFO(list);
    JobSpec s = ValidSpec();
    s.limits.cpuset_cpus = list;
    Status status = ValidateSpec(s);
    CHECK_FALSE(status);
    if (!status) CHECK_THAT(status.error().Message(), Contains("spec field `limits.cpuset_cpus`"));
  }
}

TEST_CASE("Resources: cgroup_parent is a clean absolute path", "[resources][validate]") {
  CheckValid([](JobSpec& s) { s.cgroup_parent = "/sys/fs/cgroup/user.slice/gaol"; });
  for (const char* path :
       {"", "sys/fs/cgroup", "/sys/fs/cgroup/", "/sys/../cgroup", "/sys/./fs", "/sys//fs"}) {
    INFO(path);
    CheckInvalid([&](JobSpec& s) { s.cgroup_parent = path; }, "cgroup_parent");
  }
}

TEST_CASE("Resources: every limit at once is valid", "[resources][validate]") {
  JobSpec s = AllLimits();
  s.limits.memory_swap_bytes = 512 * kMiB;
  s.cgroup_parent = kParentPath;
  s.require_cgroup = true;
  CHECK(ValidateSpec(s));
}

// ---------------------------------------------------------------------------------------------
// JSON

// Every resource field away from its default.
JobSpec ResourceSpec() {
  JobSpec s = AllLimits();
  s.limits.memory_swap_bytes = 512 * kMiB;
  s.limits.wall_time_limit_seconds = 10;
  s.limits.output_limit_bytes = 4096;
  s.cgroup_parent = kParentPath;
  s.require_cgroup = true;
  return s;
}

TEST_CASE("Resources: every new field round-trips through JSON", "[resources][spec]") {
  const JobSpec original = ResourceSpec();
  REQUIRE(ValidateSpec(original));
  json j = SpecToJson(original);
  CHECK(j.at("limits").at("time_limit_seconds") == 2.5);
  CHECK(j.at("limits").at("memory_bytes") == 256 * kMiB);
  CHECK(j.at("limits").at("memory_swap_bytes") == 512 * kMiB);
  CHECK(j.at("limits").at("pids") == 64);
  CHECK(j.at("limits").at("cpus") == 1.5);
  CHECK(j.at("limits").at("cpu_weight") == 200);
  CHECK(j.at("limits").at("cpuset_cpus") == "0-1,3");
  CHECK(j.at("cgroup_parent") == kParentPath);
  CHECK(j.at("require_cgroup") == true);
  auto back = SpecFromJson(j);
  REQUIRE(back);
  CHECK(*back == original);
  auto from_text = SpecFromJsonText(j.dump(2));
  REQUIRE(from_text);
  CHECK(*from_text == original);
  // Each field alone, too: one field cannot be read into another's slot unnoticed.
  for (const auto& [key, value] : j.at("limits").items()) {
    if (value.is_null()) continue;
    INFO("limits." << key);
    JobSpec one;
    json k = SpecToJson(one);
    k["limits"][key] = value;
    auto parsed = SpecFromJson(k);
    REQUIRE(parsed);
    CHECK(SpecToJson(*parsed).at("limits") == k.at("limits"));
  }
}

TEST_CASE("Resources: unset fields are null and the defaults round-trip", "[resources][spec]") {
  json j = SpecToJson(JobSpec{});
  for (const char* key : {"time_limit_seconds", "memory_bytes", "memory_swap_bytes", "pids", "cpus",
                          "cpu_weight", "cpuset_cpus"}) {
    INFO(key);
    CHECK(j.at("limits").at(key).is_null());
  }
  CHECK(j.at("cgroup_parent").is_null());
  CHECK(j.at("require_cgroup") == false);
  auto back = SpecFromJson(j);
  REQUIRE(back);
  CHECK(*back == JobSpec{});
  // Omitted, they take the defaults too.
  auto omitted = SpecFromJsonText(R"({"command": ["true"], "limits": {}})");
  REQUIRE(omitted);
  CHECK(omitted->limits == LimitsSpec{});
  CHECK_FALSE(omitted->cgroup_parent);
  CHECK_FALSE(omitted->require_cgroup);
}

TEST_CASE("Resources: a new field of the wrong type is an error naming it", "[resources][spec]") {
  struct Bad {
    std::string pointer;
    json value;
    std::string path;
  };
  const std::vector<Bad> cases = {
      {"/limits/time_limit_seconds", "2s", "limits.time_limit_seconds"},
      {"/limits/time_limit_seconds", 0, "limits.time_limit_seconds"},
      {"/limits/time_limit_seconds", -1.5, "limits.time_limit_seconds"},
      {"/limits/time_limit_seconds", true, "limits.time_limit_seconds"},
      {"/limits/memory_bytes", "256m", "limits.memory_bytes"},
      {"/limits/memory_bytes", -1, "limits.memory_bytes"},
      {"/limits/memory_bytes", 1.5, "limits.memory_bytes"},
      {"/limits/memory_swap_bytes", "1g", "limits.memory_swap_bytes"},
      {"/limits/memory_swap_bytes", -1, "limits.memory_swap_bytes"},
      {"/limits/memory_swap_bytes", json::array(), "limits.memory_swap_bytes"},
      {"/limits/pids", "64", "limits.pids"},
      {"/limits/pids", -1, "limits.pids"},
      {"/limits/pids", 2.5, "limits.pids"},
      {"/limits/cpus", "1.5", "limits.cpus"},
      {"/limits/cpus", 0, "limits.cpus"},
      {"/limits/cpus", -1, "limits.cpus"},
      {"/limits/cpus", false, "limits.cpus"},
      {"/limits/cpu_weight", "100", "limits.cpu_weight"},
      {"/limits/cpu_weight", -5, "limits.cpu_weight"},
      {"/limits/cpu_weight", 1.5, "limits.cpu_weight"},
      {"/limits/cpuset_cpus", 3, "limits.cpuset_cpus"},
      {"/limits/cpuset_cpus", json{0, 1}, "limits.cpuset_cpus"},
      {"/limits/cpuset_cpus", true, "limits.cpuset_cpus"},
      {"/cgroup_parent", 5, "cgroup_parent"},
      {"/cgroup_parent", true, "cgroup_parent"},
      {"/cgroup_parent", json::array(), "cgroup_parent"},
      {"/require_cgroup", "yes", "require_cgroup"},
      {"/require_cgroup", 1, "require_cgroup"},
      {"/require_cgroup", json::object(), "require_cgroup"},
  };
  const json base = SpecToJson(ResourceSpec());
  REQUIRE(SpecFromJson(base));
  for (const auto& c : cases) {
    json j = base;
    j[json::json_pointer(c.pointer)] = c.value;
    CheckRejected(j, c.path);
  }
}

TEST_CASE("Resources: an unknown limit key is refused", "[resources][spec]") {
  json j = SpecToJson(ResourceSpec());
  for (const char* key : {"memory", "memory_limit", "cpu", "cpuset", "pids_limit", "swap"}) {
    json k = j;
    k["limits"][key] = 1;
    CheckRejected(k, std::string("limits.") + key);
  }
  json top = j;
  top["cgroup"] = "/sys/fs/cgroup";
  CheckRejected(top, "cgroup");
}

}  // namespace
}  // namespace gaol
