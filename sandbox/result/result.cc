#include "sandbox/result/result.h"

#include <signal.h>
#include <string.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace gaol {

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kOk:
      return "ok";
    case RunStatus::kNonzeroExit:
      return "nonzero_exit";
    case RunStatus::kSignaled:
      return "signaled";
    case RunStatus::kTimeLimit:
      return "time_limit";
    case RunStatus::kMemoryLimit:
      return "memory_limit";
    case RunStatus::kPidsLimit:
      return "pids_limit";
    case RunStatus::kWallTimeLimit:
      return "wall_time_limit";
    case RunStatus::kOutputLimit:
      return "output_limit";
    case RunStatus::kSeccompViolation:
      return "seccomp_violation";
    case RunStatus::kCancelled:
      return "cancelled";
    case RunStatus::kSetupError:
      return "setup_error";
  }
  return "unknown";
}

RunStatus RunStatusFromName(std::string_view name) {
  for (int s = 0; s <= static_cast<int>(RunStatus::kSetupError); ++s) {
    if (RunStatusName(static_cast<RunStatus>(s)) == name) return static_cast<RunStatus>(s);
  }
  return RunStatus::kSetupError;
}

int RunResult::ExitStatus() const {
  if (status == RunStatus::kSetupError) {
    if (error && error->step == Step::kExec)
      return error->err == ENOENT || error->err == ENOTDIR ? 127 : 126;
    return 125;
  }
  if (exit_code) return *exit_code;
  if (signal) return 128 + *signal;
  return 125;
}

namespace {

nlohmann::json OutputErrorJson(const std::map<std::string, int>& errors) {
  using nlohmann::json;
  if (errors.empty()) return nullptr;
  json out = json::object();
  for (const auto& [stream, err] : errors) {
    out[stream] = {{"errno", ErrnoName(err)}, {"message", std::strerror(err)}};
  }
  return out;
}

}  // namespace

nlohmann::json ResultToJson(const RunResult& r) {
  using nlohmann::json;
  json steps = json::object();
  for (const auto& [step, seconds] : r.launch_steps) steps[std::string(StepName(step))] = seconds;
  json error = nullptr;
  if (r.error) {
    error = {{"step", StepName(r.error->step)},
             {"errno", r.error->err ? json(r.error->ErrnoName()) : json(nullptr)},
             {"message", r.error->Message()}};
  }
  json signal = nullptr, signal_name = nullptr;
  if (r.signal) {
    signal = *r.signal;
    const char* abbrev = sigabbrev_np(*r.signal);
    signal_name = abbrev ? json(std::string("SIG") + abbrev) : json(nullptr);
  }
  return {
      {"schema", kResultSchema},
      {"status", RunStatusName(r.status)},
      {"exit_code", r.exit_code ? json(*r.exit_code) : json(nullptr)},
      {"signal", signal},
      {"signal_name", signal_name},
      {"wall_time_seconds", r.wall_time_seconds},
      {"cpu_time_seconds", r.cpu_time_seconds},
      {"user_time_seconds", r.user_time_seconds},
      {"system_time_seconds", r.system_time_seconds},
      {"peak_memory_bytes", r.peak_memory_bytes},
      {"oom_killed", r.oom_killed},
      {"pids_peak", r.pids_peak ? json(*r.pids_peak) : json(nullptr)},
      {"output_truncated", r.output_truncated},
      {"stdout_bytes", r.stdout_bytes},
      {"stderr_bytes", r.stderr_bytes},
      {"output_error", OutputErrorJson(r.output_error)},
      {"wall_time_kill_latency_seconds", r.wall_time_kill_latency_seconds},
      {"enforcement", r.enforcement},
      {"warnings", r.warnings},
      {"landlock", r.landlock_abi < 0
                       ? json(nullptr)
                       : json{{"abi", r.landlock_abi}, {"enforced", r.landlock_abi > 0}}},
      {"seccomp",
       r.seccomp_profile
           ? json{{"profile", *r.seccomp_profile},
                  {"syscall", r.seccomp_syscall ? json(*r.seccomp_syscall) : json(nullptr)},
                  {"arch", r.seccomp_arch ? json(*r.seccomp_arch) : json(nullptr)}}
           : json(nullptr)},
      {"accounting", r.accounting},
      {"systemd_scope", r.systemd_scope.empty() ? json(nullptr) : json(r.systemd_scope)},
      {"peak_memory_source", r.peak_memory_source},
      {"launch",
       {{"total_seconds", r.launch_total_seconds},
        {"steps", steps},
        {"prebuilt", r.prebuilt_build_seconds ? json{{"build_seconds", *r.prebuilt_build_seconds}}
                                              : json(nullptr)}}},
      {"error", error}};
}

}  // namespace gaol
