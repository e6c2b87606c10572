// What check.cc and check_cgroup.cc share: reading files, splitting words, the user looked up,
// and the view of the caller's cgroups that the cgroup2 and cgroup_controllers items come from.
// Internal to `gaol check`.
#pragma once

#include <sys/types.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/check/check.h"

namespace gaol::check {

struct FileText {
  int err = 0;  // errno of open/read; 0 when read
  std::string text;
};

FileText ReadFile(const std::string& path);
std::string Trim(std::string_view s);
std::vector<std::string> SplitWords(std::string_view s, char sep = ' ');
std::string Join(const std::vector<std::string>& words, std::string_view sep = " ");
// The words of `wanted` that `have` lacks.
std::vector<std::string> Lacking(const std::vector<std::string>& have,
                                 std::initializer_list<const char*> wanted);
// "PATH absent", or "PATH: Permission denied".
std::string Problem(const std::string& path, int err);

struct User {
  std::optional<std::string> name;
  gid_t gid;
};

// The caller's cgroups, from mountinfo and /proc/self/cgroup (check_cgroup.cc).
struct CgroupView {
  enum class Mode { kNone, kUnified, kHybrid } mode = Mode::kNone;
  std::string problem;  // why the view is incomplete
  std::string mount_point;
  std::vector<std::string> v1_controllers;
  std::string own;  // the caller's cgroup2 path, "0::<own>"
  std::string dir;  // its directory on this host
  bool writable = false;
  std::string controllers_path;
  std::vector<std::string> controllers;
  bool systemd = false;
};

CgroupView InspectCgroups(uid_t uid, const HostPaths& paths);
Item CgroupItem(const CgroupView& view, const User& user);
Item ControllersItem(const CgroupView& view);

}  // namespace gaol::check
