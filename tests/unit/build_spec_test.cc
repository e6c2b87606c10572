// `gaol run` flags to JobSpec: every flag lands in its field, --spec is read first and the flags
// override it.
#include <stdlib.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <iterator>
#include <string>
#include <vector>

#include "sandbox/cli/commands.h"
#include "sandbox/cli/run_flags.h"
#include "tests/unit/flags_fixture.h"

namespace gaol::cli {

namespace {

using Catch::Matchers::Contains;
using testing::Build;
using testing::BuildError;
using testing::RunCli;
using testing::TempDir;

TEST_CASE("A command alone gives the default spec", "[flags][build_spec]") {
  JobSpec expected;
  expected.command = {"/bin/echo", "hi", "--not-a-flag"};
  CHECK(Build({"--", "/bin/echo", "hi", "--not-a-flag"}) == expected);
  // Without `--`, everything after the command is the command's too.
  CHECK(Build({"/bin/echo", "hi", "--not-a-flag"}) == expected);
}

TEST_CASE("argc/argv parse the same way", "[flags][build_spec]") {
  CLI::App app{"gaol"};
  app.allow_extras();
  RunFlags flags;
  CLI::App* run = app.add_subcommand("run");
  AddRunFlags(*run, flags);
  const char* argv[] = {"gaol", "run", "--hostname", "box", "-w", "/work", "--", "/bin/true", "-x"};
  app.parse(static_cast<int>(std::size(argv)), argv);
  flags.command = CommandAfterFlags(app, *run);
  auto spec = BuildSpec(*run, flags);
  REQUIRE(spec);
  CHECK(spec->hostname == "box");
  CHECK(spec->workdir == "/work");
  CHECK(spec->command == std::vector<std::string>{"/bin/true", "-x"});
}

TEST_CASE("Namespace and ID flags", "[flags][build_spec]") {
  JobSpec s = Build({"--share", "net,ipc,uts,pid,cgroup", "--", "true"});
  CHECK(s.network == Network::kHost);
  CHECK(s.share == ShareSpec{.ipc = true, .uts = true, .pid = true, .cgroup = true});
  s = Build({"--share", "pid", "--", "true"});
  CHECK(s.share == ShareSpec{.pid = true});
  CHECK(s.network == Network::kNone);
  CHECK(Build({"--network", "host", "true"}).network == Network::kHost);
  CHECK(Build({"--network", "none", "true"}).network == Network::kNone);
  CHECK(Build({"--hostname", "judge-7", "true"}).hostname == "judge-7");
  s = Build({"--uid", "0", "--gid", "65534", "true"});
  CHECK(s.uid == 0u);
  CHECK(s.gid == 65534u);
  s = Build({"--map-users", "auto", "--map-groups", "1:100000:10", "true"});
  CHECK(s.map_users == IdMapSpec{.automatic = true});
  CHECK(s.map_groups == IdMapSpec{.ranges = {{1, 100000, 10}}});
}

TEST_CASE("Filesystem flags", "[flags][build_spec]") {
  JobSpec s = Build({"--rootfs", "/srv/root", "-v", "/a:/b:ro", "--volume", "/c:/d", "--bind", "/e",
                     "/f", "--ro-bind", "/g", "/h", "--tmpfs", "/scratch:size=1m", "-w", "/b",
                     "--chroot", "--", "true"});
  CHECK(s.rootfs == "/srv/root");
  CHECK(s.workdir == "/b");
  CHECK(s.chroot);
  CHECK(s.read_only);
  CHECK(s.mounts ==
        std::vector<MountSpec>{
            {.type = MountType::kBind, .source = "/a", .target = "/b", .read_only = true},
            {.type = MountType::kBind, .source = "/c", .target = "/d"},
            {.type = MountType::kBind, .source = "/e", .target = "/f"},
            {.type = MountType::kBind, .source = "/g", .target = "/h", .read_only = true},
            {.type = MountType::kTmpfs, .target = "/scratch", .size_bytes = 1 << 20},
        });
  CHECK(Build({"--workdir", "/w", "true"}).workdir == "/w");
  CHECK_FALSE(Build({"--read-only=false", "true"}).read_only);
  CHECK(Build({"--read-only", "true"}).read_only);
  CHECK_FALSE(Build({"true"}).chroot);
}

TEST_CASE("Limit flags", "[flags][build_spec]") {
  JobSpec s = Build({"--wall-time-limit", "500ms", "--output-limit", "64k", "--ulimit",
                     "nofile=64:128", "--ulimit", "core=unlimited", "--", "true"});
  CHECK(s.limits.wall_time_limit_seconds == Approx(0.5));
  CHECK(s.limits.output_limit_bytes == 65536u);
  CHECK(s.ulimits == std::map<std::string, RlimitSpec>{{"nofile", {64, 128}},
                                                       {"core", {RLIM_INFINITY, RLIM_INFINITY}}});
}

TEST_CASE("Environment flags", "[flags][build_spec]") {
  TempDir dir("build-spec-test");
  std::string env_file = dir.Write("job.env", "# job\nFROM_FILE=1\nA=file\n");
  ::setenv("GAOL_TEST_CALLER_VAR", "from caller", 1);
  ::unsetenv("GAOL_TEST_NOT_SET");
  JobSpec s = Build({"-e", "A=1=2", "--env", "B=", "-e", "GAOL_TEST_CALLER_VAR", "-e",
                     "GAOL_TEST_NOT_SET", "--env-file", env_file, "--clear-env", "--", "true"});
  CHECK(s.clear_env);
  // -e wins over --env-file.
  CHECK(s.env ==
        std::map<std::string, std::string>{
            {"A", "1=2"}, {"B", ""}, {"FROM_FILE", "1"}, {"GAOL_TEST_CALLER_VAR", "from caller"}});
  CHECK_FALSE(Build({"true"}).clear_env);
}

TEST_CASE("I/O flags", "[flags][build_spec]") {
  JobSpec s = Build({"--stdin", "/in", "--stdout", "/out", "--stderr", "/err", "true"});
  CHECK(s.stdin_path == "/in");
  CHECK(s.stdout_path == "/out");
  CHECK(s.stderr_path == "/err");
  CHECK(Build({"-i", "true"}).stdin_path == "-");
  CHECK(Build({"--interactive", "true"}).stdin_path == "-");
  CHECK(Build({"-i", "--stdin", "/in", "true"}).stdin_path == "/in");
  CHECK_FALSE(Build({"true"}).stdin_path);
}

TEST_CASE("A repeatable flag takes one value and what follows is the command",
          "[flags][build_spec]") {
  // `gaol run -e A=1 python3 x.py` as with docker run: the command is not a second value of -e.
  TempDir dir("build-spec-test");
  std::string env_file = dir.Write("job.env", "B=2\n");
  const std::vector<std::string> command = {"/bin/echo", "hi"};
  const std::vector<std::vector<std::string>> cases = {
      {"-e", "A=1"},         {"--env", "A=1"},          {"-v", "/a:/b"},
      {"--volume", "/a:/b"}, {"--bind", "/a", "/b"},    {"--ro-bind", "/a", "/b"},
      {"--tmpfs", "/t"},     {"--ulimit", "nofile=64"}, {"--env-file", env_file},
  };
  testing::CheckCommandFollows(cases, command);
}

TEST_CASE("Reporting flags set RunFlags and leave the spec alone", "[flags][build_spec]") {
  RunCli cli;
  auto spec =
      cli.Build({"--result", "-", "--result-fd", "7", "-q", "--print-spec", "--", "/bin/true"});
  REQUIRE(spec);
  JobSpec expected;
  expected.command = {"/bin/true"};
  CHECK(*spec == expected);
  CHECK(cli.flags().result_path == "-");
  CHECK(cli.flags().result_fd == 7);
  CHECK(cli.flags().quiet);
  CHECK(cli.flags().print_spec);
}

TEST_CASE("The --spec file is read first and the flags override it", "[flags][build_spec]") {
  TempDir dir("build-spec-test");
  std::string spec_file = dir.Write("job.json", R"({
    "schema": "gaol.spec/v1",
    "command": ["/bin/from-file", "x"],
    "env": {"A": "file", "KEEP": "1"},
    "hostname": "fromfile",
    "read_only": false,
    "mounts": [{"type": "tmpfs", "target": "/cache"}],
    "limits": {"wall_time_limit_seconds": 9}
  })");
  JobSpec from_file = Build({"--spec", spec_file});
  CHECK(from_file.command == std::vector<std::string>{"/bin/from-file", "x"});
  CHECK(from_file.hostname == "fromfile");
  CHECK_FALSE(from_file.read_only);
  CHECK(from_file.limits.wall_time_limit_seconds == 9.0);

  JobSpec s = Build({"--spec", spec_file, "--hostname", "flag", "-e", "A=flag", "-v", "/x:/y",
                     "--read-only", "--", "/bin/cmd", "arg"});
  CHECK(s.command == std::vector<std::string>{"/bin/cmd", "arg"});
  CHECK(s.hostname == "flag");
  CHECK(s.read_only);
  CHECK(s.env == std::map<std::string, std::string>{{"A", "flag"}, {"KEEP", "1"}});
  CHECK(s.mounts == std::vector<MountSpec>{
                        {.type = MountType::kTmpfs, .target = "/cache"},
                        {.type = MountType::kBind, .source = "/x", .target = "/y"},
                    });
  CHECK(s.limits.wall_time_limit_seconds == 9.0);  // not given as a flag: the file's
}

TEST_CASE("A bad --spec file names the file and the field", "[flags][build_spec]") {
  TempDir dir("build-spec-test");
  std::string bad_field = dir.Write("bad.json", R"({"command": ["true"], "hostname": 5})");
  CHECK_THAT(BuildError({"--spec", bad_field}).Message(),
             Contains("--spec `" + bad_field + "`") && Contains("spec field `hostname`"));
  std::string not_json = dir.Write("bad2.json", "{");
  CHECK_THAT(BuildError({"--spec", not_json}).Message(),
             Contains("--spec") && Contains("valid JSON"));
  CHECK_THAT(BuildError({"--spec", "/nonexistent/gaol/job.json"}).Message(),
             Contains("--spec `/nonexistent/gaol/job.json`") && Contains("expected"));
  CHECK_THAT(BuildError({"--env-file", "/nonexistent/gaol/job.env", "true"}).Message(),
             Contains("--env-file") && Contains("expected"));
  // Flags are checked against the file's values too.
  std::string no_command = dir.Write("empty.json", "{}");
  CHECK_THAT(BuildError({"--spec", no_command}).Message(), Contains("command"));
}

TEST_CASE("A bad flag value names the flag and what was expected", "[flags][build_spec]") {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--share", "net,bogus"}, "--share"},
      {{"--network", "bridge"}, "--network"},
      {{"--uid", "x"}, "--uid"},
      {{"--uid", "-1"}, "--uid"},
      {{"--gid", "4294967295"}, "--gid"},
      {{"--map-users", "1:2"}, "--map-users"},
      {{"--map-groups", ""}, "--map-groups"},
      {{"-v", "/a"}, "--volume"},
      {{"--tmpfs", "/t:size=0"}, "--tmpfs"},
      {{"--wall-time-limit", "0"}, "--wall-time-limit"},
      {{"--wall-time-limit", "5 s"}, "--wall-time-limit"},
      {{"--output-limit", "0"}, "--output-limit"},
      {{"--output-limit", "lots"}, "--output-limit"},
      {{"--ulimit", "nofile"}, "--ulimit"},
      {{"-e", "=x"}, "--env"},
      {{"-e", ""}, "--env"},
  };
  for (const auto& [args, flag] : cases) {
    std::vector<std::string> all = args;
    all.push_back("--");
    all.push_back("true");
    INFO(args.front() << " " << args.back());
    CHECK_THAT(BuildError(all).Message(), Contains(flag) && Contains("expected"));
  }
  // Values the flag syntax takes but the spec refuses name the spec field.
  CHECK_THAT(BuildError({"-w", "work", "--", "true"}).Message(), Contains("spec field `workdir`"));
  CHECK_THAT(BuildError({"--ulimit", "nofile=10:5", "--", "true"}).Message(),
             Contains("spec field `ulimits.nofile`"));
  CHECK_THAT(BuildError({"--hostname", "a b", "--", "true"}).Message(),
             Contains("spec field `hostname`"));
  CHECK_THAT(BuildError({"--tmpfs", "/proc/x", "--", "true"}).Message(),
             Contains("spec field `mounts[0].target`"));
  CHECK_THAT(BuildError({}).Message(), Contains("command"));
}

TEST_CASE("Malformed and unknown flags are refused", "[flags][build_spec]") {
  RunCli missing_value;
  CHECK_THROWS_AS(missing_value.Build({"--bind", "/only-one"}), CLI::ParseError);
  RunCli not_int;
  CHECK_THROWS_AS(not_int.Build({"--result-fd", "x", "true"}), CLI::ParseError);
  // An unknown flag would start the command: BuildSpec names it.
  CHECK_THAT(BuildError({"--no-such-flag", "true"}).Message(),
             Contains("--no-such-flag") && Contains("expected"));
  CHECK_THAT(BuildError({"--hostname", "x", "-Z", "true"}).Message(), Contains("-Z"));
}

}  // namespace
}  // namespace gaol::cli
