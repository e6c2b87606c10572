// `gaol run`'s resource flags to JobSpec: --memory/-m, --memory-swap, --pids-limit, --cpus,
// --cpu-weight, --cpuset-cpus, --time-limit, --cgroup-parent and --require-cgroup. Parsed as
// build_spec_test.cc does (flags_fixture.h: a `run` subcommand under a CLI11 app, then BuildSpec).
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/cli/run_flags.h"
#include "tests/unit/flags_fixture.h"

namespace gaol::cli {
namespace {

using Catch::Matchers::Contains;
using testing::Build;
using testing::BuildError;
using testing::RunCli;
using testing::TempDir;

constexpr std::uint64_t kMiB = 1ULL << 20;

TEST_CASE("Resource flags: none given leaves every limit unset", "[flags][resources]") {
  JobSpec s = Build({"--", "true"});
  CHECK(s.limits == LimitsSpec{});
  CHECK_FALSE(s.cgroup_parent);
  CHECK_FALSE(s.require_cgroup);
}

TEST_CASE("Resource flags: each lands in its field", "[flags][resources]") {
  JobSpec s =
      Build({"--memory",         "256m", "--memory-swap",   "1g",
             "--pids-limit",     "64",   "--cpus",          "1.5",
             "--cpu-weight",     "200",  "--cpuset-cpus",   "0-1,3",
             "--time-limit",     "2s",   "--cgroup-parent", "/sys/fs/cgroup/user.slice/gaol",
             "--require-cgroup", "--",   "/bin/true",       "-x"});
  CHECK(s.limits.memory_bytes == 256 * kMiB);
  CHECK(s.limits.memory_swap_bytes == 1024 * kMiB);
  CHECK(s.limits.pids == 64u);
  REQUIRE(s.limits.cpus);
  CHECK(*s.limits.cpus == Approx(1.5));
  CHECK(s.limits.cpu_weight == 200u);
  CHECK(s.limits.cpuset_cpus == "0-1,3");
  REQUIRE(s.limits.time_limit_seconds);
  CHECK(*s.limits.time_limit_seconds == Approx(2.0));
  CHECK(s.cgroup_parent == "/sys/fs/cgroup/user.slice/gaol");
  CHECK(s.require_cgroup);
  CHECK(s.command == std::vector<std::string>{"/bin/true", "-x"});
  // Nothing else moved.
  CHECK_FALSE(s.limits.wall_time_limit_seconds);
  CHECK_FALSE(s.limits.output_limit_bytes);
  CHECK(s.ulimits.empty());
}

TEST_CASE("Resource flags: -m is --memory, sizes take Docker's units", "[flags][resources]") {
  CHECK(Build({"-m", "512m", "true"}).limits.memory_bytes == 512 * kMiB);
  CHECK(Build({"-m", "1g", "true"}).limits.memory_bytes == 1024 * kMiB);
  CHECK(Build({"--memory", "1048576", "true"}).limits.memory_bytes == kMiB);
  CHECK(Build({"--memory", "2048k", "true"}).limits.memory_bytes == 2 * kMiB);
  CHECK(Build({"--memory", "1.5g", "true"}).limits.memory_bytes == 1536 * kMiB);
  CHECK(Build({"--memory=64m", "true"}).limits.memory_bytes == 64 * kMiB);
  JobSpec s = Build({"-m", "64m", "--memory-swap", "64m", "true"});
  CHECK(s.limits.memory_bytes == 64 * kMiB);
  CHECK(s.limits.memory_swap_bytes == 64 * kMiB);
}

TEST_CASE("Resource flags: --time-limit and --cpus take decimals", "[flags][resources]") {
  CHECK(*Build({"--time-limit", "500ms", "true"}).limits.time_limit_seconds == Approx(0.5));
  CHECK(*Build({"--time-limit", "1.5", "true"}).limits.time_limit_seconds == Approx(1.5));
  CHECK(*Build({"--time-limit", "2m", "true"}).limits.time_limit_seconds == Approx(120));
  CHECK(*Build({"--cpus", "0.5", "true"}).limits.cpus == Approx(0.5));
  CHECK(*Build({"--cpus", "2", "true"}).limits.cpus == Approx(2));
  CHECK(*Build({"--cpus", "1024", "true"}).limits.cpus == Approx(1024));
  CHECK(Build({"--cpu-weight", "1", "true"}).limits.cpu_weight == 1u);
  CHECK(Build({"--cpu-weight", "10000", "true"}).limits.cpu_weight == 10000u);
  CHECK(Build({"--pids-limit", "1", "true"}).limits.pids == 1u);
  CHECK(Build({"--cpuset-cpus", "3", "true"}).limits.cpuset_cpus == "3");
}

TEST_CASE("Resource flags: a flag's value is one word and the command follows",
          "[flags][resources]") {
  const std::vector<std::string> command = {"/bin/echo", "hi"};
  const std::vector<std::vector<std::string>> cases = {
      {"-m", "64m"},          {"--memory", "64m"},
      {"--pids-limit", "4"},  {"--cpus", "1"},
      {"--cpu-weight", "50"}, {"--cpuset-cpus", "0"},
      {"--time-limit", "1s"}, {"--cgroup-parent", "/sys/fs/cgroup/x"},
      {"--require-cgroup"},
  };
  testing::CheckCommandFollows(cases, command);
}

TEST_CASE("Resource flags: a value the flag cannot parse names the flag", "[flags][resources]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--memory", "lots"}, "--memory"},
      {{"-m", "256x"}, "--memory"},
      {{"--memory", ""}, "--memory"},
      {{"--memory", "-1"}, "--memory"},
      {{"--memory-swap", "1q"}, "--memory-swap"},
      {{"--memory-swap", "-1"}, "--memory-swap"},
      {{"--pids-limit", "0"}, "--pids-limit"},
      {{"--pids-limit", "-1"}, "--pids-limit"},
      {{"--pids-limit", "many"}, "--pids-limit"},
      {{"--pids-limit", "1.5"}, "--pids-limit"},
      {{"--cpus", "0"}, "--cpus"},
      {{"--cpus", "0.0"}, "--cpus"},
      {{"--cpus", "-1"}, "--cpus"},
      {{"--cpus", "2s"}, "--cpus"},
      {{"--cpus", "1m"}, "--cpus"},
      {{"--cpus", "half"}, "--cpus"},
      {{"--cpus", "."}, "--cpus"},
      {{"--cpu-weight", "heavy"}, "--cpu-weight"},
      {{"--cpu-weight", "-5"}, "--cpu-weight"},
      {{"--cpu-weight", "1.5"}, "--cpu-weight"},
      {{"--time-limit", "0"}, "--time-limit"},
      {{"--time-limit", "0ms"}, "--time-limit"},
      {{"--time-limit", "soon"}, "--time-limit"},
      {{"--time-limit", "-2s"}, "--time-limit"},
      {{"--time-limit", "2 s"}, "--time-limit"},
  };
  for (const auto& [args, flag] : cases) {
    std::vector<std::string> all = args;
    all.push_back("--");
    all.push_back("true");
    INFO(args.front() << " " << args.back());
    Error e = BuildError(all);
    CHECK(e.step == Step::kValidate);
    CHECK_THAT(e.Message(), Contains(flag + " `" + args.back() + "`") && Contains("expected"));
  }
}

TEST_CASE("Resource flags: values the spec refuses name the spec field", "[flags][resources]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--memory", "512k"}, "limits.memory_bytes"},
      {{"--memory", "0"}, "limits.memory_bytes"},
      {{"--memory-swap", "1g"}, "limits.memory_swap_bytes"},
      {{"--memory", "1g", "--memory-swap", "512m"}, "limits.memory_swap_bytes"},
      {{"--cpus", "1025"}, "limits.cpus"},
      {{"--cpu-weight", "0"}, "limits.cpu_weight"},
      {{"--cpu-weight", "10001"}, "limits.cpu_weight"},
      {{"--cpuset-cpus", "all"}, "limits.cpuset_cpus"},
      {{"--cpuset-cpus", "0,"}, "limits.cpuset_cpus"},
      {{"--cpuset-cpus", ""}, "limits.cpuset_cpus"},
      {{"--cgroup-parent", "relative/dir"}, "cgroup_parent"},
      {{"--cgroup-parent", "/sys/fs/cgroup/../x"}, "cgroup_parent"},
      {{"--cgroup-parent", ""}, "cgroup_parent"},
  };
  for (const auto& [args, field] : cases) {
    std::vector<std::string> all = args;
    all.push_back("--");
    all.push_back("true");
    INFO(args.front() << " " << args.back());
    CHECK_THAT(BuildError(all).Message(),
               Contains("spec field `" + field + "`") && Contains("expected"));
  }
}

TEST_CASE("Resource flags: --require-cgroup=false and the --spec file", "[flags][resources]") {
  CHECK(Build({"--require-cgroup", "true"}).require_cgroup);
  CHECK_FALSE(Build({"--require-cgroup=false", "true"}).require_cgroup);
  TempDir dir("resource-flags-test");
  std::string spec_file = dir.Write("job.json", R"({
    "command": ["/bin/from-file"],
    "limits": {"memory_bytes": 134217728, "memory_swap_bytes": 268435456, "pids": 32,
               "cpus": 2, "cpu_weight": 300, "cpuset_cpus": "0-3",
               "time_limit_seconds": 4},
    "cgroup_parent": "/sys/fs/cgroup/from-file",
    "require_cgroup": true
  })");
  JobSpec from_file = Build({"--spec", spec_file});
  CHECK(from_file.limits.memory_bytes == 128 * kMiB);
  CHECK(from_file.limits.memory_swap_bytes == 256 * kMiB);
  CHECK(from_file.limits.pids == 32u);
  CHECK(from_file.limits.cpus == 2.0);
  CHECK(from_file.limits.cpu_weight == 300u);
  CHECK(from_file.limits.cpuset_cpus == "0-3");
  CHECK(from_file.limits.time_limit_seconds == 4.0);
  CHECK(from_file.cgroup_parent == "/sys/fs/cgroup/from-file");
  CHECK(from_file.require_cgroup);

  // Flags override the file field by field; what is not given stays the file's.
  JobSpec s = Build({"--spec", spec_file, "-m", "256m", "--memory-swap", "512m", "--pids-limit",
                     "8", "--cgroup-parent", "/sys/fs/cgroup/from-flag", "--require-cgroup=false"});
  CHECK(s.limits.memory_bytes == 256 * kMiB);
  CHECK(s.limits.memory_swap_bytes == 512 * kMiB);
  CHECK(s.limits.pids == 8u);
  CHECK(s.limits.cpus == 2.0);
  CHECK(s.limits.cpu_weight == 300u);
  CHECK(s.limits.cpuset_cpus == "0-3");
  CHECK(s.limits.time_limit_seconds == 4.0);
  CHECK(s.cgroup_parent == "/sys/fs/cgroup/from-flag");
  CHECK_FALSE(s.require_cgroup);
  CHECK(s.command == std::vector<std::string>{"/bin/from-file"});

  // The file's swap with a flag's larger memory: validated together, naming the spec field.
  CHECK_THAT(BuildError({"--spec", spec_file, "-m", "1g"}).Message(),
             Contains("spec field `limits.memory_swap_bytes`"));
}

TEST_CASE("Resource flags: a --spec limit of the wrong type names the file and the field",
          "[flags][resources]") {
  TempDir dir("resource-flags-test");
  std::string bad = dir.Write("bad.json", R"({"command": ["true"], "limits": {"pids": "64"}})");
  CHECK_THAT(BuildError({"--spec", bad}).Message(),
             Contains("--spec `" + bad + "`") && Contains("spec field `limits.pids`"));
  std::string bad_parent = dir.Write("bad2.json", R"({"command": ["true"], "cgroup_parent": 1})");
  CHECK_THAT(BuildError({"--spec", bad_parent}).Message(), Contains("spec field `cgroup_parent`"));
}

}  // namespace
}  // namespace gaol::cli
