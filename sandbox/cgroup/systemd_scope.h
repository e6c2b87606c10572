// A cgroup from the user's systemd instance: a transient scope with Delegate=yes holding gaol
// itself, asked for over the user bus with StartTransientUnit (as crun, youki and go-judge do).
// libsystemd is loaded with dlopen only when a scope is asked for, so runs that need none do not
// pay for mapping it and its libraries at every start. Facility module: it never reads the spec.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "sandbox/common/error.h"

namespace gaol::cgroup {

// What an admin adds so that systemd delegates more than memory and pids to users.
inline constexpr std::string_view kDelegateDropIn =
    "/etc/systemd/system/user@.service.d/delegate.conf";
inline constexpr std::string_view kSystemdDelegateFix =
    "as root: mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nDelegate=cpu "
    "cpuset io memory pids\\n' > /etc/systemd/system/user@.service.d/delegate.conf && systemctl "
    "daemon-reload, then log in again";

// The controllers gaol's limits use.
inline const std::set<std::string>& WantedControllers() {
  static const std::set<std::string> wanted = {"cpu", "cpuset", "io", "memory", "pids"};
  return wanted;
}

// Whether sd_bus_open_user would find a bus, decided without connecting: $DBUS_SESSION_BUS_ADDRESS
// when set (and not empty), else the socket $XDG_RUNTIME_DIR/bus when it exists. Empty: no bus.
std::string UserBusAddress(const char* session_bus_address, const char* runtime_dir);

// gaol-PID-RANDOM.scope (RANDOM as 8 hex digits): unique per gaol, a valid unit name.
std::string ScopeUnitName(pid_t pid, std::uint32_t random);

struct Scope {
  std::string unit;             // gaol-PID-RANDOM.scope
  std::string cgroup;           // its path in the cgroup2 hierarchy, from /proc/self/cgroup
  std::uint64_t round_trip_ns;  // connect, StartTransientUnit, and its job removed
};

// Asks the user's systemd instance for a transient scope holding this process (PIDs, Delegate,
// DefaultDependencies=no, CollectMode=inactive-or-failed, so systemd removes it when gaol has
// exited) and waits, at most `timeout_ms`, for the JobRemoved signal of its job. When it returns a
// scope, gaol's /proc/self/cgroup is that scope, where gaol is the only process.
// None: there is no user bus, decided without connecting. An error (step kScope) says why the
// bus gave no scope: no systemd on it, refused, or no answer in time.
Result<std::optional<Scope>> MoveIntoSystemdScope(int timeout_ms = 5000);

// The user manager's own cgroup (its Manager.ControlGroup property), whose cgroup.controllers are
// what its scopes can get. None: no user bus. For `gaol check`.
Result<std::optional<std::string>> UserManagerCgroup(int timeout_ms = 2000);

// Why `scope_path` (a scope systemd made) cannot serve some limits: the controllers of
// WantedControllers() missing from `controllers`, and the drop-in that delegates them. Empty when
// none is missing.
std::string MissingControllersNote(const std::string& scope_path,
                                   const std::set<std::string>& controllers);

}  // namespace gaol::cgroup
