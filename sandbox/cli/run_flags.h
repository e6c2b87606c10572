// `gaol run`'s flags: each one has a JobSpec field. Parsing flags and applying them to a spec are
// separate, so --spec FILE can be read first and the flags given override it.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/spec/job_spec.h"

namespace gaol::cli {

struct RunFlags {
  std::string spec_file;
  bool print_spec = false;
  std::string share, network, hostname, rootfs, workdir;
  std::string uid, gid, map_users, map_groups;
  std::vector<std::string> volumes, tmpfs, ulimits, env, env_files;
  std::vector<std::pair<std::string, std::string>> binds, ro_binds;
  bool read_only = true, chroot = false, clear_env = false, interactive = false;
  std::string wall_time_limit, output_limit, time_limit;
  std::string memory, memory_swap, pids_limit, cpus, cpu_weight, cpuset_cpus, cgroup_parent;
  bool require_cgroup = false;
  std::vector<std::string> cap_add, cap_drop, security_opts;
  std::string landlock;
  std::vector<std::string> device_read_bps, device_write_bps, device_read_iops, device_write_iops;
  std::string stdin_path, stdout_path, stderr_path;
  std::string result_path;
  int result_fd = -1;
  std::string metrics_textfile, metrics_push;
  bool quiet = false;
  std::string stop_timeout = "5s";  // grace after the caller's stop signal; not a spec field
  // What follows the flags: CLI11 leaves it in run's remaining() or, after `--`, in the parent's.
  std::vector<std::string> command;
};

void AddRunFlags(CLI::App& run, RunFlags& flags);

// What follows run's flags: CLI11 leaves it in run's remaining() or, after `--`, in the parent's.
std::vector<std::string> CommandAfterFlags(const CLI::App& app, const CLI::App& run);

// The spec from --spec (or the defaults), with every flag given on the command line applied.
Result<JobSpec> BuildSpec(const CLI::App& run, const RunFlags& flags);

// Parsers for the flag syntaxes, exposed for tests.
Result<MountSpec> ParseVolume(const std::string& text);
Result<MountSpec> ParseTmpfs(const std::string& text);
Result<std::pair<std::string, RlimitSpec>> ParseUlimit(const std::string& text);
// Docker's --device-read-bps /dev/sda:1mb (sizes) and --device-read-iops /dev/sda:100 (counts).
Result<std::pair<std::string, std::uint64_t>> ParseDeviceRate(const std::string& flag,
                                                              const std::string& text, bool size);
Result<IdMapSpec> ParseIdMap(const std::string& flag, const std::string& text);
// Docker's env-file format: KEY=VALUE lines, '#' comments, a bare KEY takes the caller's value.
Result<std::vector<std::pair<std::string, std::string>>> ParseEnvFile(const std::string& text,
                                                                      const std::string& path);

}  // namespace gaol::cli
