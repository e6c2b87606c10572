// `gaol check`'s cgroup items: where cgroup2 is mounted (unified or hybrid), the caller's own
// cgroup and whether it may create children there, and which controllers those would get.
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "sandbox/cgroup/systemd_scope.h"
#include "sandbox/check/check_internal.h"

namespace gaol::check {
namespace {

constexpr std::string_view kUnifiedBootFix =
    "boot with systemd.unified_cgroup_hierarchy=1 (add it to GRUB_CMDLINE_LINUX in "
    "/etc/default/grub, run update-grub, reboot)";
using cgroup::kSystemdDelegateFix;

struct MountEntry {
  std::string root;   // the mounted subtree of the filesystem
  std::string point;  // where it is mounted
  std::string fstype;
  std::string super_options;
};

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto octal = [&](size_t j) { return j < s.size() && s[j] >= '0' && s[j] <= '7'; };
    if (s[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3) && s[i + 1] <= '3') {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<MountEntry> ParseMountInfo(const std::string& text) {
  std::vector<MountEntry> out;
  for (const auto& line : SplitWords(text, '\n')) {
    const auto f = SplitWords(line);
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    out.push_back({Unescape(f[3]), Unescape(f[4]), dash[1], dash[3]});
  }
  return out;
}

constexpr std::string_view kV1Controllers[] = {
    "cpu",      "cpuacct", "cpuset",     "memory",  "devices", "freezer", "net_cls",
    "net_prio", "blkio",   "perf_event", "hugetlb", "pids",    "rdma",    "misc"};

bool WritableBy(const std::string& path, uid_t uid) {
  if (::geteuid() == uid) return ::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) == 0;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  return uid == 0 || (st.st_uid == uid && (st.st_mode & S_IWUSR));
}

// Fills mode, mount point and the v1 controllers from mountinfo. Returns the cgroup2 mount.
std::optional<MountEntry> FindCgroupMounts(const HostPaths& paths, CgroupView* view) {
  const FileText file = ReadFile(paths.mounts);
  if (file.err) view->problem = Problem(paths.mounts, file.err);
  std::optional<MountEntry> v2;
  for (const auto& m : ParseMountInfo(file.text)) {
    if (m.fstype == "cgroup2") {
      const bool better = m.point == "/sys/fs/cgroup" || (m.point == "/sys/fs/cgroup/unified" &&
                                                          v2 && v2->point != "/sys/fs/cgroup");
      if (!v2 || better) v2 = m;
    } else if (m.fstype == "cgroup") {
      for (const auto& opt : SplitWords(m.super_options, ',')) {
        if (std::ranges::find(kV1Controllers, opt) != std::end(kV1Controllers)) {
          view->v1_controllers.push_back(opt);
        }
      }
    }
  }
  if (v2) {
    view->mount_point = v2->point;
    view->mode =
        view->v1_controllers.empty() ? CgroupView::Mode::kUnified : CgroupView::Mode::kHybrid;
  }
  return v2;
}

}  // namespace

CgroupView InspectCgroups(uid_t uid, const HostPaths& paths) {
  CgroupView view;
  view.systemd = ::access((paths.run + "/systemd/system").c_str(), F_OK) == 0;
  const std::optional<MountEntry> mount = FindCgroupMounts(paths, &view);
  if (!mount) return view;
  const std::string mount_dir = paths.fs_root + mount->point;
  const std::string self = paths.proc_self + "/cgroup";
  const FileText file = ReadFile(self);
  for (const auto& line : SplitWords(file.text, '\n')) {
    if (line.starts_with("0::")) view.own = line.substr(3);
  }
  if (view.own.empty()) view.problem = file.err ? Problem(self, file.err) : "no 0:: in " + self;
  std::string rel = view.own;
  if (mount->root != "/" && rel.starts_with(mount->root)) rel = rel.substr(mount->root.size());
  view.dir = mount_dir + (rel == "/" ? "" : rel);
  if (view.own.empty() || ::access(view.dir.c_str(), F_OK) != 0) view.dir = mount_dir;
  view.writable = WritableBy(view.dir, uid);
  // The root of a hybrid tree may lack cgroup.controllers: then the mount root's is the answer.
  view.controllers_path = view.dir + "/cgroup.controllers";
  FileText controllers = ReadFile(view.controllers_path);
  if (controllers.err == ENOENT && view.dir != mount_dir) {
    view.controllers_path = mount_dir + "/cgroup.controllers";
    controllers = ReadFile(view.controllers_path);
  }
  if (controllers.err) view.problem = Problem(view.controllers_path, controllers.err);
  view.controllers = SplitWords(controllers.text);
  return view;
}

Item CgroupItem(const CgroupView& view, const User& user) {
  if (view.mode == CgroupView::Mode::kNone) {
    return {
        "cgroup2", State::kMissing,
        "no cgroup2 mount" + (view.problem.empty() ? "" : " (" + view.problem + ")") +
            ": no cgroup limits, gaol falls back to rlimits",
        "boot with systemd.unified_cgroup_hierarchy=1, or: mount -t cgroup2 none /sys/fs/cgroup"};
  }
  const bool hybrid = view.mode == CgroupView::Mode::kHybrid;
  std::string detail =
      fmt::format("cgroup2 at {} ({}), own cgroup {} ({}, {})", view.mount_point,
                  hybrid ? "hybrid, v1 controllers: " + Join(view.v1_controllers) : "unified",
                  view.own.empty() ? "unknown" : view.own, view.dir,
                  view.writable ? "writable: delegated" : "not writable");
  if (view.writable) return {"cgroup2", State::kOk, detail, {}};
  const std::string name = user.name ? *user.name : "USER";
  std::string fix =
      view.systemd ? "gaol asks systemd --user for a delegated scope itself when the user bus "
                     "answers (see systemd_user); or run it in one: systemd-run --user --scope -p "
                     "Delegate=yes -- gaol run ..."
                   : fmt::format(
                         "as root: mkdir {0}/gaol && chown -R {1} {0}/gaol, then move {1}'s shell "
                         "into it (echo PID > {0}/gaol/cgroup.procs) and run gaol from that shell",
                         view.mount_point, name);
  return {"cgroup2", State::kWarn, detail + ": gaol cannot create a job cgroup", fix};
}

Item ControllersItem(const CgroupView& view) {
  if (view.mode == CgroupView::Mode::kNone) {
    return {"cgroup_controllers", State::kMissing,
            "no cgroup2: memory, pids and cpu limits fall back to rlimits",
            "boot with systemd.unified_cgroup_hierarchy=1"};
  }
  const auto missing = Lacking(view.controllers, {"cpu", "memory", "pids"});
  std::string detail = fmt::format("controllers: {} (from {})",
                                   view.controllers.empty() ? "none" : Join(view.controllers),
                                   view.controllers_path);
  if (missing.empty()) return {"cgroup_controllers", State::kOk, detail, {}};
  detail += fmt::format("; missing {}: those limits fall back to rlimits", Join(missing, ", "));
  if (!view.problem.empty()) detail += " (" + view.problem + ")";
  if (view.mode == CgroupView::Mode::kHybrid) {
    return {"cgroup_controllers", State::kWarn, detail, std::string(kUnifiedBootFix)};
  }
  if (view.systemd) {
    return {"cgroup_controllers", State::kWarn, detail, std::string(kSystemdDelegateFix)};
  }
  const std::string fix = fmt::format(
      "as root, enable them in the parent of {}: echo '+cpu +memory +pids' > "
      "PARENT/cgroup.subtree_control",
      view.dir);
  return {"cgroup_controllers", State::kWarn, detail, fix};
}

}  // namespace gaol::check
