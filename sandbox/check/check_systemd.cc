// `gaol check`'s systemd_user item: whether the user's systemd instance answers on the user bus,
// and which controllers a scope it makes would get (those of its own cgroup, where its scopes
// live). One D-Bus round trip when there is a bus; none when there is not.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "sandbox/cgroup/systemd_scope.h"
#include "sandbox/check/check.h"

namespace gaol::check {

Item SystemdUserItem(const std::string& cgroup_mount, bool systemd_host) {
  auto manager = cgroup::UserManagerCgroup();
  if (manager && !*manager) {
    std::string detail =
        "no user bus (no DBUS_SESSION_BUS_ADDRESS, no $XDG_RUNTIME_DIR/bus): gaol cannot ask "
        "systemd --user for a delegated scope";
    if (!systemd_host) return {"systemd_user", State::kOk, detail + " (not a systemd host)", {}};
    return {"systemd_user", State::kWarn, detail,
            fmt::format("run gaol in a login session of its user (systemd --user and "
                        "dbus-user-session), or export XDG_RUNTIME_DIR=/run/user/{}",
                        getuid())};
  }
  if (!manager) {
    return {"systemd_user", State::kWarn,
            "a user bus, but no systemd --user answering on it: " + manager.error().Message(),
            fmt::format("start the user manager: log in through PAM (libpam-systemd), or as root "
                        "`loginctl enable-linger {}`",
                        getuid())};
  }
  std::ifstream in(cgroup_mount + **manager + "/cgroup.controllers");
  std::set<std::string> controllers;
  for (std::string c; in >> c;) controllers.insert(c);
  std::string detail =
      fmt::format("systemd --user answers (its cgroup {}): a scope would get {}", **manager,
                  controllers.empty() ? std::string("no controller")
                                      : fmt::format("{}", fmt::join(controllers, " ")));
  std::vector<std::string> missing;
  for (const auto& c : cgroup::WantedControllers()) {
    if (!controllers.count(c)) missing.push_back(c);
  }
  if (missing.empty()) return {"systemd_user", State::kOk, detail, {}};
  detail += fmt::format("; not delegated: {}", fmt::join(missing, ", "));
  return {"systemd_user", State::kWarn, detail, std::string(cgroup::kSystemdDelegateFix)};
}

}  // namespace gaol::check
