#include "sandbox/check/check.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <linux/landlock.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>

#include "sandbox/cgroup/systemd_scope.h"
#include "sandbox/check/check_internal.h"
#include "sandbox/common/unique_fd.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif

namespace gaol::check {
namespace {

std::string ErrnoText(int err) {
  const char* name = strerrorname_np(err);
  return fmt::format("{} ({})", std::strerror(err), name ? name : std::to_string(err));
}

template <class T>
bool ParseNumber(std::string_view s, T* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// A sysctl's value; nullopt when absent (an older kernel), unreadable or not a number.
std::optional<long> ReadSysctl(const std::string& path) {
  long value = 0;
  FileText f = ReadFile(path);
  if (f.err != 0 || !ParseNumber(Trim(f.text), &value)) return std::nullopt;
  return value;
}

User LookUpUser(uid_t uid) {
  std::vector<char> buf(1 << 16);  // far above any passwd line; ERANGE just means "unknown"
  struct passwd pw;
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
    return {std::nullopt, static_cast<gid_t>(uid)};
  }
  return {std::string(pw.pw_name), pw.pw_gid};
}

enum ProbeStep : int { kDropIds = 1, kUnshareUser, kWriteUidMap, kUnshareMount };

constexpr const char* kProbeStepNames[] = {"probe", "setresuid", "unshare(CLONE_NEWUSER)",
                                           "write /proc/self/uid_map",
                                           "unshare(CLONE_NEWNS) inside the new user namespace"};

struct ProbeFailure {
  int step;
  int err;
};

// Runs in the forked child: raw syscalls only, no allocation. Enters a user namespace, maps the
// caller to root in it and uses a capability there (AppArmor's restriction lets unshare succeed
// and denies what follows). Reports the failing step on `report_fd`.
[[noreturn]] void ProbeUserNamespaceInChild(int report_fd, bool drop, uid_t uid, gid_t gid,
                                            const char* uid_map, size_t uid_map_len) {
  int step = 0;
  // Leaving root makes the process non-dumpable, which gives /proc/self to root: undo that.
  if (drop && (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
               ::setresuid(uid, uid, uid) != 0 || ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)) {
    step = kDropIds;
  } else if (::unshare(CLONE_NEWUSER) != 0) {
    step = kUnshareUser;
  } else {
    int fd = ::open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, uid_map, uid_map_len) != static_cast<ssize_t>(uid_map_len)) {
      step = kWriteUidMap;
    } else if (::unshare(CLONE_NEWNS) != 0) {
      step = kUnshareMount;
    }
  }
  if (step == 0) ::_exit(0);
  ProbeFailure failure{step, errno};
  [[maybe_unused]] ssize_t n = ::write(report_fd, &failure, sizeof failure);
  ::_exit(1);
}

struct Probe {
  bool ok = false;
  std::string failed;  // "unshare(CLONE_NEWUSER)", "fork", ...
  int err = 0;
};

// Forks, because entering a user namespace cannot be undone. When this process is root and `uid`
// is not, the child takes `uid`'s ids first, so the answer is the user's, not root's.
Probe ProbeUserNamespace(uid_t uid, gid_t gid) {
  const bool drop = ::geteuid() == 0 && uid != 0;
  const std::string uid_map = fmt::format("0 {} 1\n", drop ? uid : ::geteuid());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {false, "pipe2", errno};
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  const pid_t pid = ::fork();
  if (pid < 0) return {false, "fork", errno};
  if (pid == 0) {
    ProbeUserNamespaceInChild(write_end.Get(), drop, uid, gid, uid_map.data(), uid_map.size());
  }
  write_end.Reset();
  ProbeFailure failure{};
  ssize_t n;
  while ((n = ::read(read_end.Get(), &failure, sizeof failure)) < 0 && errno == EINTR) {
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (n == static_cast<ssize_t>(sizeof failure)) {
    return {false,
            kProbeStepNames[failure.step >= 0 && failure.step <= kUnshareMount ? failure.step : 0],
            failure.err};
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, {}, 0};
  return {false, fmt::format("probe child (wait status {:#x})", status), 0};
}

constexpr std::string_view kAppArmorFix =
    "cp profiles/apparmor/gaol-userns /etc/apparmor.d/ && apparmor_parser -r "
    "/etc/apparmor.d/gaol-userns (or: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)";

std::string FixForUnshareErrno(int err) {
  if (err == ENOSPC) return "sysctl -w user.max_user_namespaces=15000";
  if (err == EINVAL) return "boot a kernel built with CONFIG_USER_NS=y";
  if (err != EPERM && err != EACCES) return "run `unshare -Ur true` as this user to see why";
  return "inside a container, allow unshare/clone(CLONE_NEWUSER) in its seccomp profile; "
         "elsewhere, sysctl -w kernel.unprivileged_userns_clone=1 where that sysctl exists";
}

Item UserNamespacesItem(uid_t uid, const User& user, const HostPaths& paths) {
  const std::string name = "user_namespaces";
  const std::string root_note =
      uid == 0
          ? "; the caller is root (gaol is meant for unprivileged users: run `gaol check` as one)"
          : "";
  const auto max = ReadSysctl(paths.proc_sys + "/user/max_user_namespaces");
  if (max == 0) {
    return {name, State::kMissing,
            "user.max_user_namespaces is 0: user namespaces are disabled" + root_note,
            "sysctl -w user.max_user_namespaces=15000"};
  }
  if (ReadSysctl(paths.proc_sys + "/kernel/unprivileged_userns_clone") == 0) {
    return {name, State::kMissing,
            "kernel.unprivileged_userns_clone is 0: unprivileged user namespaces are disabled" +
                root_note,
            "sysctl -w kernel.unprivileged_userns_clone=1"};
  }
  const bool restricted =
      ReadSysctl(paths.proc_sys + "/kernel/apparmor_restrict_unprivileged_userns").value_or(0) != 0;
  const std::string restricted_note =
      restricted ? "kernel.apparmor_restrict_unprivileged_userns is 1; " : "";
  const Probe probe = ProbeUserNamespace(uid, user.gid);
  const std::string as = ::geteuid() == 0 && uid != 0 ? fmt::format(" as uid {}", uid) : "";
  if (!probe.ok) {
    return {name, State::kMissing,
            fmt::format("{}{}{} failed{}{}", restricted_note, probe.failed, as,
                        probe.err ? ": " + ErrnoText(probe.err) : "", root_note),
            restricted ? std::string(kAppArmorFix) : FixForUnshareErrno(probe.err)};
  }
  std::string detail =
      fmt::format("{}unshare(CLONE_NEWUSER) and a uid map work{}{}", restricted_note, as,
                  max ? fmt::format(" (max_user_namespaces {})", *max) : "");
  // Root is exempt from the restriction; the users gaol is for are not.
  if (restricted && uid == 0) {
    return {name, State::kWarn, detail + ", for root only" + root_note, std::string(kAppArmorFix)};
  }
  if (restricted) {
    detail += ": an AppArmor profile (profiles/apparmor/gaol-userns) allows this program";
  }
  return {name, State::kOk, detail + root_note, {}};
}

Item IdMapperItem(const std::string& tool, const HostPaths& paths) {
  const std::string cap = tool == "newuidmap" ? "cap_setuid" : "cap_setgid";
  for (const auto& dir : paths.bin_dirs) {
    const std::string path = dir + "/" + tool;
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) continue;
    if (st.st_uid == 0 && (st.st_mode & S_ISUID)) {
      return {tool, State::kOk, path + " (setuid root)", {}};
    }
    if (::getxattr(path.c_str(), "security.capability", nullptr, 0) > 0) {
      return {tool, State::kOk, path + " (file capabilities)", {}};
    }
    return {tool, State::kWarn, path + " is neither setuid root nor capable: --map-users fails",
            fmt::format("setcap {0}+ep {1} (or: chown root:root {1} && chmod u+s {1})", cap, path)};
  }
  return {tool, State::kWarn,
          fmt::format("not found in {} (only needed for --map-users/--map-groups)",
                      Join(paths.bin_dirs, ", ")),
          "apt-get install uidmap"};
}

struct SubIdRange {
  std::string owner;
  unsigned long start = 0;
  unsigned long count = 0;
};

std::vector<SubIdRange> ParseSubIds(const std::string& text) {
  std::vector<SubIdRange> out;
  for (const auto& line : SplitWords(text, '\n')) {
    if (line.starts_with("#")) continue;
    const auto fields = SplitWords(line, ':');
    SubIdRange r;
    if (fields.size() == 3 && ParseNumber(fields[1], &r.start) &&
        ParseNumber(fields[2], &r.count)) {
      out.push_back({fields[0], r.start, r.count});
    }
  }
  return out;
}

// The fix for both files: one range of 65536 ids past every range already handed out.
std::string SubIdFix(uid_t uid, const User& user, const HostPaths& paths) {
  unsigned long start = 100000;
  for (const char* file : {"/subuid", "/subgid"}) {
    for (const auto& r : ParseSubIds(ReadFile(paths.etc + file).text)) {
      start = std::max(start, r.start + r.count);
    }
  }
  const unsigned long last = start + 65535;
  if (user.name) {
    return fmt::format("usermod --add-subuids {0}-{1} --add-subgids {0}-{1} {2}", start, last,
                       *user.name);
  }
  return fmt::format("echo '{0}:{1}:65536' >> {2}/subuid && echo '{0}:{1}:65536' >> {2}/subgid",
                     uid, start, paths.etc);
}

Item SubIdItem(const std::string& kind, uid_t uid, const User& user, const HostPaths& paths) {
  const std::string path = paths.etc + "/" + kind;
  const std::string who = user.name ? *user.name : fmt::format("uid {}", uid);
  const FileText file = ReadFile(path);
  std::vector<std::string> ranges;
  for (const auto& r : ParseSubIds(file.text)) {
    if (r.count == 0 || (r.owner != std::to_string(uid) && r.owner != user.name)) continue;
    ranges.push_back(fmt::format("{}-{} ({} ids)", r.start, r.start + r.count - 1, r.count));
  }
  if (!ranges.empty()) {
    return {kind, State::kOk, fmt::format("{}: {} in {}", who, Join(ranges, ", "), path), {}};
  }
  const std::string found = file.err ? Problem(path, file.err) : "no entry in " + path;
  return {kind, State::kWarn,
          fmt::format("{} for {} (only needed for --map-users/--map-groups)", found, who),
          SubIdFix(uid, user, paths)};
}

Item SeccompItem(const HostPaths& paths) {
  const int mode = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  if (mode < 0) {
    return {"seccomp", State::kMissing, "prctl(PR_GET_SECCOMP): " + ErrnoText(errno),
            "boot a kernel built with CONFIG_SECCOMP_FILTER=y"};
  }
  const std::string path = paths.proc_sys + "/kernel/seccomp/actions_avail";
  const FileText file = ReadFile(path);
  const auto actions = SplitWords(file.text);
  const auto lacking = Lacking(actions, {"kill_process", "errno", "trap"});
  const std::string filtered = mode == 2 ? "; this process is already under a seccomp filter" : "";
  if (file.err || !lacking.empty()) {
    const std::string found = file.err ? Problem(path, file.err) : "actions: " + Join(actions);
    return {"seccomp", State::kWarn,
            fmt::format("{}; lacking {}{}", found, Join(lacking, ", "), filtered),
            "boot a kernel >= 4.14 built with CONFIG_SECCOMP_FILTER=y"};
  }
  return {"seccomp", State::kOk, "actions: " + Join(actions) + filtered, {}};
}

Item LandlockItem(const HostPaths& paths) {
  const long abi =
      ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi >= 0) return {"landlock", State::kOk, fmt::format("Landlock ABI {}", abi), {}};
  const int err = errno;
  const std::string lsm = Trim(ReadFile(paths.sys + "/kernel/security/lsm").text);
  const std::string fix = fmt::format("boot with lsm=landlock,{} (CONFIG_SECURITY_LANDLOCK)",
                                      lsm.empty() ? "..." : lsm);
  const std::string why = err == ENOSYS       ? "not built into this kernel"
                          : err == EOPNOTSUPP ? "built in but not enabled at boot"
                                              : "unavailable";
  return {"landlock", State::kWarn,
          fmt::format("landlock_create_ruleset: {}: Landlock is {}", ErrnoText(err), why), fix};
}

Item ApparmorItem(const HostPaths& paths) {
  const std::string path = paths.sys + "/module/apparmor/parameters/enabled";
  const FileText file = ReadFile(path);
  if (!file.err && Trim(file.text) == "Y") return {"apparmor", State::kOk, "AppArmor enabled", {}};
  const std::string found =
      file.err ? Problem(path, file.err) : fmt::format("{} is \"{}\"", path, Trim(file.text));
  return {"apparmor", State::kWarn,
          "AppArmor profiles (--security-opt apparmor=NAME) are not available; Landlock is used (" +
              found + ")",
          "boot a kernel built with CONFIG_SECURITY_APPARMOR with apparmor=1 and apparmor in "
          "lsm=, then apt-get install apparmor"};
}

Item IoUringItem(uid_t uid, const User& user, const HostPaths& paths) {
  const auto disabled = ReadSysctl(paths.proc_sys + "/kernel/io_uring_disabled");
  const long group = ReadSysctl(paths.proc_sys + "/kernel/io_uring_group").value_or(-1);
  std::string fix = "sysctl -w kernel.io_uring_disabled=0";
  if (disabled == 2) {
    return {"io_uring", State::kMissing,
            "kernel.io_uring_disabled is 2: io_uring is disabled, and gaol's supervisor needs it",
            fix};
  }
  const std::string state = disabled ? fmt::format(" (io_uring_disabled {})", *disabled) : "";
  if (disabled == 1 && group >= 0) {
    fix += fmt::format(" (or: usermod -aG {} {})", group, user.name ? *user.name : "USER");
  }
  io_uring_params params{};
  UniqueFd ring(static_cast<int>(::syscall(__NR_io_uring_setup, 1, &params)));
  if (!ring) {
    const int err = errno;
    if (err == ENOSYS && disabled != 1) {
      fix =
          "boot a kernel built with CONFIG_IO_URING=y; in a container, allow io_uring_setup "
          "in its seccomp profile";
    }
    return {"io_uring", State::kMissing,
            fmt::format("io_uring_setup: {}{}: gaol's supervisor needs it", ErrnoText(err), state),
            fix};
  }
  if (disabled == 1) {
    const std::string detail = fmt::format(
        "kernel.io_uring_disabled is 1: io_uring is restricted to CAP_SYS_ADMIN and group {}",
        group);
    if (::geteuid() != uid || uid == 0) {  // root passes the check; the users gaol is for may not
      return {"io_uring", State::kWarn,
              fmt::format("{}; the test ran as uid {}, which may be exempt", detail, ::geteuid()),
              fix};
    }
    return {"io_uring", State::kOk, detail + "; io_uring_setup works for this user", {}};
  }
  return {"io_uring", State::kOk, "io_uring_setup works" + state, {}};
}

}  // namespace

bool Report::CanRun() const {
  const Item* userns = Find("user_namespaces");
  return userns != nullptr && userns->state != State::kMissing;
}

const Item* Report::Find(std::string_view name) const {
  for (const auto& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}

const char* StateName(State state) {
  constexpr const char* kNames[] = {"ok", "warn", "missing"};
  const auto index = static_cast<size_t>(state);
  return index < std::size(kNames) ? kNames[index] : "missing";
}

// Only allocation can throw below; should it, the report says so instead of throwing.
Report InspectHost(uid_t uid, const HostPaths& paths) {
  Report report;
  auto& items = report.items;
  try {
    const User user = LookUpUser(uid);
    items.push_back(UserNamespacesItem(uid, user, paths));
    items.push_back(IdMapperItem("newuidmap", paths));
    items.push_back(IdMapperItem("newgidmap", paths));
    items.push_back(SubIdItem("subuid", uid, user, paths));
    items.push_back(SubIdItem("subgid", uid, user, paths));
    const CgroupView cgroups = InspectCgroups(uid, paths);
    items.push_back(CgroupItem(cgroups, user));
    items.push_back(ControllersItem(cgroups));
    if (cgroups.mode != CgroupView::Mode::kNone) {
      items.push_back(SystemdUserItem(paths.fs_root + cgroups.mount_point, cgroups.systemd));
    } else {
      items.push_back({"systemd_user", State::kOk, "no cgroup2: no scope to ask systemd for", {}});
    }
    items.push_back(SeccompItem(paths));
    items.push_back(LandlockItem(paths));
    items.push_back(ApparmorItem(paths));
    items.push_back(IoUringItem(uid, user, paths));
  } catch (const std::exception& e) {
    items.push_back({"check", State::kWarn, fmt::format("gaol check failed: {}", e.what()),
                     "report this as a gaol bug"});
  }
  return report;
}

std::string FormatText(const Report& report) {
  size_t width = 16;
  for (const auto& item : report.items) width = std::max(width, item.name.size() + 2);
  const std::string indent(9, ' ');
  std::string out;
  for (const auto& item : report.items) {
    out += fmt::format("{:<9}{:<{}}{}\n", StateName(item.state), item.name, width, item.detail);
    if (!item.fix.empty()) out += indent + "fix: " + item.fix + "\n";
  }
  out += report.CanRun() ? "gaol can run here\n"
                         : "gaol cannot run here: user namespaces are unusable (fix above)\n";
  return out;
}

nlohmann::json ToJson(const Report& report) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : report.items) {
    items.push_back({{"name", item.name},
                     {"state", StateName(item.state)},
                     {"detail", item.detail},
                     {"fix", item.fix}});
  }
  return {{"schema", "gaol.check/v1"}, {"can_run", report.CanRun()}, {"items", items}};
}

}  // namespace gaol::check
