// Cross-field rules and value ranges. Pure but for gaol's own rlimits: no file system access (that
// is the host check's job, still before anything is created).
#include <fmt/format.h>
#include <sys/resource.h>

#include <set>

#include "sandbox/seccomp/profile.h"
#include "sandbox/spec/job_spec.h"
#include "sandbox/spec/paths.h"
#include "sandbox/spec/units.h"

namespace gaol {
namespace {

Status ValidateMounts(const JobSpec& spec) {
  std::set<std::string> targets;
  for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
    const MountSpec& m = spec.mounts[i];
    std::string name = fmt::format("spec field `mounts[{}]", i);
    if (!IsCleanAbsolutePath(m.target) || m.target == "/") {
      return Invalid(
          name + ".target`",
          fmt::format("an absolute path other than / without . or .. (got \"{}\")", m.target));
    }
    if (m.target == "/proc" || m.target.starts_with("/proc/")) {
      return Invalid(name + ".target`", fmt::format("a path outside /proc (got \"{}\")", m.target));
    }
    if (!targets.insert(m.target).second) {
      return Invalid(name + ".target`",
                     fmt::format("one mount per target (\"{}\" is given twice)", m.target));
    }
    if (m.type == MountType::kBind && !IsCleanAbsolutePath(m.source)) {
      return Invalid(name + ".source`",
                     fmt::format("an absolute host path (got \"{}\")", m.source));
    }
    if (m.type == MountType::kBind && m.size_bytes) {
      return Invalid(name + ".size_bytes`", "no size on a bind mount");
    }
    if (m.type == MountType::kTmpfs && m.size_bytes && *m.size_bytes == 0) {
      return Invalid(name + ".size_bytes`", "a size above 0");
    }
  }
  return {};
}

bool ValidHostname(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
  }
  return true;
}

Status ValidateIdMap(const IdMapSpec& map, const char* field) {
  for (std::size_t i = 0; i < map.ranges.size(); ++i) {
    const IdRange& r = map.ranges[i];
    if (r.count == 0 || std::uint64_t{r.inside} + r.count > (1ULL << 32) - 1 ||
        std::uint64_t{r.outside} + r.count > (1ULL << 32) - 1) {
      return Invalid(fmt::format("spec field `{}[{}]`", field, i),
                     "a range of at least one ID that stays below 4294967295");
    }
  }
  return {};
}

Status ValidateProcess(const JobSpec& spec) {
  if (spec.command.empty() || spec.command[0].empty()) {
    return Invalid("command", "a command to run (gaol run [OPTIONS] -- COMMAND [ARG...])");
  }
  // execve would see each argument cut at its first NUL: the job would run something else than
  // the spec says.
  for (std::size_t i = 0; i < spec.command.size(); ++i) {
    if (spec.command[i].find('\0') != std::string::npos)
      return Invalid(fmt::format("spec field `command[{}]`", i), "a string without NUL");
  }
  if (!IsCleanAbsolutePath(spec.workdir)) {
    return Invalid("spec field `workdir`",
                   fmt::format("an absolute path without . or .. (got \"{}\")", spec.workdir));
  }
  if (!ValidHostname(spec.hostname)) {
    return Invalid("spec field `hostname`",
                   fmt::format("1 to 64 letters, digits, '-' or '.' (got \"{}\")", spec.hostname));
  }
  for (const auto& [key, value] : spec.env) {
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos ||
        value.find('\0') != std::string::npos) {
      return Invalid(fmt::format("spec field `env.{}`", key),
                     "a name without '=' and a value without NUL");
    }
  }
  for (auto [id, field] : {std::pair{spec.uid, "uid"}, {spec.gid, "gid"}}) {
    if (id && *id == UINT32_MAX)
      return Invalid(fmt::format("spec field `{}`", field), "an ID from 0 to 4294967294");
  }
  for (const auto& [name, limit] : spec.ulimits) {
    if (!UlimitResources().count(name)) {
      return Invalid(fmt::format("spec field `ulimits.{}`", name),
                     "a ulimit name (nofile, nproc, core, ...)");
    }
    if (limit.soft > limit.hard) {
      return Invalid(fmt::format("spec field `ulimits.{}`", name),
                     "a soft limit not above the hard limit");
    }
    // Below this the kernel cannot lay out a program at all: the exec would fail past its point
    // of no return and the job die of SIGSEGV, a verdict it never earned. Refused as bad input.
    constexpr std::uint64_t kLayoutFloor = 1ULL << 20;
    if ((name == "as" || name == "data" || name == "stack") && limit.soft < kLayoutFloor) {
      return Invalid(fmt::format("spec field `ulimits.{}` ({})", name, limit.soft),
                     "at least 1 MiB (1048576): a smaller one cannot hold a program's exec");
    }
    // Only the initial user namespace's CAP_SYS_RESOURCE raises a hard limit: above gaol's own,
    // setrlimit would fail in the sandbox, after every namespace exists. Refused here instead.
    rlimit own = {};
    if (getrlimit(UlimitResources().at(name), &own) == 0 && own.rlim_max != RLIM_INFINITY &&
        limit.hard > own.rlim_max) {
      return Invalid(fmt::format("spec field `ulimits.{}` ({})", name, limit.hard),
                     fmt::format("a hard limit of at most {} (gaol's own hard limit)",
                                 static_cast<unsigned long long>(own.rlim_max)));
    }
  }
  return {};
}

// "0-1,3": comma-separated CPUs and ascending ranges, as cpuset.cpus takes them.
bool ValidCpuList(const std::string& list) {
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string item = list.substr(start, end - start);
    std::size_t dash = item.find('-');
    auto first = ParseU32(item.substr(0, dash));
    auto last = dash == std::string::npos ? first : ParseU32(item.substr(dash + 1));
    if (!first || !last || *first > *last) return false;
    start = end + 1;
  }
  return true;
}

Status ValidateResources(const JobSpec& spec) {
  const LimitsSpec& l = spec.limits;
  if (l.memory_bytes && *l.memory_bytes < (1ULL << 20)) {
    return Invalid("spec field `limits.memory_bytes`", "at least 1 MiB (1m)");
  }
  if (l.memory_swap_bytes && (!l.memory_bytes || *l.memory_swap_bytes < *l.memory_bytes)) {
    return Invalid("spec field `limits.memory_swap_bytes`",
                   "memory plus swap, at least the memory limit (and a memory limit with it)");
  }
  // PID_MAX_LIMIT: no more processes can exist at once.
  if (l.pids && (*l.pids == 0 || *l.pids > 4194304)) {
    return Invalid("spec field `limits.pids`", "from 1 to 4194304");
  }
  // cpu.max takes a quota of at least 1 ms per 100 ms period (Docker's minimum, too).
  if (l.cpus && (*l.cpus < 0.01 || *l.cpus > 1024)) {
    return Invalid("spec field `limits.cpus`", "from 0.01 to 1024 CPUs");
  }
  for (auto [value, field] : {std::pair{&l.time_limit_seconds, "time_limit_seconds"},
                              {&l.wall_time_limit_seconds, "wall_time_limit_seconds"}}) {
    if (*value && !(**value > 0 && **value <= 1e6)) {
      return Invalid(fmt::format("spec field `limits.{}`", field),
                     "seconds above 0, at most 1000000");
    }
  }
  if (l.cpu_weight && (*l.cpu_weight < 1 || *l.cpu_weight > 10000)) {
    return Invalid("spec field `limits.cpu_weight`", "a weight from 1 to 10000");
  }
  if (l.cpuset_cpus && !ValidCpuList(*l.cpuset_cpus)) {
    return Invalid("spec field `limits.cpuset_cpus`",
                   fmt::format("a CPU list such as 0-1,3 (got \"{}\")", *l.cpuset_cpus));
  }
  for (std::size_t i = 0; i < l.devices.size(); ++i) {
    const DeviceIoSpec& d = l.devices[i];
    std::string field = fmt::format("spec field `limits.devices[{}]`", i);
    if (!IsCleanAbsolutePath(d.path))
      return Invalid(field, fmt::format("an absolute device path (got \"{}\")", d.path));
    bool any = false;
    for (const auto* rate : {&d.read_bps, &d.write_bps, &d.read_iops, &d.write_iops}) {
      if (*rate && **rate == 0) return Invalid(field, "rates above 0");
      any = any || rate->has_value();
    }
    if (!any) return Invalid(field, "at least one of read_bps, write_bps, read_iops, write_iops");
  }
  if (spec.cgroup_parent && !IsCleanAbsolutePath(*spec.cgroup_parent)) {
    return Invalid(
        "spec field `cgroup_parent`",
        fmt::format("an absolute path to a cgroup v2 directory (got \"{}\")", *spec.cgroup_parent));
  }
  return {};
}

Status ValidateSecurity(const JobSpec& spec) {
  const std::string& p = spec.seccomp;
  if (p != "unconfined" && p.find('/') == std::string::npos && !seccomp::BuiltinProfile(p)) {
    return Invalid(fmt::format("spec field `security.seccomp` (\"{}\")", p),
                   fmt::format("a built-in profile ({}), a profile file's path (with a `/`), or "
                               "\"unconfined\"",
                               fmt::join(seccomp::BuiltinProfileNames(), ", ")));
  }
  if (spec.apparmor && (spec.apparmor->empty() || spec.apparmor->find('\n') != std::string::npos)) {
    return Invalid("spec field `security.apparmor`", "the name of a loaded AppArmor profile");
  }
  return {};
}

}  // namespace

Status ValidateSpec(const JobSpec& spec) {
  if (auto s = ValidateResources(spec); !s) return s;
  if (auto s = ValidateSecurity(spec); !s) return s;
  if (auto s = ValidateProcess(spec); !s) return s;
  if (spec.rootfs && !IsCleanAbsolutePath(*spec.rootfs)) {
    return Invalid("spec field `rootfs`",
                   fmt::format("an absolute host path (got \"{}\")", *spec.rootfs));
  }
  if (spec.limits.output_limit_bytes && *spec.limits.output_limit_bytes == 0) {
    return Invalid("spec field `limits.output_limit_bytes`", "a size above 0");
  }
  if (auto s = ValidateIdMap(spec.map_users, "map_users"); !s) return s;
  if (auto s = ValidateIdMap(spec.map_groups, "map_groups"); !s) return s;
  for (auto [path, field] : {std::pair{&spec.stdin_path, "stdin"},
                             {&spec.stdout_path, "stdout"},
                             {&spec.stderr_path, "stderr"}}) {
    if (*path && (*path)->empty())
      return Invalid(fmt::format("spec field `{}`", field), "a file path");
  }
  return ValidateMounts(spec);
}

}  // namespace gaol
