#include "sandbox/plan/plan.h"

#include <fmt/format.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "sandbox/caps/caps.h"
#include "sandbox/seccomp/baked.h"
#include "sandbox/spec/paths.h"

namespace gaol {
namespace {

constexpr std::uint64_t kDefaultTmpfsBytes = 64ULL << 20;
// Docker's PATH; also where a command is searched when the job's environment has no PATH.
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// Files of the host's /etc that programs need and that say nothing about the host's users.
constexpr const char* kHostEtcFiles[] = {
    "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf",
    "/etc/ld.so.conf.d", "/etc/localtime",   "/etc/ssl",
    "/etc/services",     "/etc/protocols",   "/etc/os-release",
};
// With the host's network, name resolution needs these too.
constexpr const char* kHostNetworkEtcFiles[] = {"/etc/resolv.conf", "/etc/gai.conf",
                                                "/etc/host.conf"};
constexpr const char* kHostRootDirs[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                         "/lib32", "/lib64", "/libx32"};

// Targets are clean absolute paths (validated), so depth is the count of '/'.
std::size_t Depth(const std::string& path) {
  return path == "/" ? 0 : static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path == dir ||
         (path.size() > dir.size() && path.starts_with(dir) && path[dir.size()] == '/');
}

MountOp Tmpfs(std::string target, std::uint32_t mode, std::uint64_t size, bool seal,
              std::string origin) {
  return {.kind = MountOpKind::kTmpfs,
          .target = std::move(target),
          .read_only = seal,
          .size_bytes = size,
          .mode = mode,
          .origin = std::move(origin)};
}

MountOp Symlink(std::string target, std::string link, std::string origin) {
  return {.kind = MountOpKind::kSymlink,
          .source = std::move(link),
          .target = std::move(target),
          .origin = std::move(origin)};
}

MountOp FileOp(std::string target, std::string content) {
  return {.kind = MountOpKind::kFile,
          .source = std::move(content),
          .target = std::move(target),
          .mode = 0644,
          .origin = "host view"};
}

// Bind or re-create the host entry at the same path, read-only.
void AddHostEntry(const HostFacts& facts, const std::string& path, std::vector<MountOp>& ops) {
  const HostEntry* e = facts.Find(path);
  if (!e || e->kind == HostEntry::Kind::kMissing) return;
  if (e->kind == HostEntry::Kind::kSymlink) {
    ops.push_back(Symlink(path, e->link_target, "host view"));
    return;
  }
  ops.push_back({.kind = MountOpKind::kBind,
                 .source = path,
                 .target = path,
                 .read_only = true,
                 .is_file = e->kind == HostEntry::Kind::kFile,
                 .origin = "host view"});
}

void AddEtc(const JobSpec& spec, const Plan& plan, const HostFacts& facts,
            std::vector<MountOp>& ops) {
  ops.push_back(Tmpfs("/etc", 0755, 1 << 20, true, "host view"));
  for (const char* path : kHostEtcFiles) AddHostEntry(facts, path, ops);
  if (spec.network == Network::kHost) {
    for (const char* path : kHostNetworkEtcFiles) AddHostEntry(facts, path, ops);
  }
  std::string passwd = "root:x:0:0:root:/root:/usr/sbin/nologin\n";
  std::string group = "root:x:0:\n";
  if (plan.uid != 0) passwd += fmt::format("gaol:x:{}:{}:gaol:/tmp:/bin/sh\n", plan.uid, plan.gid);
  if (plan.gid != 0) group += fmt::format("gaol:x:{}:\n", plan.gid);
  if (plan.uid != 65534) passwd += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  if (plan.gid != 65534) group += "nogroup:x:65534:\n";
  ops.push_back(FileOp("/etc/passwd", passwd));
  ops.push_back(FileOp("/etc/group", group));
  // Sharing the caller's UTS namespace, the host name is the caller's, not spec.hostname.
  if (!spec.share.uts) ops.push_back(FileOp("/etc/hostname", spec.hostname + "\n"));
  if (spec.network == Network::kNone) {
    std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    if (!spec.share.uts) hosts += fmt::format("127.0.1.1\t{}\n", spec.hostname);
    ops.push_back(FileOp("/etc/hosts", hosts));
  } else {
    AddHostEntry(facts, "/etc/hosts", ops);
  }
  ops.push_back(FileOp("/etc/nsswitch.conf",
                       "passwd: files\ngroup: files\nshadow: files\n"
                       "hosts: files dns\n"));
}

// /proc, a minimal /dev and /tmp: every root gets them.
void AddSystemMounts(std::vector<MountOp>& ops) {
  ops.push_back({.kind = MountOpKind::kProc, .target = "/proc", .origin = "system"});
  ops.push_back(Tmpfs("/dev", 0755, 1 << 20, true, "system"));
  for (const char* dev : {"null", "zero", "full", "random", "urandom", "tty"}) {
    std::string path = fmt::format("/dev/{}", dev);
    ops.push_back({.kind = MountOpKind::kBind,
                   .source = path,
                   .target = path,
                   .is_file = true,
                   .noexec = true,
                   .nodev = false,
                   .origin = "system"});
  }
  ops.push_back(Symlink("/dev/fd", "/proc/self/fd", "system"));
  ops.push_back(Symlink("/dev/stdin", "/proc/self/fd/0", "system"));
  ops.push_back(Symlink("/dev/stdout", "/proc/self/fd/1", "system"));
  ops.push_back(Symlink("/dev/stderr", "/proc/self/fd/2", "system"));
  ops.push_back(Symlink("/dev/ptmx", "pts/ptmx", "system"));
  ops.push_back({.kind = MountOpKind::kDevpts, .target = "/dev/pts", .origin = "system"});
  ops.push_back(Tmpfs("/dev/shm", 01777, kDefaultTmpfsBytes, false, "system"));
  ops.push_back(Tmpfs("/tmp", 01777, kDefaultTmpfsBytes, false, "system"));
}

std::vector<MountOp> PlanMounts(const JobSpec& spec, const Plan& plan, const HostFacts& facts) {
  std::vector<MountOp> defaults;
  if (!spec.rootfs) {
    for (const char* dir : kHostRootDirs) AddHostEntry(facts, dir, defaults);
    AddEtc(spec, plan, facts, defaults);
  }
  AddSystemMounts(defaults);
  // A mount the user asks for replaces the default at that target and everything beneath it.
  std::vector<MountOp> ops;
  for (auto& op : defaults) {
    bool replaced = std::any_of(spec.mounts.begin(), spec.mounts.end(),
                                [&](const MountSpec& m) { return IsUnder(op.target, m.target); });
    if (!replaced) ops.push_back(std::move(op));
  }
  for (const MountSpec& m : spec.mounts) {
    if (m.type == MountType::kTmpfs) {
      ops.push_back(
          Tmpfs(m.target, 01777, m.size_bytes.value_or(kDefaultTmpfsBytes), false, "--tmpfs"));
    } else {
      ops.push_back({.kind = MountOpKind::kBind,
                     .source = m.source,
                     .target = m.target,
                     .read_only = m.read_only,
                     .origin = "--volume"});
    }
  }
  // Parents before children; ties keep their order. Whether a bind is a file is only known for
  // host-view entries here; the child finds out for user binds from the opened source.
  std::stable_sort(ops.begin(), ops.end(), [](const MountOp& a, const MountOp& b) {
    return Depth(a.target) < Depth(b.target);
  });
  if (spec.workdir != "/")
    ops.push_back({.kind = MountOpKind::kDir, .target = spec.workdir, .origin = "--workdir"});
  return ops;
}

Result<IdMapPlan> PlanIdMaps(const JobSpec& spec, const HostFacts& facts, uid_t uid, gid_t gid) {
  IdMapPlan out;
  out.uid_map = FormatIdMapLine(uid, facts.uid, 1);
  out.gid_map = FormatIdMapLine(gid, facts.gid, 1);
  if (spec.map_users.Empty() && spec.map_groups.Empty()) return out;
  out.use_helpers = true;
  struct Side {
    const IdMapSpec& spec;
    const std::vector<IdRange>& sub;
    std::uint32_t inside, outside;
    std::vector<std::string>& args;
    const char* flag;
    const char* file;
  };
  for (Side side : {Side{spec.map_users, facts.subuid, uid, facts.uid, out.newuidmap_args,
                         "--map-users", "/etc/subuid"},
                    Side{spec.map_groups, facts.subgid, gid, facts.gid, out.newgidmap_args,
                         "--map-groups", "/etc/subgid"}}) {
    std::vector<IdRange> ranges = {{side.inside, side.outside, 1}};
    if (side.spec.automatic) {
      if (side.sub.empty()) {
        return Invalid(side.flag, fmt::format("an entry for uid {} in {} (usermod --add-subuids "
                                              "100000-165535 --add-subgids 100000-165535 USER)",
                                              facts.uid, side.file));
      }
      auto more = AutoRanges(side.inside, side.sub);
      ranges.insert(ranges.end(), more.begin(), more.end());
    }
    ranges.insert(ranges.end(), side.spec.ranges.begin(), side.spec.ranges.end());
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      for (std::size_t j = i + 1; j < ranges.size(); ++j) {
        const IdRange &a = ranges[i], &b = ranges[j];
        if (a.inside < b.inside + b.count && b.inside < a.inside + a.count) {
          return Invalid(side.flag,
                         fmt::format("ranges that do not overlap inside (ID {} is mapped twice)",
                                     std::max(a.inside, b.inside)));
        }
      }
    }
    for (const auto& r : ranges) {
      for (auto v : {r.inside, r.outside, r.count}) side.args.push_back(std::to_string(v));
    }
  }
  return out;
}

std::vector<std::string> ExecCandidates(const std::string& command,
                                        const std::vector<std::string>& envp) {
  if (command.find('/') != std::string::npos) return {command};
  std::string path = kDefaultPath;
  for (const auto& kv : envp) {
    if (kv.starts_with("PATH=")) path = kv.substr(5);
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    // An empty or relative PATH entry would search the job's working directory: skip it.
    if (!dir.empty() && dir[0] == '/') out.push_back(dir + "/" + command);
    start = end + 1;
  }
  return out;
}

// Every tmpfs the job gets holds at most its memory limit: under a cgroup its pages are charged
// anyway, but under the rlimit fallback nothing else would count them.
void CapTmpfs(const JobSpec& spec, Plan& plan) {
  if (!spec.limits.memory_bytes) return;
  std::uint64_t cap = *spec.limits.memory_bytes;
  for (MountOp& op : plan.mounts) {
    if (op.kind != MountOpKind::kTmpfs || (op.size_bytes != 0 && op.size_bytes <= cap)) continue;
    bool asked = std::any_of(spec.mounts.begin(), spec.mounts.end(), [&](const MountSpec& m) {
      return m.type == MountType::kTmpfs && m.target == op.target && m.size_bytes;
    });
    if (asked) {
      plan.warnings.push_back(
          fmt::format("tmpfs `{}`: size capped at the memory limit, {} bytes", op.target, cap));
    }
    op.size_bytes = cap;
  }
}

// Each resource limit goes to its cgroup controller when the parent offers it, else to the
// rlimit that comes closest, else nowhere ("none"); the result says which, per limit.
Status PlanResources(const JobSpec& spec, const HostFacts& facts, Plan& plan,
                     std::map<std::string, RlimitSpec>& rlimits) {
  const LimitsSpec& l = spec.limits;
  CgroupPlan& cg = plan.cgroup;
  auto has = [&](const char* controller) {
    return facts.cgroup && facts.cgroup->controllers.count(controller) > 0;
  };
  auto to_cgroup = [&](const char* limit, const char* controller, std::string file,
                       std::string value) {
    cg.controllers.insert(controller);
    cg.limits.emplace_back(std::move(file), std::move(value));
    plan.enforcement[limit] = "cgroup";
  };
  // A --ulimit may tighten the rlimit a limit falls back to, never loosen it: the limit the
  // result reports is the one enforced (and serve's ceilings hold whatever `ulimits` says).
  auto tighten = [&](const char* rlimit, std::uint64_t soft, std::uint64_t hard) {
    auto [it, fresh] = rlimits.try_emplace(rlimit, RlimitSpec{soft, hard});
    if (fresh) return;
    it->second.soft = std::min(it->second.soft, soft);
    it->second.hard = std::min(it->second.hard, hard);
  };
  auto fallback = [&](const char* limit, const char* rlimit, std::uint64_t soft,
                      std::uint64_t hard) {
    plan.enforcement[limit] = rlimit ? "rlimit" : "none";
    if (rlimit) tighten(rlimit, soft, hard);
  };
  if (l.memory_bytes && has("memory")) {
    to_cgroup("memory", "memory", "memory.max", std::to_string(*l.memory_bytes));
    std::uint64_t swap = l.memory_swap_bytes ? *l.memory_swap_bytes - *l.memory_bytes : 0;
    cg.limits.emplace_back("memory.swap.max", std::to_string(swap));
    // The job is one unit: the OOM killer ends all of it at once, never one process chosen by
    // size, which was at times PID 1 (the job then ended with PID 1's status, not its own).
    cg.limits.emplace_back("memory.oom.group", "1");
  } else if (l.memory_bytes) {
    fallback("memory", "as", *l.memory_bytes, *l.memory_bytes);
    plan.warnings.push_back(
        "memory: without a cgroup the limit is RLIMIT_AS, each process's address space; pages of "
        "memfds and shared memory a process no longer maps are not counted (each tmpfs is capped "
        "at the limit)");
  }
  if (l.pids && has("pids")) {
    to_cgroup("pids", "pids", "pids.max", std::to_string(*l.pids));
  } else if (l.pids) {
    // RLIMIT_NPROC counts the uid's processes in the user namespace: PID 1 is one of them.
    fallback("pids", "nproc", *l.pids + 1, *l.pids + 1);
  }
  if (l.cpus && has("cpu")) {
    to_cgroup("cpu", "cpu", "cpu.max", fmt::format("{} 100000", std::llround(*l.cpus * 100000)));
  } else if (l.cpus) {
    fallback("cpu", nullptr, 0, 0);
  }
  if (l.cpu_weight && has("cpu")) {
    to_cgroup("cpu_weight", "cpu", "cpu.weight", std::to_string(*l.cpu_weight));
  } else if (l.cpu_weight) {
    fallback("cpu_weight", nullptr, 0, 0);
  }
  if (l.cpuset_cpus && has("cpuset")) {
    to_cgroup("cpuset", "cpuset", "cpuset.cpus", *l.cpuset_cpus);
  } else if (l.cpuset_cpus) {
    fallback("cpuset", nullptr, 0, 0);
  }
  for (const DeviceIoSpec& d : l.devices) {
    auto numbers = facts.block_devices.find(d.path);
    if (!has("io") || numbers == facts.block_devices.end()) {
      fallback("io", nullptr, 0, 0);
      continue;
    }
    auto rate = [](const std::optional<std::uint64_t>& r) {
      return r ? std::to_string(*r) : std::string("max");
    };
    to_cgroup("io", "io", "io.max",
              fmt::format("{} rbps={} wbps={} riops={} wiops={}", numbers->second, rate(d.read_bps),
                          rate(d.write_bps), rate(d.read_iops), rate(d.write_iops)));
  }
  if (l.time_limit_seconds) {
    // RLIMIT_CPU counts whole seconds per process: exact only as the backstop behind cpu.stat.
    auto seconds = static_cast<std::uint64_t>(std::ceil(*l.time_limit_seconds));
    if (facts.cgroup) {
      plan.time_limit_seconds = l.time_limit_seconds;
      plan.enforcement["time_limit"] = "cgroup";
      tighten("cpu", seconds + 1, seconds + 2);
    } else {
      fallback("time_limit", "cpu", seconds, seconds + 1);
    }
  }
  if (facts.cgroup) cg.parent = facts.cgroup;
  bool fell_back = std::any_of(plan.enforcement.begin(), plan.enforcement.end(), [](const auto& e) {
    return e.second == "rlimit" || e.second == "none";
  });
  const std::string& note = facts.cgroup ? facts.cgroup->note : facts.cgroup_note;
  if (fell_back && !note.empty()) plan.warnings.push_back(note);
  if (spec.limits.wall_time_limit_seconds) plan.enforcement["wall_time_limit"] = "supervisor";
  if (spec.limits.output_limit_bytes) plan.enforcement["output_limit"] = "supervisor";
  if (spec.require_cgroup) {
    if (!facts.cgroup) {
      return Invalid("--require-cgroup",
                     "a delegated cgroup v2 (--cgroup-parent DIR, or run "
                     "`gaol check` for how to get one)" +
                         (note.empty() ? "" : "; " + note));
    }
    for (const auto& [limit, how] : plan.enforcement) {
      if (how == "rlimit" || how == "none") {
        return Invalid("--require-cgroup",
                       fmt::format("the cgroup controller for limit `{}` delegated to `{}` "
                                   "(its cgroup.controllers lacks it){}",
                                   limit, facts.cgroup->path, note.empty() ? "" : "; " + note));
      }
    }
  }
  return {};
}

// Writes stay allowed beneath the mounts planned writable (and everywhere on a writable root);
// /proc is not one: its per-process files (mem, attr, oom_score_adj) are refused.
landlock::LandlockPlan PlanLandlock(const Plan& plan, int abi) {
  landlock::LandlockPlan out;
  out.abi = abi;
  out.handled_fs = landlock::WriteRights(abi);
  out.scoped = abi >= 6 ? landlock::kScopeAbstractUnixSocket | landlock::kScopeSignal : 0;
  if (!plan.read_only_root) out.writable.push_back("/");
  for (const MountOp& m : plan.mounts) {
    bool writes = m.kind == MountOpKind::kTmpfs || m.kind == MountOpKind::kBind ||
                  m.kind == MountOpKind::kDevpts;
    if (writes && !m.read_only) out.writable.push_back(m.target);
  }
  return out;
}

// Built-in profiles were compiled at build time; a file is compiled here, for the capabilities
// the job keeps (its includes/excludes) and this kernel (minKernel).
Result<std::optional<seccomp::Filter>> PlanSeccomp(const JobSpec& spec, const HostFacts& facts,
                                                   std::uint64_t keep_caps) {
  if (spec.seccomp == "unconfined") return std::optional<seccomp::Filter>();
  if (!facts.seccomp_file_text && facts.seccomp_notify) {
    if (auto baked = seccomp::BakedBuiltin(spec.seccomp)) return baked;
  }
  std::string_view text = facts.seccomp_file_text ? std::string_view(*facts.seccomp_file_text)
                                                  : seccomp::BuiltinProfile(spec.seccomp).value();
  auto profile = seccomp::ParseProfile(text, spec.seccomp);
  if (!profile) return tl::unexpected(profile.error());
  seccomp::CompileOptions options;
  options.kernel_release = facts.kernel_release;
  options.notify_kills = facts.seccomp_notify;
  for (int cap = 0; cap <= facts.last_cap; ++cap) {
    if (keep_caps & (1ULL << cap)) options.caps.insert("CAP_" + caps::NameOf(cap));
  }
  auto filter = seccomp::Compile(*profile, options);
  if (!filter) return tl::unexpected(filter.error());
  return std::optional<seccomp::Filter>(std::move(*filter));
}

std::vector<RlimitOp> PlanRlimits(std::map<std::string, RlimitSpec> limits) {
  // No core dumps unless asked: the host's core_pattern may hand them to a host-side helper.
  limits.try_emplace("core", RlimitSpec{0, 0});
  std::vector<RlimitOp> out;
  for (const auto& [name, l] : limits) {
    out.push_back({UlimitResources().at(name), l.soft, l.hard, name});
  }
  return out;
}

}  // namespace

const HostEntry* HostFacts::Find(const std::string& path) const {
  for (const auto& e : entries) {
    if (e.path == path) return &e;
  }
  return nullptr;
}

const std::vector<std::string>& HostViewPaths() {
  static const std::vector<std::string> kPaths = [] {
    std::vector<std::string> paths(std::begin(kHostRootDirs), std::end(kHostRootDirs));
    paths.insert(paths.end(), std::begin(kHostEtcFiles), std::end(kHostEtcFiles));
    paths.insert(paths.end(), std::begin(kHostNetworkEtcFiles), std::end(kHostNetworkEtcFiles));
    paths.push_back("/etc/hosts");
    return paths;
  }();
  return kPaths;
}

std::string FormatIdMapLine(std::uint32_t inside, std::uint32_t outside, std::uint32_t count) {
  return fmt::format("{} {} {}\n", inside, outside, count);
}

std::vector<IdRange> AutoRanges(std::uint32_t inside_id, const std::vector<IdRange>& sub) {
  std::vector<IdRange> out;
  std::uint32_t next_inside = 0;
  for (const IdRange& range : sub) {
    std::uint32_t outside = range.outside, left = range.count;
    while (left > 0) {
      if (next_inside == inside_id) ++next_inside;  // taken by the caller's own ID
      std::uint32_t end = next_inside < inside_id ? inside_id : UINT32_MAX;
      std::uint32_t n = std::min<std::uint64_t>(left, std::uint64_t{end} - next_inside);
      if (n == 0) break;
      out.push_back({next_inside, outside, n});
      next_inside += n;
      outside += n;
      left -= n;
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> MinimalEnv(const std::string& hostname) {
  return {{"PATH", kDefaultPath}, {"HOME", "/tmp"}, {"HOSTNAME", hostname}, {"LANG", "C.UTF-8"}};
}

Result<Plan> MakePlan(const JobSpec& spec, const HostFacts& facts) {
  if (auto s = ValidateSpec(spec); !s) return tl::unexpected(s.error());
  Plan plan;
  plan.clone_flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_PIDFD;
  if (!spec.share.pid) plan.clone_flags |= CLONE_NEWPID;
  if (!spec.share.uts) plan.clone_flags |= CLONE_NEWUTS;
  if (!spec.share.ipc) plan.clone_flags |= CLONE_NEWIPC;
  if (!spec.share.cgroup) plan.clone_flags |= CLONE_NEWCGROUP;
  if (spec.network == Network::kNone) plan.clone_flags |= CLONE_NEWNET;
  plan.uid = spec.uid.value_or(facts.uid);
  plan.gid = spec.gid.value_or(facts.gid);
  auto maps = PlanIdMaps(spec, facts, plan.uid, plan.gid);
  if (!maps) return tl::unexpected(maps.error());
  plan.id_map = std::move(*maps);
  plan.rootfs = spec.rootfs;
  plan.read_only_root = spec.read_only;
  plan.chroot = spec.chroot;
  plan.bring_up_lo = spec.network == Network::kNone;
  plan.set_hostname = !spec.share.uts;
  plan.hostname = spec.hostname;
  plan.workdir = spec.workdir;
  plan.mounts = PlanMounts(spec, plan, facts);
  CapTmpfs(spec, plan);
  std::map<std::string, RlimitSpec> rlimits = spec.ulimits;
  if (auto s = PlanResources(spec, facts, plan, rlimits); !s) return tl::unexpected(s.error());
  plan.rlimits = PlanRlimits(std::move(rlimits));
  auto keep = caps::MaskFromNames(spec.capabilities, "capability", facts.last_cap);
  if (!keep) return tl::unexpected(keep.error());
  plan.keep_caps = *keep;
  plan.last_cap = facts.last_cap;
  auto filter = PlanSeccomp(spec, facts, plan.keep_caps);
  if (!filter) return tl::unexpected(filter.error());
  plan.seccomp = std::move(*filter);
  if (spec.landlock) plan.landlock = PlanLandlock(plan, facts.landlock_abi);
  if (spec.apparmor) {
    if (!facts.apparmor) {
      return Invalid(fmt::format("--security-opt apparmor={}", *spec.apparmor),
                     "a kernel with AppArmor enabled (this one has none: "
                     "/sys/module/apparmor/parameters/enabled is not Y)");
    }
    plan.apparmor_exec = "exec " + *spec.apparmor;
  }
  plan.argv = spec.command;
  std::map<std::string, std::string> env;
  if (!spec.clear_env) {
    for (auto& [k, v] : MinimalEnv(spec.hostname)) {
      if (k != "HOSTNAME" || !spec.share.uts) env[k] = v;
    }
  }
  for (const auto& [k, v] : spec.env) env[k] = v;
  for (const auto& [k, v] : env) plan.envp.push_back(k + "=" + v);
  plan.exec_candidates = ExecCandidates(spec.command[0], plan.envp);
  return plan;
}

namespace {

nlohmann::json LandlockToJson(const landlock::LandlockPlan& l) {
  return {{"abi", l.abi},
          {"handled_fs", fmt::format("{:#x}", l.handled_fs)},
          {"scoped", l.scoped},
          {"writable", l.writable}};
}

nlohmann::json SeccompToJson(const std::optional<seccomp::Filter>& f) {
  if (!f) return nullptr;
  return {{"profile", f->profile},
          {"instructions", f->main.size()},
          {"overlay_instructions", f->overlay.size()},
          {"listener", f->listener}};
}

}  // namespace

nlohmann::json PlanToJson(const Plan& plan) {
  using nlohmann::json;
  static constexpr const char* kKinds[] = {"bind",    "tmpfs", "proc", "devpts",
                                           "symlink", "file",  "dir"};
  json mounts = json::array();
  for (const auto& op : plan.mounts) {
    mounts.push_back({{"kind", kKinds[static_cast<int>(op.kind)]},
                      {"source", op.source},
                      {"target", op.target},
                      {"read_only", op.read_only},
                      {"is_file", op.is_file},
                      {"noexec", op.noexec},
                      {"nodev", op.nodev},
                      {"size_bytes", op.size_bytes},
                      {"mode", fmt::format("{:o}", op.mode)},
                      {"origin", op.origin}});
  }
  json rlimits = json::array();
  for (const auto& r : plan.rlimits)
    rlimits.push_back({{"name", r.name}, {"soft", r.soft}, {"hard", r.hard}});
  return {{"clone_flags", fmt::format("{:#x}", plan.clone_flags)},
          {"uid", plan.uid},
          {"gid", plan.gid},
          {"id_map",
           {{"uid_map", plan.id_map.uid_map},
            {"gid_map", plan.id_map.gid_map},
            {"use_helpers", plan.id_map.use_helpers},
            {"newuidmap_args", plan.id_map.newuidmap_args},
            {"newgidmap_args", plan.id_map.newgidmap_args}}},
          {"rootfs", plan.rootfs ? json(*plan.rootfs) : json(nullptr)},
          {"read_only_root", plan.read_only_root},
          {"chroot", plan.chroot},
          {"bring_up_lo", plan.bring_up_lo},
          {"set_hostname", plan.set_hostname},
          {"hostname", plan.hostname},
          {"workdir", plan.workdir},
          {"mounts", mounts},
          {"rlimits", rlimits},
          {"argv", plan.argv},
          {"envp", plan.envp},
          {"exec_candidates", plan.exec_candidates},
          {"cgroup",
           {{"parent", plan.cgroup.parent ? json(plan.cgroup.parent->path) : json(nullptr)},
            {"controllers", plan.cgroup.controllers},
            {"move_self", plan.cgroup.parent && plan.cgroup.parent->move_self},
            {"limits", plan.cgroup.limits}}},
          {"enforcement", plan.enforcement},
          {"warnings", plan.warnings},
          {"keep_caps", fmt::format("{:#x}", plan.keep_caps)},
          {"apparmor_exec", plan.apparmor_exec},
          {"landlock", LandlockToJson(plan.landlock)},
          {"seccomp", SeccompToJson(plan.seccomp)},
          {"time_limit_seconds",
           plan.time_limit_seconds ? json(*plan.time_limit_seconds) : json(nullptr)}};
}

}  // namespace gaol
