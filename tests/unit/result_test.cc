// The result JSON (gaol.result/v1) and gaol's exit status.
#include "sandbox/result/result.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace gaol {
namespace {

using nlohmann::json;

RunResult Exited(int code) {
  RunResult r;
  r.status = code == 0 ? RunStatus::kOk : RunStatus::kNonzeroExit;
  r.exit_code = code;
  return r;
}

RunResult SetupError(Step step, int err) {
  RunResult r;
  r.status = RunStatus::kSetupError;
  r.error = Error{step, err, "execve", "/bin/nope", {}};
  return r;
}

TEST_CASE("ResultToJson has every field DESIGN.md names", "[result]") {
  RunResult r = Exited(0);
  r.wall_time_seconds = 0.0031;
  r.cpu_time_seconds = 0.0012;
  r.user_time_seconds = 0.0008;
  r.system_time_seconds = 0.0004;
  r.peak_memory_bytes = 1843200;
  r.pids_peak = 2;
  r.enforcement = {{"wall_time_limit", "supervisor"}, {"output_limit", "supervisor"}};
  r.launch_total_seconds = 0.0011;
  r.launch_steps = {{Step::kPlan, 0.00002}, {Step::kClone, 0.0002}, {Step::kIdMap, 0.00005}};
  json j = ResultToJson(r);
  for (const char* key :
       {"schema", "status", "exit_code", "signal", "wall_time_seconds", "cpu_time_seconds",
        "user_time_seconds", "system_time_seconds", "peak_memory_bytes", "oom_killed", "pids_peak",
        "output_truncated", "enforcement", "launch", "error"}) {
    INFO(key);
    CHECK(j.contains(key));
  }
  CHECK(j["schema"] == "gaol.result/v1");
  CHECK(j["status"] == "ok");
  CHECK(j["exit_code"] == 0);
  CHECK(j["signal"].is_null());
  CHECK(j["wall_time_seconds"] == 0.0031);
  CHECK(j["cpu_time_seconds"] == 0.0012);
  CHECK(j["user_time_seconds"] == 0.0008);
  CHECK(j["system_time_seconds"] == 0.0004);
  CHECK(j["peak_memory_bytes"] == 1843200);
  CHECK(j["oom_killed"] == false);
  CHECK(j["pids_peak"] == 2);
  CHECK(j["output_truncated"] == false);
  CHECK(j["enforcement"] ==
        json{{"wall_time_limit", "supervisor"}, {"output_limit", "supervisor"}});
  CHECK(j["launch"]["total_seconds"] == 0.0011);
  CHECK(j["launch"]["steps"] == json{{"plan", 0.00002}, {"clone", 0.0002}, {"id_map", 0.00005}});
  CHECK(j["error"].is_null());
}

TEST_CASE("Unset figures are null or empty, never made up", "[result]") {
  json j = ResultToJson(RunResult{});
  CHECK(j["exit_code"].is_null());
  CHECK(j["signal"].is_null());
  CHECK(j["pids_peak"].is_null());
  CHECK(j["enforcement"] == json::object());
  CHECK(j["launch"]["steps"] == json::object());
}

TEST_CASE("A signaled run names its signal", "[result]") {
  RunResult r;
  r.status = RunStatus::kSignaled;
  r.signal = SIGKILL;
  json j = ResultToJson(r);
  CHECK(j["status"] == "signaled");
  CHECK(j["signal"] == 9);
  CHECK(j["signal_name"] == "SIGKILL");
  CHECK(j["exit_code"].is_null());
}

TEST_CASE("status strings", "[result]") {
  CHECK(RunStatusName(RunStatus::kOk) == "ok");
  CHECK(RunStatusName(RunStatus::kNonzeroExit) == "nonzero_exit");
  CHECK(RunStatusName(RunStatus::kSignaled) == "signaled");
  CHECK(RunStatusName(RunStatus::kWallTimeLimit) == "wall_time_limit");
  CHECK(RunStatusName(RunStatus::kOutputLimit) == "output_limit");
  CHECK(RunStatusName(RunStatus::kSetupError) == "setup_error");
  RunResult r = Exited(3);
  CHECK(ResultToJson(r)["status"] == "nonzero_exit");
  r.status = RunStatus::kWallTimeLimit;
  CHECK(ResultToJson(r)["status"] == "wall_time_limit");
}

TEST_CASE("A setup error is an object with step, errno and message", "[result]") {
  RunResult r;
  r.status = RunStatus::kSetupError;
  r.error = Error{Step::kPivotRoot, EINVAL, "pivot_root", "/tmp/root", {}};
  json j = ResultToJson(r);
  CHECK(j["status"] == "setup_error");
  REQUIRE(j["error"].is_object());
  CHECK(j["error"].size() == 3);
  CHECK(j["error"]["step"] == "pivot_root");
  CHECK(j["error"]["errno"] == "EINVAL");
  CHECK(j["error"]["message"] == "pivot_root `/tmp/root`: Invalid argument");
  // A bad input carries no errno.
  r.error = Error{Step::kValidate, 0, "--network `x`", "none or host", {}};
  j = ResultToJson(r);
  CHECK(j["error"]["step"] == "validate");
  CHECK(j["error"]["errno"].is_null());
  CHECK(j["error"]["message"] == "--network `x`: expected none or host");
}

TEST_CASE("ExitStatus follows docker run", "[result]") {
  CHECK(Exited(0).ExitStatus() == 0);
  CHECK(Exited(3).ExitStatus() == 3);
  RunResult killed;
  killed.status = RunStatus::kSignaled;
  killed.signal = 9;
  CHECK(killed.ExitStatus() == 137);
  killed.status = RunStatus::kWallTimeLimit;
  CHECK(killed.ExitStatus() == 137);
  CHECK(SetupError(Step::kMounts, EPERM).ExitStatus() == 125);
  CHECK(SetupError(Step::kValidate, 0).ExitStatus() == 125);
  CHECK(SetupError(Step::kExec, ENOENT).ExitStatus() == 127);
  CHECK(SetupError(Step::kExec, ENOTDIR).ExitStatus() == 127);
  CHECK(SetupError(Step::kExec, EACCES).ExitStatus() == 126);
  CHECK(SetupError(Step::kExec, ENOEXEC).ExitStatus() == 126);
  RunResult no_error;  // setup_error without an Error still means gaol failed
  CHECK(no_error.ExitStatus() == 125);
}

}  // namespace
}  // namespace gaol
