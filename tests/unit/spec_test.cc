// JobSpec <-> JSON: the round trip, DESIGN.md's example, and an error naming the field path for
// every field of the wrong type or an unknown key.
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/spec/job_spec.h"
#include "tests/unit/spec_fixture.h"

namespace gaol {
namespace {

using Catch::Matchers::Contains;
using nlohmann::json;
using testing::CheckRejected;

// Every field away from its default.
JobSpec FullSpec() {
  JobSpec s;
  s.command = {"/usr/bin/python3", "solution.py", "--a b"};
  s.env = {{"LANG", "C.UTF-8"}, {"X", "1=2"}, {"EMPTY", ""}};
  s.clear_env = true;
  s.workdir = "/work";
  s.hostname = "judge-1";
  s.network = Network::kHost;
  s.share = {.ipc = true, .uts = true, .pid = true, .cgroup = true};
  s.uid = 0;
  s.gid = 100;
  s.map_users.automatic = true;
  s.map_groups.ranges = {{1, 100000, 1000}, {2000, 200000, 10}};
  s.rootfs = "/srv/root";
  s.read_only = false;
  s.chroot = true;
  s.mounts = {
      {.type = MountType::kBind, .source = "/srv/task", .target = "/work", .read_only = true},
      {.type = MountType::kTmpfs, .target = "/tmp", .size_bytes = 64ULL << 20},
      {.type = MountType::kTmpfs, .target = "/scratch"},
      {.type = MountType::kBind, .source = "/data", .target = "/data"},
  };
  s.limits.wall_time_limit_seconds = 5.5;
  s.limits.output_limit_bytes = 1048576;
  s.ulimits = {{"nofile", {64, 128}}, {"core", {0, RLIM_INFINITY}}};
  s.stdin_path = std::string("-");
  s.stdout_path = "/out/stdout";
  s.stderr_path = "/out/stderr";
  return s;
}

TEST_CASE("SpecToJson then SpecFromJson gives back a spec with every field set", "[spec]") {
  const JobSpec original = FullSpec();
  REQUIRE(ValidateSpec(original));
  auto back = SpecFromJson(SpecToJson(original));
  REQUIRE(back);
  CHECK(*back == original);
  // The same through text, as --spec and --print-spec see it.
  auto from_text = SpecFromJsonText(SpecToJson(original).dump(2));
  REQUIRE(from_text);
  CHECK(*from_text == original);
}

TEST_CASE("SpecToJson then SpecFromJson gives back the default spec", "[spec]") {
  JobSpec original;
  auto back = SpecFromJson(SpecToJson(original));
  REQUIRE(back);
  CHECK(*back == original);
  JobSpec with_command;
  with_command.command = {"true"};
  auto back2 = SpecFromJsonText(SpecToJson(with_command).dump());
  REQUIRE(back2);
  CHECK(*back2 == with_command);
}

TEST_CASE("SpecToJson writes the schema, names from DESIGN.md and nulls for unset", "[spec]") {
  json j = SpecToJson(JobSpec{});
  CHECK(j.at("schema") == "gaol.spec/v1");
  CHECK(j.at("network") == "none");
  CHECK(j.at("hostname") == "gaol");
  CHECK(j.at("workdir") == "/");
  CHECK(j.at("rootfs").is_null());
  CHECK(j.at("uid").is_null());
  CHECK(j.at("map_users").is_null());
  CHECK(j.at("stdin").is_null());
  CHECK(j.at("stdout").is_null());
  CHECK(j.at("stderr").is_null());
  CHECK(j.at("limits").at("wall_time_limit_seconds").is_null());
  CHECK(j.at("read_only") == true);
  json full = SpecToJson(FullSpec());
  CHECK(full.at("map_users") == "auto");
  CHECK(full.at("share") == json{"ipc", "uts", "pid", "cgroup"});
  CHECK(full.at("map_groups").at(1) == json{{"inside", 2000}, {"outside", 200000}, {"count", 10}});
  CHECK(full.at("mounts").at(1) ==
        json{{"type", "tmpfs"}, {"target", "/tmp"}, {"size_bytes", 67108864}});
  CHECK(full.at("ulimits").at("core").at("hard") == RLIM_INFINITY);
}

TEST_CASE("The DESIGN.md example parses", "[spec]") {
  // DESIGN.md's example, first without its limits and security.
  const char* text = R"({
    "schema": "gaol.spec/v1",
    "command": ["/usr/bin/python3", "solution.py"],
    "env": {"LANG": "C.UTF-8"},
    "workdir": "/work",
    "hostname": "gaol",
    "network": "none",
    "rootfs": null,
    "mounts": [{"type": "bind", "source": "/srv/task", "target": "/work", "read_only": true},
               {"type": "tmpfs", "target": "/tmp", "size_bytes": 67108864}],
    "limits": {"wall_time_limit_seconds": 5.0, "output_limit_bytes": 1048576},
    "stdin": null, "stdout": null, "stderr": null
  })";
  auto spec = SpecFromJsonText(text);
  REQUIRE(spec);
  CHECK(spec->command == std::vector<std::string>{"/usr/bin/python3", "solution.py"});
  CHECK(spec->env == std::map<std::string, std::string>{{"LANG", "C.UTF-8"}});
  CHECK(spec->workdir == "/work");
  CHECK(spec->hostname == "gaol");
  CHECK(spec->network == Network::kNone);
  CHECK_FALSE(spec->rootfs);
  REQUIRE(spec->mounts.size() == 2);
  CHECK(spec->mounts[0] ==
        MountSpec{
            .type = MountType::kBind, .source = "/srv/task", .target = "/work", .read_only = true});
  CHECK(spec->mounts[1] ==
        MountSpec{.type = MountType::kTmpfs, .target = "/tmp", .size_bytes = 67108864});
  CHECK(spec->limits.wall_time_limit_seconds == 5.0);
  CHECK(spec->limits.output_limit_bytes == 1048576u);
  CHECK_FALSE(spec->stdin_path);
  CHECK_FALSE(spec->stdout_path);
  CHECK(ValidateSpec(*spec));
  // The example's resource limits parse too.
  json with_limits = json::parse(text);
  with_limits["limits"]["memory_bytes"] = 268435456;
  with_limits["limits"]["pids"] = 64;
  with_limits["limits"]["cpus"] = 1.0;
  with_limits["limits"]["time_limit_seconds"] = 2.0;
  auto limited = SpecFromJson(with_limits);
  REQUIRE(limited);
  CHECK(limited->limits.memory_bytes == 268435456u);
  CHECK(limited->limits.pids == 64u);
  CHECK(limited->limits.cpus == 1.0);
  CHECK(limited->limits.time_limit_seconds == 2.0);
  // And its security block.
  json with_security = json::parse(text);
  with_security["security"] = {
      {"seccomp", "strict"}, {"capabilities", json::array()}, {"apparmor", nullptr}};
  auto secured = SpecFromJson(with_security);
  REQUIRE(secured);
  CHECK(secured->seccomp == "strict");
  CHECK(secured->landlock);
  CHECK_FALSE(secured->apparmor);
  CHECK(ValidateSpec(*secured));
  with_security["security"]["seccomp"] = "nosuch";
  auto unknown = SpecFromJson(with_security);
  REQUIRE(unknown);
  auto invalid = ValidateSpec(*unknown);
  REQUIRE_FALSE(invalid);
  CHECK(invalid.error().Message().find("security.seccomp") != std::string::npos);
  with_security["security"]["landlok"] = true;
  CheckRejected(with_security, "security.landlok");
}

TEST_CASE("Only command is required, a missing schema or null fields take defaults", "[spec]") {
  auto spec = SpecFromJsonText(R"({"command": ["true"], "workdir": null, "limits": null})");
  REQUIRE(spec);
  JobSpec expected;
  expected.command = {"true"};
  CHECK(*spec == expected);
  auto empty = SpecFromJsonText("{}");
  REQUIRE(empty);
  CHECK(*empty == JobSpec{});
}

TEST_CASE("Integers built in C++ (not parsed from text) are accepted", "[spec]") {
  // nlohmann stores a C++ int as a signed integer; it is still a non-negative integer.
  json j = {{"command", {"true"}}, {"uid", 5}, {"limits", {{"output_limit_bytes", 100}}}};
  auto spec = SpecFromJson(j);
  REQUIRE(spec);
  CHECK(spec->uid == 5u);
  CHECK(spec->limits.output_limit_bytes == 100u);
  CheckRejected(json{{"uid", -5}}, "uid");
}

struct BadField {
  std::string pointer;  // JSON pointer into FullSpec's JSON
  json value;
  std::string path;  // what the error must name
};

TEST_CASE("A field of the wrong type is an error naming its path", "[spec]") {
  const std::vector<BadField> cases = {
      {"/schema", 1, "schema"},
      {"/command", "ls", "command"},
      {"/command", json{"ls", 1}, "command"},
      {"/env", json::array(), "env"},
      {"/env", json{{"LANG", 1}}, "env.LANG"},
      {"/clear_env", "yes", "clear_env"},
      {"/workdir", 1, "workdir"},
      {"/hostname", true, "hostname"},
      {"/network", 1, "network"},
      {"/network", "bridge", "network"},
      {"/share", "ipc", "share"},
      {"/share", json{"net"}, "share"},
      {"/share", json{1}, "share"},
      {"/uid", -1, "uid"},
      {"/uid", 1.5, "uid"},
      {"/uid", "0", "uid"},
      {"/uid", 4294967296ULL, "uid"},
      {"/gid", json::array(), "gid"},
      {"/map_users", "manual", "map_users"},
      {"/map_users", 5, "map_users"},
      {"/map_users", json{1}, "map_users[0]"},
      {"/map_users", json{{{"inside", 0}, {"outside", 1}}}, "map_users[0].count"},
      {"/map_groups/1/inside", "0", "map_groups[1].inside"},
      {"/map_groups/0/outside", -1, "map_groups[0].outside"},
      {"/map_groups/0/count", 4294967296ULL, "map_groups[0].count"},
      {"/rootfs", 5, "rootfs"},
      {"/read_only", 1, "read_only"},
      {"/chroot", "no", "chroot"},
      {"/mounts", json::object(), "mounts"},
      {"/mounts/1", 5, "mounts[1]"},
      {"/mounts/1/target", 5, "mounts[1].target"},
      {"/mounts/0/source", json::array(), "mounts[0].source"},
      {"/mounts/0/read_only", "ro", "mounts[0].read_only"},
      {"/mounts/1/size_bytes", "64m", "mounts[1].size_bytes"},
      {"/mounts/1/size_bytes", -1, "mounts[1].size_bytes"},
      {"/mounts/1/type", "overlay", "mounts[1].type"},
      {"/mounts/0/type", 3, "mounts[0].type"},
      {"/limits", json::array(), "limits"},
      {"/limits/wall_time_limit_seconds", "5s", "limits.wall_time_limit_seconds"},
      {"/limits/wall_time_limit_seconds", 0, "limits.wall_time_limit_seconds"},
      {"/limits/wall_time_limit_seconds", -1.5, "limits.wall_time_limit_seconds"},
      {"/limits/output_limit_bytes", -5, "limits.output_limit_bytes"},
      {"/limits/output_limit_bytes", 1.5, "limits.output_limit_bytes"},
      {"/ulimits", json::array(), "ulimits"},
      {"/ulimits/nofile", 5, "ulimits.nofile"},
      {"/ulimits/nofile/soft", "x", "ulimits.nofile.soft"},
      {"/ulimits/nofile/hard", -1, "ulimits.nofile.hard"},
      {"/ulimits/nofile", json{{"soft", 1}}, "ulimits.nofile"},
      {"/stdin", 0, "stdin"},
      {"/stdout", false, "stdout"},
      {"/stderr", json::array(), "stderr"},
  };
  const json base = SpecToJson(FullSpec());
  REQUIRE(SpecFromJson(base));
  for (const auto& c : cases) {
    json j = base;
    j[json::json_pointer(c.pointer)] = c.value;
    CheckRejected(j, c.path);
  }
}

TEST_CASE("An unknown key, top-level or nested, is an error naming it", "[spec]") {
  const std::vector<BadField> cases = {
      {"/memory", "256m", "memory"},
      {"/limits/memory_limit", 1, "limits.memory_limit"},
      {"/limits/cpu_seconds", 2.0, "limits.cpu_seconds"},
      {"/mounts/0/size_bytes", 1, "mounts[0].size_bytes"},  // a bind has no size
      {"/mounts/1/source", "/x", "mounts[1].source"},       // a tmpfs has no source
      {"/mounts/1/read_only", true, "mounts[1].read_only"},
      {"/mounts/2/mode", "1777", "mounts[2].mode"},
      {"/ulimits/bogus", json{{"soft", 1}, {"hard", 1}}, "ulimits.bogus"},
      {"/ulimits/nofile/extra", 1, "ulimits.nofile.extra"},
      {"/map_groups/0/extra", 1, "map_groups[0].extra"},
  };
  const json base = SpecToJson(FullSpec());
  for (const auto& c : cases) {
    json j = base;
    j[json::json_pointer(c.pointer)] = c.value;
    CheckRejected(j, c.path);
  }
}

TEST_CASE("A schema other than gaol.spec/v1 is refused", "[spec]") {
  json j = SpecToJson(FullSpec());
  for (const char* schema : {"gaol.spec/v2", "", "gaol.result/v1"}) {
    j["schema"] = schema;
    CheckRejected(j, "schema");
    CHECK_THAT(SpecFromJson(j).error().Message(), Contains("gaol.spec/v1"));
  }
}

TEST_CASE("Text that is not JSON, or not an object, is refused", "[spec]") {
  for (const char* text : {"", "{", "{\"command\": [\"true\"],}", "command: true", "{'a': 1}"}) {
    INFO(text);
    auto spec = SpecFromJsonText(text);
    REQUIRE_FALSE(spec);
    CHECK(spec.error().step == Step::kValidate);
    CHECK_THAT(spec.error().Message(), Contains("spec") && Contains("expected valid JSON"));
  }
  for (const char* text : {"[]", "1", "\"spec\"", "null"}) {
    INFO(text);
    auto spec = SpecFromJsonText(text);
    REQUIRE_FALSE(spec);
    CHECK_THAT(spec.error().Message(), Contains("expected a JSON object"));
  }
}

}  // namespace
}  // namespace gaol
