// Plan: everything the launch needs, computed once in the parent, pure and deterministic given the
// spec and the host facts. The child then only makes syscalls, reading this plan without
// allocating. Golden-tested (tests/unit/golden/).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sandbox/cgroup/cgroup.h"
#include "sandbox/common/error.h"
#include "sandbox/lsm/landlock.h"
#include "sandbox/seccomp/compile.h"
#include "sandbox/spec/job_spec.h"

namespace gaol {

// What the parent found on the host, gathered before planning (host_facts.cc).
struct HostEntry {
  enum class Kind { kMissing, kDir, kFile, kSymlink };
  std::string path;
  Kind kind = Kind::kMissing;
  std::string link_target;  // kSymlink
};

struct HostFacts {
  uid_t uid = 0;  // the caller
  gid_t gid = 0;
  std::vector<HostEntry> entries;       // the host view's candidates (see HostViewPaths())
  std::vector<IdRange> subuid, subgid;  // the caller's ranges (outside start, count; inside unused)
  std::optional<cgroup::Parent> cgroup;  // where the job's leaf can go; none: rlimit fallback
  std::string cgroup_note;               // without a cgroup: why systemd gave none, when asked
  std::string systemd_scope;             // the scope gaol moved into to get a cgroup, if any
  double scope_seconds = 0;              // how long systemd took to give it
  std::map<std::string, std::string> block_devices;  // --device-*: path -> "MAJOR:MINOR"
  int last_cap = 40;                                 // /proc/sys/kernel/cap_last_cap
  std::optional<std::string> seccomp_file_text;      // the profile file, when one is named
  std::string kernel_release;                        // uname -r (a profile's minKernel)
  bool seccomp_notify = true;                        // the kernel has SECCOMP_RET_USER_NOTIF (5.0+)
  bool apparmor = false;                             // AppArmor is enabled in this kernel
  int landlock_abi = 0;                              // 0: no Landlock
  const HostEntry* Find(const std::string& path) const;
};

// Paths the default host view takes from the host when they exist.
const std::vector<std::string>& HostViewPaths();

enum class MountOpKind : std::uint8_t {
  kBind,    // source (host) onto target; read_only applied before it is attached
  kTmpfs,   // size_bytes, mode; read_only: sealed after everything beneath it is in place
  kProc,    // a fresh procfs (or the host's, when the pid namespace is shared); /proc/sys read-only
  kDevpts,  // a new devpts instance
  kSymlink,  // target -> source
  kFile,     // a file whose content is source
  kDir,      // mkdir -p target
};

struct MountOp {
  MountOpKind kind = MountOpKind::kBind;
  std::string source;
  std::string target;
  bool read_only = false;
  bool is_file = false;  // a bind of a non-directory: its mount point is a file
  bool noexec = false;
  bool nodev = true;             // device nodes work only where this is false (the /dev entries)
  std::uint64_t size_bytes = 0;  // tmpfs; 0: the kernel's default
  std::uint32_t mode = 0755;
  std::string origin;  // where it came from, for error messages: "host view", "--volume", ...
};

struct IdMapPlan {
  std::string uid_map;  // the single mapping, as written to /proc/PID/uid_map
  std::string gid_map;
  bool use_helpers = false;  // ranges: newuidmap/newgidmap with the arguments below (PID first)
  std::vector<std::string> newuidmap_args;
  std::vector<std::string> newgidmap_args;
};

struct RlimitOp {
  int resource = 0;
  std::uint64_t soft = 0, hard = 0;
  std::string name;
};

struct CgroupPlan {
  std::optional<cgroup::Parent> parent;                     // no value: the job gets no cgroup
  std::set<std::string> controllers;                        // to enable for the leaf
  std::vector<std::pair<std::string, std::string>> limits;  // file, value
};

struct Plan {
  std::uint64_t clone_flags = 0;
  uid_t uid = 0;  // inside
  gid_t gid = 0;
  IdMapPlan id_map;
  std::optional<std::string> rootfs;  // host path of the root's base; null: a fresh tmpfs
  bool read_only_root = true;
  bool chroot = false;
  bool bring_up_lo = true;
  bool set_hostname = true;
  std::string hostname;
  std::string workdir;
  std::vector<MountOp> mounts;  // in order
  std::vector<RlimitOp> rlimits;
  std::uint64_t keep_caps = 0;  // capabilities the job keeps (--cap-add); none by default
  int last_cap = 40;
  CgroupPlan cgroup;
  std::optional<seccomp::Filter> seccomp;  // none: unconfined
  std::string apparmor_exec;               // "exec NAME" for /proc/self/attr/apparmor/exec
  landlock::LandlockPlan landlock;         // abi 0: not applied
  // Per limit asked for, what enforces it: "cgroup", "rlimit", "supervisor" or "none".
  std::map<std::string, std::string> enforcement;
  std::optional<double> time_limit_seconds;  // CPU time, checked by the supervisor with a cgroup
  std::vector<std::string> warnings;         // for the caller's stderr and the result
  std::vector<std::string> argv;
  std::vector<std::string> envp;             // "K=V"
  std::vector<std::string> exec_candidates;  // paths to try in order (PATH search done here)
};

Result<Plan> MakePlan(const JobSpec& spec, const HostFacts& facts);
nlohmann::json PlanToJson(const Plan& plan);

// Formatting of ID maps, exposed for tests.
std::string FormatIdMapLine(std::uint32_t inside, std::uint32_t outside, std::uint32_t count);
// The ranges `auto` maps: the subordinate range laid over inside IDs from 0, around `inside_id`
// (which maps to the caller).
std::vector<IdRange> AutoRanges(std::uint32_t inside_id, const std::vector<IdRange>& sub);

// The minimal environment a job gets unless --clear-env.
std::vector<std::pair<std::string, std::string>> MinimalEnv(const std::string& hostname);

}  // namespace gaol
