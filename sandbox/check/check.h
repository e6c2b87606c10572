// `gaol check`: what this host offers gaol, and the exact fix for each gap (DESIGN.md, "Hosts it
// must meet"). Every probe reads files under injectable roots, so tests can point it at a fake
// /proc/sys, /etc and mountinfo; the few real-kernel probes (unshare, io_uring_setup, Landlock,
// PR_GET_SECCOMP) are harmless and run in a forked child where they would change this process.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace gaol::check {

enum class State { kOk, kWarn, kMissing };  // kMissing = gaol cannot do this here

struct Item {
  std::string name;  // stable machine key: "user_namespaces", "newuidmap", "cgroup2", ...
  State state = State::kMissing;
  std::string detail;  // what was found: "Landlock ABI 7"
  std::string fix;     // empty when ok; otherwise the exact command or file change that fixes it
};

struct Report {
  std::vector<Item> items;
  // False when user namespaces are unusable: gaol cannot run anything here.
  bool CanRun() const;
  // The item with this name, or nullptr.
  const Item* Find(std::string_view name) const;
};

// Where the host's files are read from. Tests point these at a temp dir.
struct HostPaths {
  std::string proc_sys = "/proc/sys";
  std::string etc = "/etc";
  std::string proc_self = "/proc/self";
  std::string mounts = "/proc/self/mountinfo";
  std::string sys = "/sys";  // module/apparmor/parameters/enabled, kernel/security/lsm
  std::string run = "/run";  // run/systemd/system exists on systemd hosts
  // Prefix put before every mount point read from `mounts` (cgroup directories), "" on a host.
  std::string fs_root;
  std::vector<std::string> bin_dirs = {"/usr/bin", "/bin"};  // where newuidmap/newgidmap live
};

// Inspects the host for the user `uid`. When this process is root and `uid` is not, the user
// namespace probe runs as `uid`. Never throws for a missing or unreadable file: that is a finding.
Report InspectHost(uid_t uid, const HostPaths& paths = {});

// The systemd_user item (check_systemd.cc): whether systemd --user answers on the user bus and
// what its scopes would get, read under `cgroup_mount`; `systemd_host` makes a missing bus a gap.
Item SystemdUserItem(const std::string& cgroup_mount, bool systemd_host);

// "ok", "warn", "missing".
const char* StateName(State state);

// One line per item ("ok       landlock           Landlock ABI 7"), an indented "fix: ..." under
// each item that is not ok, and a closing verdict line.
std::string FormatText(const Report& report);

// {"schema":"gaol.check/v1","can_run":bool,"items":[{"name","state","detail","fix"}]}
nlohmann::json ToJson(const Report& report);

}  // namespace gaol::check
