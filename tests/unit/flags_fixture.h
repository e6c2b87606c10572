// `gaol run ARGS...` for flag tests: parsed as main.cc does (a `run` subcommand under a CLI11
// app; what follows run's flags is the command), then BuildSpec. Also a temporary directory for
// spec and env files.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/cli/run_flags.h"
#include "sandbox/common/error.h"
#include "sandbox/spec/job_spec.h"

namespace gaol::testing {

class RunCli {
 public:
  RunCli() {
    app_.allow_extras();
    run_ = app_.add_subcommand("run");
    cli::AddRunFlags(*run_, flags_);
  }
  Result<JobSpec> Build(std::vector<std::string> args) {
    args.insert(args.begin(), "run");
    std::reverse(args.begin(), args.end());  // CLI11 takes a vector last argument first
    app_.parse(args);
    flags_.command = cli::CommandAfterFlags(app_, *run_);
    return cli::BuildSpec(*run_, flags_);
  }
  const cli::RunFlags& flags() const { return flags_; }

 private:
  CLI::App app_{"gaol"};
  CLI::App* run_ = nullptr;
  cli::RunFlags flags_;
};

// The spec `gaol run ARGS...` builds; the test fails if it builds none.
inline JobSpec Build(std::vector<std::string> args) {
  RunCli cli;
  auto spec = cli.Build(std::move(args));
  INFO((spec ? std::string() : spec.error().Message()));
  REQUIRE(spec);
  return *spec;
}

// The error `gaol run ARGS...` gives; the test fails if it builds a spec.
inline Error BuildError(std::vector<std::string> args) {
  RunCli cli;
  auto spec = cli.Build(std::move(args));
  REQUIRE_FALSE(spec);
  return spec.error();
}

// A directory /tmp/gaol-<tag>-XXXXXX, removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::string tmpl = "/tmp/gaol-" + tag + "-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string Write(const std::string& name, const std::string& content) const {
    std::string path = path_ + "/" + name;
    std::ofstream(path) << content;
    return path;
  }

 private:
  std::string path_;
};

// Each flag (with its value) followed by `command`: the command must come out whole, never
// taken as one more value of the flag.
inline void CheckCommandFollows(const std::vector<std::vector<std::string>>& flags,
                                const std::vector<std::string>& command) {
  for (const auto& flag : flags) {
    std::vector<std::string> args = flag;
    args.insert(args.end(), command.begin(), command.end());
    INFO(flag.front());
    RunCli cli;
    auto spec = cli.Build(args);
    CHECK((spec ? spec->command : std::vector<std::string>{spec.error().Message()}) == command);
  }
}

}  // namespace gaol::testing
