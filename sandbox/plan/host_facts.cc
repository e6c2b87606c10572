#include "sandbox/plan/host_facts.h"

#include <fmt/format.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sandbox/caps/caps.h"
#include "sandbox/spec/units.h"

namespace gaol {
namespace {

// Links whose target lies outside the host view (systemd-resolved's stub in /run) are bound as the
// file they point to; other links are re-created as links.
bool FollowLink(const std::string& path) { return path == "/etc/resolv.conf"; }

HostEntry Inspect(const std::string& path) {
  HostEntry e{path};
  struct stat st;
  int rc = FollowLink(path) ? stat(path.c_str(), &st) : lstat(path.c_str(), &st);
  if (rc != 0) return e;
  if (S_ISLNK(st.st_mode)) {
    char buf[4096];
    ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
    if (n <= 0) return e;
    e.kind = HostEntry::Kind::kSymlink;
    e.link_target.assign(buf, static_cast<std::size_t>(n));
  } else {
    e.kind = S_ISDIR(st.st_mode) ? HostEntry::Kind::kDir : HostEntry::Kind::kFile;
  }
  return e;
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string UserName(uid_t uid) {
  struct passwd pw, *found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) != 0 || !found) return {};
  return pw.pw_name;
}

// The paths the spec names on the host must exist; said before anything is created.
Status CheckSpecPaths(const JobSpec& spec) {
  struct stat st;
  if (spec.rootfs) {
    if (stat(spec.rootfs->c_str(), &st) != 0) {
      return Invalid(fmt::format("--rootfs `{}`", *spec.rootfs),
                     fmt::format("an existing directory ({})", std::strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode))
      return Invalid(fmt::format("--rootfs `{}`", *spec.rootfs), "a directory");
  }
  for (const auto& m : spec.mounts) {
    if (m.type == MountType::kBind && stat(m.source.c_str(), &st) != 0) {
      return Invalid(fmt::format("--volume source `{}`", m.source),
                     fmt::format("an existing host path ({})", std::strerror(errno)));
    }
  }
  return {};
}

}  // namespace

std::vector<IdRange> ParseSubordinateIds(const std::string& text, const std::string& user,
                                         uid_t uid) {
  std::vector<IdRange> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto first = line.find(':');
    auto second = line.find(':', first == std::string::npos ? first : first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string owner = line.substr(0, first);
    if (owner != user && owner != std::to_string(uid)) continue;
    auto start = ParseU32(line.substr(first + 1, second - first - 1));
    auto count = ParseU32(line.substr(second + 1));
    if (start && count && *count > 0) out.push_back({0, *start, *count});
  }
  return out;
}

bool LooksForCgroup(const JobSpec& spec) {
  const LimitsSpec& l = spec.limits;
  return spec.cgroup_parent || spec.require_cgroup || l.memory_bytes || l.pids || l.cpus ||
         l.cpu_weight || l.cpuset_cpus || l.time_limit_seconds || !l.devices.empty();
}

Result<HostFacts> GatherHostFacts(const JobSpec& spec, bool may_ask_systemd) {
  if (auto s = CheckSpecPaths(spec); !s) return tl::unexpected(s.error());
  HostFacts facts;
  facts.uid = getuid();
  facts.gid = getgid();
  facts.last_cap = caps::LastCap();
  if (!spec.rootfs) {
    for (const auto& path : HostViewPaths()) facts.entries.push_back(Inspect(path));
  }
  // A cgroup is looked for only when the job asks for what needs one: the search reads
  // mountinfo, which costs start latency on every run.
  const LimitsSpec& l = spec.limits;
  if (LooksForCgroup(spec)) {
    auto found = cgroup::FindParent(spec.cgroup_parent, may_ask_systemd);
    if (!found) return tl::unexpected(found.error());
    facts.cgroup = std::move(found->parent);
    facts.cgroup_note = std::move(found->note);
    facts.systemd_scope = std::move(found->systemd_scope);
    facts.scope_seconds = static_cast<double>(found->scope_ns) / 1e9;
  }
  for (const auto& d : l.devices) {
    struct stat st;
    if (stat(d.path.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) {
      return Invalid(fmt::format("device `{}`", d.path),
                     "a block device (--device-read-bps and friends)");
    }
    facts.block_devices[d.path] = fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev));
  }
  if (spec.seccomp.find('/') != std::string::npos) {
    std::ifstream in(spec.seccomp);
    std::stringstream text;
    if (!in || !(text << in.rdbuf())) {
      return Invalid(fmt::format("--security-opt seccomp=`{}`", spec.seccomp),
                     "a readable seccomp profile file (OCI JSON)");
    }
    facts.seccomp_file_text = text.str();
    struct utsname u;
    if (uname(&u) == 0) facts.kernel_release = u.release;
  }
  if (spec.landlock) facts.landlock_abi = landlock::Abi();
  if (spec.apparmor) {
    facts.apparmor = ReadFile("/sys/module/apparmor/parameters/enabled").starts_with("Y");
  }
  if (spec.seccomp != "unconfined") {
    std::uint32_t action = SECCOMP_RET_USER_NOTIF;
    facts.seccomp_notify = syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
  }
  if (!spec.map_users.Empty() || !spec.map_groups.Empty()) {
    std::string user = UserName(facts.uid);
    facts.subuid = ParseSubordinateIds(ReadFile("/etc/subuid"), user, facts.uid);
    facts.subgid = ParseSubordinateIds(ReadFile("/etc/subgid"), user, facts.uid);
  }
  return facts;
}

}  // namespace gaol
