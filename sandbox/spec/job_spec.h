// JobSpec: the whole job as plain data. The CLI, the spec file and (later) the server all build
// this struct; nothing downstream reads flags. It round-trips to JSON (schema gaol.spec/v1).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/common/error.h"

namespace gaol {

inline constexpr const char* kSpecSchema = "gaol.spec/v1";

enum class MountType { kBind, kTmpfs };

struct MountSpec {
  MountType type = MountType::kBind;
  std::string source;  // bind: a host path
  std::string target;  // absolute path inside the sandbox
  bool read_only = false;
  std::optional<std::uint64_t> size_bytes;  // tmpfs only
  bool operator==(const MountSpec&) const = default;
};

// One range of an ID map: `count` IDs from `inside` map to `outside` on the host.
struct IdRange {
  std::uint32_t inside = 0;
  std::uint32_t outside = 0;
  std::uint32_t count = 0;
  bool operator==(const IdRange&) const = default;
};

// --map-users / --map-groups: nothing, "auto" (the caller's /etc/subuid range), or explicit ranges.
struct IdMapSpec {
  bool automatic = false;
  std::vector<IdRange> ranges;
  bool Empty() const { return !automatic && ranges.empty(); }
  bool operator==(const IdMapSpec&) const = default;
};

struct RlimitSpec {
  std::uint64_t soft = 0;  // RLIM_INFINITY for "unlimited"
  std::uint64_t hard = 0;
  bool operator==(const RlimitSpec&) const = default;
};

// io.max for one block device; unset rates are unlimited.
struct DeviceIoSpec {
  std::string path;  // the block device on the host, e.g. /dev/sda
  std::optional<std::uint64_t> read_bps, write_bps, read_iops, write_iops;
  bool operator==(const DeviceIoSpec&) const = default;
};

struct LimitsSpec {
  std::optional<double> wall_time_limit_seconds;
  std::optional<std::uint64_t> output_limit_bytes;
  std::optional<double> time_limit_seconds;        // CPU time of the whole job
  std::optional<std::uint64_t> memory_bytes;       // memory.max (RLIMIT_AS without cgroup)
  std::optional<std::uint64_t> memory_swap_bytes;  // memory + swap, as Docker; default: no swap
  std::optional<std::uint64_t> pids;               // pids.max (RLIMIT_NPROC without cgroup)
  std::optional<double> cpus;                      // cpu.max, in CPUs
  std::optional<std::uint64_t> cpu_weight;         // cpu.weight, 1-10000
  std::optional<std::string> cpuset_cpus;          // cpuset.cpus, "0-1,3"
  std::vector<DeviceIoSpec> devices;               // io.max
  bool operator==(const LimitsSpec&) const = default;
};

// Namespaces the job shares with the caller instead of getting its own.
struct ShareSpec {
  bool ipc = false;
  bool uts = false;
  bool pid = false;
  bool cgroup = false;
  // The field for "ipc", "uts", "pid" or "cgroup"; nullptr for any other name.
  bool* Find(std::string_view name);
  bool operator==(const ShareSpec&) const = default;
};

enum class Network { kNone, kHost };

struct JobSpec {
  std::vector<std::string> command;
  std::map<std::string, std::string> env;  // added to the minimal environment
  bool clear_env = false;                  // start from an empty environment instead
  std::string workdir = "/";
  std::string hostname = "gaol";
  Network network = Network::kNone;
  ShareSpec share;
  std::optional<std::uint32_t> uid;  // inside; default: the caller's own
  std::optional<std::uint32_t> gid;
  IdMapSpec map_users;
  IdMapSpec map_groups;
  std::optional<std::string> rootfs;  // default: the host view
  bool read_only = true;              // the root itself
  bool chroot = false;                // chroot instead of pivot_root (weaker)
  std::vector<MountSpec> mounts;
  LimitsSpec limits;
  std::map<std::string, RlimitSpec> ulimits;  // Docker's names: nofile, nproc, core, ...
  std::vector<std::string> capabilities;      // kept; default none (Docker's names)
  // A built-in profile's name, a profile file (a path with a `/`), or "unconfined".
  std::string seccomp = "default";
  bool landlock = true;                      // writes only where a writable mount is (Landlock)
  std::optional<std::string> apparmor;       // an admin-loaded profile to switch to at exec
  std::optional<std::string> cgroup_parent;  // a delegated cgroup v2 directory
  bool require_cgroup = false;               // fail instead of falling back to rlimits
  std::optional<std::string> stdin_path;     // null: /dev/null; "-": gaol's own stdin
  std::optional<std::string> stdout_path;    // null: gaol's own stdout
  std::optional<std::string> stderr_path;    // null: gaol's own stderr
  bool operator==(const JobSpec&) const = default;
};

nlohmann::json SpecToJson(const JobSpec& spec);
// Strict: an unknown key or a value of the wrong type is an error naming the field.
Result<JobSpec> SpecFromJson(const nlohmann::json& json);
Result<JobSpec> SpecFromJsonText(const std::string& text);

// Cross-field rules and value ranges; the CLI and the spec reader both end here.
Status ValidateSpec(const JobSpec& spec);

// Docker's ulimit names.
const std::map<std::string, int>& UlimitResources();

}  // namespace gaol
