// gaol serve's request reading and the operator's policy: defaults, ceilings, allowances, inline
// files, base64 and UTF-8.
#include <algorithm>
#include <catch2/catch.hpp>
#include <tuple>

#include "sandbox/serve/request.h"
#include "sandbox/serve/server.h"

namespace {

using gaol::serve::Policy;
using nlohmann::json;

gaol::Result<gaol::serve::RunRequest> Parse(const json& body, const Policy& p = Policy::BuiltIn()) {
  return gaol::serve::ParseRunRequest(body.dump(), p);
}

std::string ErrorOf(const json& body, const Policy& p = Policy::BuiltIn()) {
  auto r = Parse(body, p);
  REQUIRE_FALSE(r);
  return r.error().Message();
}

Policy FromJson(const json& j) {
  auto p = gaol::serve::PolicyFromJson(j);
  REQUIRE(p);
  return *p;
}

}  // namespace

TEST_CASE("Serve request: built-in defaults bound time, memory, processes and output", "[serve]") {
  auto r = Parse({{"command", {"/bin/true"}}});
  REQUIRE(r);
  CHECK(r->spec.limits.wall_time_limit_seconds == 10.0);
  CHECK(r->spec.limits.time_limit_seconds == 10.0);
  CHECK(r->spec.limits.output_limit_bytes == 1u << 20);
  CHECK(r->spec.limits.memory_bytes == 1u << 30);
  CHECK(r->spec.limits.pids == 256u);
  // And ceilings over each: a request cannot lift them past what a shared host can afford.
  for (const char* field : {"memory_bytes", "pids", "time_limit_seconds", "wall_time_limit_seconds",
                            "output_limit_bytes"}) {
    INFO(field);
    CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"limits", {{field, 1000000000000ULL}}}}),
               Catch::Contains(std::string("limits.") + field) && Catch::Contains("ceiling"));
  }
  // No workdir named: an empty tmpfs of the job's own at /work (the pool's shape); a workdir the
  // request names without files is the root's own directory.
  CHECK(r->spec.workdir == "/work");
  CHECK(r->workdir_tmpfs);
  auto named = Parse({{"command", {"/bin/true"}}, {"workdir", "/tmp"}});
  REQUIRE(named);
  CHECK(named->spec.workdir == "/tmp");
  CHECK_FALSE(named->workdir_tmpfs);
  named->job_name = "job-1";
  auto back = gaol::serve::RequestFromJson(gaol::serve::RequestToJson(*named));
  REQUIRE(back);
  CHECK_FALSE(back->workdir_tmpfs);
  // What the request gives wins over a default, up to the ceiling.
  r = Parse({{"command", {"/bin/true"}}, {"limits", {{"wall_time_limit_seconds", 30}}}});
  REQUIRE(r);
  CHECK(r->spec.limits.wall_time_limit_seconds == 30.0);
  CHECK(r->spec.limits.output_limit_bytes == 1u << 20);
}

TEST_CASE("Serve request: a limit over the ceiling names the field; an omitted one takes it",
          "[serve]") {
  Policy p = FromJson({{"ceilings", {{"memory_bytes", 1 << 28}, {"pids", 32}, {"cpus", 1.5}}}});
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"limits", {{"memory_bytes", 1 << 29}}}}, p),
             Catch::Contains("limits.memory_bytes") && Catch::Contains("ceiling"));
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"limits", {{"cpus", 2.0}}}}, p),
             Catch::Contains("limits.cpus"));
  auto r = Parse({{"command", {"/bin/true"}}}, p);
  REQUIRE(r);
  CHECK(r->spec.limits.memory_bytes == 1u << 28);
  CHECK(r->spec.limits.pids == 32u);
  CHECK(r->spec.limits.cpus == 1.5);
  auto e = Parse({{"command", {"/bin/true"}}, {"limits", {{"pids", 64}}}}, p);
  REQUIRE_FALSE(e);
  CHECK(e.error().context == "policy");  // counted as over_limits, not a bad request
}

TEST_CASE("Serve request: host-touching fields need the operator's allowance", "[serve]") {
  for (const auto& [field, value] : std::vector<std::pair<std::string, json>>{
           {"rootfs", "/srv/root"},
           {"cgroup_parent", "/sys/fs/cgroup/x"},
           {"stdout", "/tmp/out"},
           {"stderr", "/tmp/err"},
           {"network", "host"},
           {"share", {"pid"}},
       }) {
    json body = {{"command", {"/bin/true"}}, {field, value}};
    CHECK_THAT(ErrorOf(body), Catch::Contains("`" + field + "`"));
  }
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"security", {{"capabilities", {"CHOWN"}}}}}),
             Catch::Contains("security.capabilities"));
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"security", {{"seccomp", "/etc/x.json"}}}}),
             Catch::Contains("security.seccomp"));
  CHECK(Parse({{"command", {"/bin/true"}}, {"security", {{"seccomp", "strict"}}}}));
  json bind = {{"command", {"/bin/true"}},
               {"mounts", {{{"type", "bind"}, {"source", "/usr/share"}, {"target", "/d"}}}}};
  CHECK_THAT(ErrorOf(bind), Catch::Contains("mounts[0].source"));
  Policy p = FromJson({{"allow", {{"bind_sources", {"/usr"}}, {"network_host", true}}}});
  CHECK(Parse(bind, p));
  CHECK(Parse({{"command", {"/bin/true"}}, {"network", "host"}}, p));
  // Beneath means beneath: /usrx is not under /usr.
  json sibling = {{"command", {"/bin/true"}},
                  {"mounts", {{{"type", "bind"}, {"source", "/usr/../etc"}, {"target", "/d"}}}}};
  CHECK_THAT(ErrorOf(sibling, p), Catch::Contains("mounts[0].source"));
}

TEST_CASE("Serve request: inline files are checked, decoded and placed in /work", "[serve]") {
  auto r = Parse({{"command", {"/bin/true"}},
                  {"files",
                   {{{"path", "a/b.txt"}, {"content", "hi"}},
                    {{"path", "bin"}, {"content", "AAEC"}, {"encoding", "base64"}, {"mode", 493}}}},
                  {"collect", {"out.txt"}}});
  REQUIRE(r);
  CHECK(r->spec.workdir == "/work");
  REQUIRE(r->files.size() == 2);
  CHECK(r->files[1].content == std::string("\0\1\2", 3));
  CHECK(r->files[1].mode == 0755);
  CHECK(r->collect == std::vector<std::string>{"out.txt"});
  for (const char* path : {"/abs", "../up", "a/../b", "a//b", ".", ""}) {
    CHECK_THAT(
        ErrorOf({{"command", {"/bin/true"}}, {"files", {{{"path", path}, {"content", ""}}}}}),
        Catch::Contains("files[0].path"));
  }
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"collect", {"../x"}}}),
             Catch::Contains("collect[0]"));
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}},
                      {"files", {{{"path", "x"}, {"content", "!!"}, {"encoding", "base64"}}}}}),
             Catch::Contains("files[0].content"));
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}}, {"files", {{{"path", "x"}, {"body", ""}}}}}),
             Catch::Contains("files[0].body"));
  CHECK_THAT(ErrorOf({{"command", {"/bin/true"}},
                      {"workdir", "/"},
                      {"files", {{{"path", "x"}, {"content", ""}}}}}),
             Catch::Contains("`workdir`"));
  Policy small = FromJson({{"ceilings", {{"files_bytes", 4}}}});
  CHECK_THAT(
      ErrorOf({{"command", {"/bin/true"}}, {"files", {{{"path", "x"}, {"content", "12345"}}}}},
              small),
      Catch::Contains("files_bytes"));
  // stdin names one of the placed files.
  CHECK(Parse({{"command", {"/bin/cat"}},
               {"stdin", "in.txt"},
               {"files", {{{"path", "in.txt"}, {"content", "x"}}}}}));
  CHECK_THAT(ErrorOf({{"command", {"/bin/cat"}}, {"stdin", "/etc/shadow"}}),
             Catch::Contains("`stdin`"));
}

TEST_CASE("Serve request: limits files are read strictly", "[serve]") {
  auto error = [](const json& j) {
    auto p = gaol::serve::PolicyFromJson(j);
    REQUIRE_FALSE(p);
    return p.error().Message();
  };
  CHECK_THAT(error({{"ceiling", {}}}), Catch::Contains("`ceiling`"));
  CHECK_THAT(error({{"ceilings", {{"memory", 1}}}}), Catch::Contains("ceilings.memory"));
  CHECK_THAT(error({{"ceilings", {{"pids", -1}}}}), Catch::Contains("ceilings.pids"));
  CHECK_THAT(error({{"defaults", {{"limits", {{"memroy_bytes", 1}}}}}}),
             Catch::Contains("memroy_bytes"));
  CHECK_THAT(error({{"defaults", {{"command", {"x"}}}}}), Catch::Contains("defaults"));
  CHECK_THAT(error({{"defaults", {{"limits", {{"pids", 100}}}}}, {"ceilings", {{"pids", 10}}}}),
             Catch::Contains("defaults.limits.pids"));
  CHECK_THAT(error({{"allow", {{"bind_sources", {"relative"}}}}}), Catch::Contains("bind_sources"));
  CHECK_THAT(error({{"allow", {{"root", true}}}}), Catch::Contains("allow.root"));
  // A built-in default over the operator's ceiling is lowered to it, not an error.
  Policy p = FromJson({{"ceilings", {{"wall_time_limit_seconds", 2}}}});
  CHECK(p.defaults["limits"]["wall_time_limit_seconds"] == 2.0);
}

TEST_CASE("Serve request: base64 and UTF-8 round trips", "[serve]") {
  using gaol::serve::Base64Decode;
  using gaol::serve::Base64Encode;
  for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"),
                        std::string("foob"), std::string("\0\xff\x10", 3)}) {
    CHECK(Base64Decode(Base64Encode(s)) == s);
  }
  CHECK(Base64Encode("foobar") == "Zm9vYmFy");
  CHECK_FALSE(Base64Decode("Zm9"));
  CHECK_FALSE(Base64Decode("Zm=v"));
  CHECK_FALSE(Base64Decode("Zm9v!A=="));
  using gaol::serve::BytesToJson;
  CHECK(BytesToJson("héllo ✓")["content"] == "héllo ✓");
  CHECK_FALSE(BytesToJson("héllo").contains("encoding"));
  for (std::string bad : {std::string("\xff"), std::string("\xc0\x80"), std::string("\xed\xa0\x80"),
                          std::string("\xe2\x82"), std::string("\xf4\x90\x80\x80")}) {
    CHECK(BytesToJson(bad)["encoding"] == "base64");
  }
}

TEST_CASE("Serve: the metrics' figures come back from a runner's result JSON", "[serve]") {
  json result = {{"status", "time_limit"},
                 {"wall_time_seconds", 1.5},
                 {"cpu_time_seconds", 1.0},
                 {"peak_memory_bytes", 4096},
                 {"launch", {{"total_seconds", 0.002}, {"steps", {{"clone", 0.0005}}}}},
                 {"error", nullptr}};
  auto r = gaol::serve::FiguresFromJson(result);
  CHECK(r.status == gaol::RunStatus::kTimeLimit);
  CHECK(r.wall_time_seconds == 1.5);
  CHECK(r.peak_memory_bytes == 4096);
  CHECK(r.launch_steps.at(gaol::Step::kClone) == 0.0005);
  CHECK_FALSE(r.error);
  auto failed = gaol::serve::FiguresFromJson(
      {{"status", "setup_error"}, {"error", {{"step", "pivot_root"}, {"message", "x"}}}});
  CHECK(failed.status == gaol::RunStatus::kSetupError);
  REQUIRE(failed.error);
  CHECK(failed.error->step == gaol::Step::kPivotRoot);
}

TEST_CASE("Serve request: every spec field is classified; an unclassified one would be refused",
          "[serve]") {
  // SpecToJson writes every field of a JobSpec; each must have its gate in request.cc.
  auto gates = gaol::serve::SpecFieldGates();
  auto classified = [&](const std::string& path) {
    return std::find(gates.begin(), gates.end(), path) != gates.end();
  };
  json spec = gaol::SpecToJson(gaol::JobSpec{});
  for (const auto& [key, value] : spec.items()) {
    if (key == "limits" || key == "security") {
      for (const auto& [inner, v] : value.items()) {
        INFO(key << "." << inner);
        CHECK(classified(key + "." + inner));
      }
    } else {
      INFO(key);
      CHECK(classified(key));
    }
  }
}

TEST_CASE("Serve request: fields that weaken the sandbox are 403 until allowed", "[serve]") {
  json base = {{"command", {"/bin/true"}}};
  struct Case {
    json body;
    std::string field, allow;
  };
  for (const Case& c : std::vector<Case>{
           {{{"limits", {{"memory_swap_bytes", 1 << 30}}}}, "limits.memory_swap_bytes", "swap"},
           {{{"limits", {{"cpu_weight", 500}}}}, "limits.cpu_weight", "cpu_weight"},
           {{{"limits", {{"cpuset_cpus", "0"}}}}, "limits.cpuset_cpus", "cpuset"},
           {{{"limits", {{"devices", {{{"path", "/dev/sda"}, {"read_bps", 1000}}}}}}},
            "limits.devices",
            "devices"},
           {{{"security", {{"apparmor", "gaol-default"}}}}, "security.apparmor", "apparmor"},
           {{{"security", {{"landlock", false}}}}, "security.landlock", "landlock_off"},
           {{{"chroot", true}}, "chroot", "chroot"},
           {{{"map_users", "auto"}}, "map_users", "map_users"},
       }) {
    json body = base;
    body.update(c.body);
    INFO(body.dump());
    auto refused = Parse(body);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().context == "policy");  // 403, not 400
    CHECK_THAT(refused.error().Message(),
               Catch::Contains("`" + c.field + "`") && Catch::Contains("allow." + c.allow));
    Policy p = FromJson({{"allow", {{c.allow, true}}}});
    auto allowed = Parse(body, p);
    INFO((allowed ? "" : allowed.error().Message()));
    CHECK(allowed);
  }
  // Left at what omitting them gives, they need nothing.
  CHECK(Parse({{"command", {"/bin/true"}},
               {"security", {{"landlock", true}, {"seccomp", "default"}}},
               {"chroot", false},
               {"network", "none"}}));
}

TEST_CASE("Serve request: ulimits and tmpfs sizes stay under the ceilings", "[serve]") {
  json base = {{"command", {"/bin/true"}}};
  // The built-in ceilings: 8 GiB of memory, 4096 processes, 600 s of CPU.
  for (const auto& [name, over, under] :
       std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>>{
           {"as", 16ULL << 30, 1ULL << 30},
           {"data", 16ULL << 30, 1ULL << 30},
           {"rss", 16ULL << 30, 1ULL << 30},
           {"memlock", 16ULL << 30, 65536},
           {"nproc", 5000, 100},
           {"cpu", 601, 60},
       }) {
    INFO(name);
    json body = base;
    body["ulimits"][name] = {{"soft", under}, {"hard", over}};
    auto refused = Parse(body);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().context == "policy");
    CHECK_THAT(refused.error().Message(),
               Catch::Contains("ulimits." + name) && Catch::Contains("ceiling"));
    body["ulimits"][name] = {{"soft", under}, {"hard", under}};
    CHECK(Parse(body));
  }
  // A ulimit no ceiling speaks of is the request's own (under gaol's own limit).
  CHECK(Parse({{"command", {"/bin/true"}}, {"ulimits", {{"core", {{"soft", 0}, {"hard", 0}}}}}}));
  Policy p = FromJson({{"ceilings", {{"memory_bytes", 1 << 28}}}});
  json tmpfs = {{"command", {"/bin/true"}},
                {"mounts", {{{"type", "tmpfs"}, {"target", "/scratch"}, {"size_bytes", 1 << 29}}}}};
  CHECK_THAT(ErrorOf(tmpfs, p), Catch::Contains("mounts[0].size_bytes"));
  tmpfs["mounts"][0]["size_bytes"] = 1 << 27;
  CHECK(Parse(tmpfs, p));
}

TEST_CASE("Serve request: a bind source is judged by its text and carries its allowed root",
          "[serve]") {
  Policy p = FromJson({{"allow", {{"bind_sources", {"/srv/data", "/"}}}}});
  Policy narrow = FromJson({{"allow", {{"bind_sources", {"/srv/data"}}}}});
  auto bind = [](const std::string& source) {
    return json{{"command", {"/bin/true"}},
                {"mounts", {{{"type", "bind"}, {"source", source}, {"target", "/d"}}}}};
  };
  auto r = Parse(bind("/srv/data/set1"), narrow);
  REQUIRE(r);
  CHECK(r->bind_roots == std::vector<std::string>{"/srv/data"});
  CHECK(Parse(bind("/srv/data"), narrow));
  for (const char* bad : {"/srv/data/../../etc", "/srv/data/./x", "/srv/data//x", "/srv/datax",
                          "srv/data/x", "/srv/data/x/.."}) {
    INFO(bad);
    CHECK_THAT(ErrorOf(bind(bad), narrow), Catch::Contains("mounts[0].source"));
  }
  // The round trip to the runner keeps them.
  r->job_name = "job-1";
  auto again = gaol::serve::RequestFromJson(gaol::serve::RequestToJson(*r));
  REQUIRE(again);
  CHECK(again->bind_roots == r->bind_roots);
  CHECK(Parse(bind("/etc"), p));
}
