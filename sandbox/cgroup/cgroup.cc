#include "sandbox/cgroup/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sandbox/cgroup/systemd_scope.h"
#include "sandbox/spec/units.h"

namespace gaol::cgroup {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::set<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::set<std::string> out;
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

Status WriteAt(int dir, const std::string& file, const std::string& value, Step step) {
  UniqueFd fd(openat(dir, file.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd || write(fd.Get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    return Fail(step, fmt::format("write `{}` = \"{}\" in", file, value), "the job's cgroup");
  }
  return {};
}

bool IsCgroup2(const std::string& path) {
  struct statfs fs;
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

bool Writable(const std::string& dir) {
  return access(dir.c_str(), W_OK) == 0 && access((dir + "/cgroup.procs").c_str(), W_OK) == 0;
}

// The mount point of the cgroup2 hierarchy, from mountinfo.
std::optional<std::string> Cgroup2Mount() {
  std::istringstream lines(ReadFile("/proc/self/mountinfo"));
  for (std::string line; std::getline(lines, line);) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount;
    fields >> id >> parent >> dev >> root >> mount;
    return mount;
  }
  return std::nullopt;
}

// What the children of `parent` can get. Controllers already in cgroup.subtree_control can be
// given; the rest only when the cgroup holds no process (the root is exempt), or only gaol, which
// then moves itself out of the way.
void SetControllers(Parent& parent, bool is_root) {
  auto available = Words(ReadFile(parent.path + "/cgroup.controllers"));
  auto enabled = Words(ReadFile(parent.path + "/cgroup.subtree_control"));
  parent.controllers = available;
  if (is_root || available == enabled) return;
  auto procs = Words(ReadFile(parent.path + "/cgroup.procs"));
  if (procs.empty()) return;
  if (!parent.from_flag && procs == std::set<std::string>{std::to_string(getpid())}) {
    parent.move_self = true;
    return;
  }
  std::vector<std::string> blocked;
  for (const auto& c : available) {
    if (!enabled.count(c)) blocked.push_back(c);
  }
  parent.controllers = enabled;
  parent.note = fmt::format(
      "`{}` holds other processes, so its children cannot get the {} controller(s): run gaol in a "
      "cgroup of its own (--cgroup-parent DIR, or `systemd-run --user --scope -p Delegate=yes "
      "gaol run ...`)",
      parent.path, fmt::join(blocked, ", "));
}

// Moves gaol into `PREFIX-PID` under `parent`, emptying it so it may give controllers.
Status MoveSelf(int parent_fd, const std::string& parent_path,
                std::string_view prefix = "gaol-launcher") {
  std::string name = fmt::format("{}-{}", prefix, getpid());
  if (mkdirat(parent_fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
    return Fail(Step::kCgroup, "create gaol's own leaf", parent_path + "/" + name);
  }
  UniqueFd dir(openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return Fail(Step::kCgroup, "open gaol's own leaf", parent_path + "/" + name);
  return WriteAt(dir.Get(), "cgroup.procs", std::to_string(getpid()), Step::kCgroup);
}

std::string OwnCgroup() {
  std::istringstream lines(ReadFile("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return {};
}

// The own cgroup cannot serve every limit: a scope from systemd --user, when the user has a bus,
// used as an own cgroup where gaol is alone. Without a bus, `found` stays as it is; when systemd
// gives no scope, the note says why.
void EnterSystemdScope(const std::string& mount, Found& found) {
  std::string& note = found.parent ? found.parent->note : found.note;
  auto scope = MoveIntoSystemdScope();
  if (!scope) {
    note += fmt::format("{}systemd --user gave gaol no cgroup scope: {}", note.empty() ? "" : "; ",
                        scope.error().Message());
    return;
  }
  if (!*scope) return;
  found.systemd_scope = (*scope)->unit;
  found.scope_ns = (*scope)->round_trip_ns;
  std::string dir = mount + (*scope)->cgroup;
  if (!Writable(dir)) {
    // gaol has left the own cgroup, which may still serve as the parent; a scope it cannot write
    // is systemd ignoring Delegate=yes.
    note += fmt::format("{}the systemd scope `{}` is not writable (Delegate=yes ignored)",
                        note.empty() ? "" : "; ", dir);
    return;
  }
  found.parent = Parent{dir, {}, false, false, {}};
  SetControllers(*found.parent, false);
  if (found.parent->note.empty())
    found.parent->note = MissingControllersNote(dir, found.parent->controllers);
}

}  // namespace

std::optional<std::uint64_t> FlatKeyedValue(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0 &&
        line[key.size()] == ' ') {
      return ParseU64(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

Result<Found> FindParent(const std::optional<std::string>& flag, bool may_ask_systemd) {
  Found found;
  if (flag) {
    if (!IsCgroup2(*flag)) {
      return Invalid(fmt::format("--cgroup-parent `{}`", *flag),
                     "a directory of a cgroup v2 hierarchy");
    }
    if (!Writable(*flag)) {
      return Invalid(fmt::format("--cgroup-parent `{}`", *flag),
                     fmt::format("a cgroup delegated to uid {}: its directory, cgroup.procs, "
                                 "cgroup.subtree_control and cgroup.threads owned by it (chown)",
                                 getuid()));
    }
    found.parent = Parent{*flag, {}, true, false, {}};
    SetControllers(*found.parent, false);
    return found;
  }
  auto mount = Cgroup2Mount();
  if (!mount) return found;
  std::string own = OwnCgroup();
  bool is_root = own == "/";
  std::string dir = *mount + (is_root ? "" : own);
  if (!own.empty() && Writable(dir)) {
    found.parent = Parent{dir, {}, false, false, {}};
    SetControllers(*found.parent, is_root);
    if (found.parent->note.empty()) return found;
  }
  if (may_ask_systemd) EnterSystemdScope(*mount, found);
  return found;
}

Result<std::optional<Adopted>> AdoptOwnCgroup() {
  auto mount = Cgroup2Mount();
  std::string own = OwnCgroup();
  if (!mount || own.empty() || own == "/") return std::nullopt;
  std::string dir = *mount + own;
  // Delegated to this user, as systemd's Delegate=yes chowns a service's cgroup to the service's
  // user. Root may write any cgroup, one systemd still manages included: root adopts none.
  struct stat st;
  if (geteuid() == 0 || stat(dir.c_str(), &st) != 0 || st.st_uid != geteuid()) {
    return std::nullopt;
  }
  if (!Writable(dir) || access((dir + "/cgroup.subtree_control").c_str(), W_OK) != 0) {
    return std::nullopt;
  }
  if (Words(ReadFile(dir + "/cgroup.procs")) != std::set<std::string>{std::to_string(getpid())}) {
    return std::nullopt;
  }
  UniqueFd dir_fd(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return Fail(Step::kCgroup, "open own cgroup", dir);
  if (auto s = MoveSelf(dir_fd.Get(), dir, "gaol-serve"); !s) {
    unlinkat(dir_fd.Get(), fmt::format("gaol-serve-{}", getpid()).c_str(), AT_REMOVEDIR);
    return tl::unexpected(s.error());
  }
  Adopted adopted{dir, {}};
  auto enabled = Words(ReadFile(dir + "/cgroup.subtree_control"));
  for (const auto& c : Words(ReadFile(dir + "/cgroup.controllers"))) {
    if (enabled.count(c)) continue;
    // All or nothing: a controller left off here would look available to each job's plan (the
    // cgroup holds no process now), whose leaf would then fail to turn it on.
    if (auto s = WriteAt(dir_fd.Get(), "cgroup.subtree_control", "+" + c, Step::kCgroup); !s) {
      ReleaseOwnCgroup(adopted);
      return tl::unexpected(
          std::move(s.error()).With(fmt::format("enable the {} controller for `{}`", c, dir)));
    }
    adopted.enabled.push_back(c);
  }
  return adopted;
}

void ReleaseOwnCgroup(const Adopted& adopted) {
  UniqueFd dir(open(adopted.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return;
  for (const auto& c : adopted.enabled) {
    (void)WriteAt(dir.Get(), "cgroup.subtree_control", "-" + c, Step::kCgroup);
  }
  if (WriteAt(dir.Get(), "cgroup.procs", std::to_string(getpid()), Step::kCgroup)) {
    unlinkat(dir.Get(), fmt::format("gaol-serve-{}", getpid()).c_str(), AT_REMOVEDIR);
  }
}

Leaf& Leaf::operator=(Leaf&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    dir_ = std::move(other.dir_);
  }
  return *this;
}

Result<Leaf> Leaf::Create(const Parent& parent, const std::set<std::string>& controllers,
                          const std::vector<std::pair<std::string, std::string>>& limits) {
  UniqueFd parent_fd(open(parent.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!parent_fd) return Fail(Step::kCgroup, "open cgroup parent", parent.path);
  auto enabled = Words(ReadFile(parent.path + "/cgroup.subtree_control"));
  bool moved = false;
  for (const auto& c : controllers) {
    if (enabled.count(c)) continue;
    // The plan asked only for controllers FindParent found can be given (SetControllers).
    if (parent.move_self && !std::exchange(moved, true)) {
      if (auto s = MoveSelf(parent_fd.Get(), parent.path); !s) return tl::unexpected(s.error());
    }
    if (auto s = WriteAt(parent_fd.Get(), "cgroup.subtree_control", "+" + c, Step::kCgroup); !s) {
      return tl::unexpected(std::move(s.error()).With(
          fmt::format("enable the {} controller for `{}`", c, parent.path)));
    }
  }
  Leaf leaf;
  std::string name = fmt::format("gaol-job-{}", getpid());
  if (mkdirat(parent_fd.Get(), name.c_str(), 0755) != 0) {
    return Fail(Step::kCgroup, "create the job's cgroup", parent.path + "/" + name);
  }
  leaf.path_ = parent.path + "/" + name;
  leaf.dir_.Reset(openat(parent_fd.Get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!leaf.dir_) return Fail(Step::kCgroup, "open the job's cgroup", leaf.path_);
  if (auto s = leaf.Write(limits); !s) return tl::unexpected(s.error());
  return leaf;
}

Status Leaf::Write(const std::vector<std::pair<std::string, std::string>>& limits) const {
  // The group kill first: a pre-built sandbox's leaf already holds processes, and a memory.max
  // below what they use would call the OOM killer at once.
  std::vector<std::pair<std::string, std::string>> ordered;
  ordered.reserve(limits.size());
  for (const auto& l : limits) {
    if (l.first == "memory.oom.group") ordered.push_back(l);
  }
  for (const auto& l : limits) {
    if (l.first != "memory.oom.group") ordered.push_back(l);
  }
  for (const auto& [file, value] : ordered) {
    // Without swap accounting in the kernel there is no swap to forbid; before 4.19 no group
    // OOM kill (one process is killed, as the kernel chooses).
    if ((file == "memory.swap.max" || file == "memory.oom.group") &&
        faccessat(dir_.Get(), file.c_str(), F_OK, 0) != 0)
      continue;
    if (auto s = WriteAt(dir_.Get(), file, value, Step::kCgroup); !s) {
      return tl::unexpected(std::move(s.error()).With(path_));
    }
  }
  return {};
}

Result<UniqueFd> Leaf::OpenCpuStat() const {
  UniqueFd fd(openat(dir_.Get(), "cpu.stat", O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(Step::kSupervise, "open cpu.stat in", path_);
  return fd;
}

UniqueFd Leaf::OpenMemoryCurrentWithoutPeak() const {
  // GAOL_TEST_SAMPLE_MEMORY lets the VM tier check the sampling against a real memory.peak.
  bool has_peak = faccessat(dir_.Get(), "memory.peak", F_OK, 0) == 0;
  if (has_peak && !std::getenv("GAOL_TEST_SAMPLE_MEMORY")) return UniqueFd();
  return UniqueFd(openat(dir_.Get(), "memory.current", O_RDONLY | O_CLOEXEC));
}

std::optional<std::uint64_t> ReadUsageUsec(int cpu_stat_fd) {
  char buf[1024];
  ssize_t n = pread(cpu_stat_fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return std::nullopt;
  return FlatKeyedValue(std::string(buf, static_cast<std::size_t>(n)), "usage_usec");
}

Usage Leaf::ReadUsage() const {
  Usage u;
  std::string cpu = ReadFile(path_ + "/cpu.stat");
  u.usage_usec = FlatKeyedValue(cpu, "usage_usec");
  u.user_usec = FlatKeyedValue(cpu, "user_usec");
  u.system_usec = FlatKeyedValue(cpu, "system_usec");
  std::string peak = ReadFile(path_ + "/memory.peak");
  if (!peak.empty()) u.memory_peak_bytes = ParseU64(peak.substr(0, peak.find('\n')));
  std::string pids = ReadFile(path_ + "/pids.peak");
  if (!pids.empty()) u.pids_peak = ParseU64(pids.substr(0, pids.find('\n')));
  u.oom_kills = FlatKeyedValue(ReadFile(path_ + "/memory.events"), "oom_kill").value_or(0);
  u.pids_max_hits = FlatKeyedValue(ReadFile(path_ + "/pids.events"), "max").value_or(0);
  return u;
}

Status Leaf::Remove() {
  if (!dir_) return {};
  // cgroup.kill (5.14+) ends every process in the leaf at once, forks in flight included.
  WriteAt(dir_.Get(), "cgroup.kill", "1", Step::kCleanup);
  UniqueFd events(openat(dir_.Get(), "cgroup.events", O_RDONLY | O_CLOEXEC));
  for (int i = 0; events && i < 100; ++i) {
    char buf[256];
    ssize_t n = pread(events.Get(), buf, sizeof(buf) - 1, 0);
    if (n <= 0 || FlatKeyedValue(std::string(buf, static_cast<std::size_t>(n)), "populated") == 0u)
      break;
    pollfd p = {events.Get(), POLLPRI, 0};  // cgroup.events wakes pollers when it changes
    poll(&p, 1, 10);
  }
  dir_.Reset();
  std::string path = std::exchange(path_, {});
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return Fail(Step::kCleanup, "rmdir", path);
  return {};
}

void ReapOrphans(const Parent& parent) {
  DIR* dir = opendir(parent.path.c_str());
  if (!dir) return;
  std::vector<std::string> orphans;
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    std::size_t prefix = name.starts_with("gaol-job-")        ? 9
                         : name.starts_with("gaol-launcher-") ? 14
                         : name.starts_with("gaol-serve-")    ? 11
                                                              : 0;
    if (!prefix) continue;
    auto pid = ParseU32(name.substr(prefix));
    if (!pid) continue;
    // gaol serve's own leaf is in use while its server is in it, whatever the server is called.
    if (prefix == 11) {
      auto procs = Words(ReadFile(parent.path + "/" + name + "/cgroup.procs"));
      if (!procs.count(std::to_string(*pid))) orphans.push_back(parent.path + "/" + name);
      continue;
    }
    // Alive and still a gaol (`gaol`, or a `gaol-runner` of gaol serve, whose leaves share the
    // parent with many others at once): its leaf is in use. Anything else, including a reused
    // pid, left an orphan.
    std::string comm = ReadFile(fmt::format("/proc/{}/comm", *pid));
    if (comm != "gaol\n" && comm != "gaol-runner\n") orphans.push_back(parent.path + "/" + name);
  }
  closedir(dir);
  for (const auto& path : orphans) {
    Leaf orphan;
    orphan.path_ = path;
    orphan.dir_.Reset(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    orphan.Remove();
  }
}

}  // namespace gaol::cgroup
