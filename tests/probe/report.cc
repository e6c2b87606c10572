// `gaol-probe report`: identity, namespaces, mounts, fds, capabilities and friends, all from
// /proc and syscalls (no /sys: the sandbox does not mount it).
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>

#include "tests/probe/probe.h"

extern char** environ;

namespace gaol::probe {
namespace {

constexpr const char* kRootProbePath = "/.gaol-probe-write";

std::optional<long> ParseLong(std::string_view text) {
  long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// Directory entries other than "." and "..". With skip_own_fd, the descriptor used to read the
// directory is left out (for /proc/self/fd).
std::optional<std::vector<std::string>> ListDir(const char* path, bool skip_own_fd, int* err) {
  DIR* dir = opendir(path);
  if (dir == nullptr) {
    *err = errno;
    return std::nullopt;
  }
  std::string own_fd = std::to_string(dirfd(dir));
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = readdir(dir)) {
    std::string name = entry->d_name;
    if (name == "." || name == ".." || (skip_own_fd && name == own_fd)) continue;
    names.push_back(std::move(name));
  }
  *err = errno;
  closedir(dir);
  if (*err != 0) return std::nullopt;
  std::sort(names.begin(), names.end());
  return names;
}

// Sorted numeric entries of a directory, or null (with "<key>_errno") when it cannot be read.
void AddNumericDir(Json& out, const std::string& key, const char* path, bool skip_own_fd) {
  int err = 0;
  auto names = ListDir(path, skip_own_fd, &err);
  if (!names) {
    out[key] = nullptr;
    out[key + "_errno"] = ErrnoName(err);
    return;
  }
  std::vector<long> numbers;
  for (const auto& name : *names) {
    if (auto n = ParseLong(name)) numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());
  out[key] = numbers;
}

void AddIdentity(Json& out) {
  out["uid"] = getuid();
  out["gid"] = getgid();
  out["euid"] = geteuid();
  out["egid"] = getegid();
  int count = getgroups(0, nullptr);
  if (count < 0) FailErrno("getgroups");
  std::vector<gid_t> groups(static_cast<size_t>(count));
  count = getgroups(count, groups.data());
  if (count < 0) FailErrno("getgroups");
  groups.resize(static_cast<size_t>(count));
  out["groups"] = groups;
  out["pid"] = getpid();
  out["ppid"] = getppid();
  out["sid"] = getsid(0);
  out["pgid"] = getpgrp();
  utsname uts{};
  if (uname(&uts) != 0) FailErrno("uname");
  out["hostname"] = uts.nodename;
}

// The lines of an id-map style file, trimmed, with runs of blanks collapsed to one space
// ("0 1000 1"), empty lines dropped. null when the file cannot be read.
Json MapLines(const std::string& path) {
  int err = 0;
  auto text = ReadFile(path, &err);
  if (!text) return nullptr;
  Json lines = Json::array();
  for (const auto& line : SplitLines(*text)) {
    std::string joined;
    for (const auto& field : SplitFields(line)) {
      if (!joined.empty()) joined += ' ';
      joined += field;
    }
    if (!joined.empty()) lines.push_back(joined);
  }
  return lines;
}

void AddIdMaps(Json& out) {
  out["uid_map"] = MapLines("/proc/self/uid_map");
  out["gid_map"] = MapLines("/proc/self/gid_map");
  out["setgroups"] = MapLines("/proc/self/setgroups");
}

// Interface names from /proc/net/dev: the data lines are "  name: counters...".
std::optional<std::vector<std::string>> InterfaceNames(int* err) {
  auto text = ReadFile("/proc/net/dev", err);
  if (!text) return std::nullopt;
  std::vector<std::string> names;
  for (const auto& line : SplitLines(*text)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;  // The two header lines.
    names.push_back(Trim(std::string_view(line).substr(0, colon)));
  }
  return names;
}

Json InterfaceEntry(int sock, const std::string& name) {
  Json entry = {{"name", name}};
  if (sock < 0) return entry;
  ifreq ifr{};
  strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  bool ok = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
  entry["up"] = ok && (ifr.ifr_flags & IFF_UP) != 0;
  entry["loopback"] = ok && (ifr.ifr_flags & IFF_LOOPBACK) != 0;
  if (!ok) entry["errno"] = ErrnoName(errno);
  return entry;
}

void AddInterfaces(Json& out) {
  int err = 0;
  auto names = InterfaceNames(&err);
  out["interfaces"] = Json::array();
  if (!names) {
    out["interfaces_error"] = ErrnoName(err);
    return;
  }
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) out["interfaces_error"] = ErrnoName(errno);
  for (const auto& name : *names) out["interfaces"].push_back(InterfaceEntry(sock, name));
  if (sock >= 0) close(sock);
}

// Undoes the kernel's octal escapes in mountinfo paths ("\040" for a space).
std::string UnescapeMountPath(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    auto octal = [&](size_t k) { return k < text.size() && text[k] >= '0' && text[k] <= '7'; };
    if (text[i] == '\\' && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                               (text[i + 3] - '0'));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

// Per-mount options followed by the superblock options, first occurrence of each kept.
std::string MergeOptions(std::string_view mount_opts, std::string_view super_opts) {
  std::vector<std::string> seen;
  std::string merged;
  for (std::string_view list : {mount_opts, super_opts}) {
    std::string copy(list);
    std::replace(copy.begin(), copy.end(), ',', ' ');
    for (auto& opt : SplitFields(copy)) {
      if (std::find(seen.begin(), seen.end(), opt) != seen.end()) continue;
      if (!merged.empty()) merged += ',';
      merged += opt;
      seen.push_back(std::move(opt));
    }
  }
  return merged;
}

// One mountinfo line: id parent maj:min root target mount-opts [optional...] - fstype source
// super-opts.
std::optional<Json> ParseMountLine(const std::string& line) {
  std::vector<std::string> f = SplitFields(line);
  auto dash = std::find(f.begin() + std::min<size_t>(f.size(), 6), f.end(), "-");
  if (f.size() < 6 || dash == f.end() || f.end() - dash < 3) return std::nullopt;
  std::string super_opts = f.end() - dash >= 4 ? *(dash + 3) : "";
  return Json{{"target", UnescapeMountPath(f[4])},
              {"fstype", *(dash + 1)},
              {"source", UnescapeMountPath(*(dash + 2))},
              {"options", MergeOptions(f[5], super_opts)}};
}

void AddMounts(Json& out) {
  int err = 0;
  auto text = ReadFile("/proc/self/mountinfo", &err);
  if (!text) {
    out["mounts"] = nullptr;
    out["mounts_errno"] = ErrnoName(err);
    return;
  }
  out["mounts"] = Json::array();
  for (const auto& line : SplitLines(*text)) {
    if (auto mount = ParseMountLine(line)) out["mounts"].push_back(std::move(*mount));
  }
}

void AddEnvironment(Json& out) {
  Json env = Json::object();
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text = *entry;
    size_t eq = text.find('=');
    std::string key(text.substr(0, eq));
    std::string value(eq == std::string_view::npos ? "" : text.substr(eq + 1));
    if (!env.contains(key)) env[key] = value;  // First wins, as with getenv().
  }
  out["env"] = std::move(env);
}

void AddCwd(Json& out) {
  char* cwd = getcwd(nullptr, 0);
  if (cwd == nullptr) {
    out["cwd"] = nullptr;
    out["cwd_errno"] = ErrnoName(errno);
    return;
  }
  out["cwd"] = cwd;
  free(cwd);
}

Json StatusNumber(const std::map<std::string, std::string>& status, const std::string& key) {
  auto it = status.find(key);
  if (it == status.end()) return nullptr;
  auto value = ParseLong(it->second);
  return value ? Json(*value) : Json(nullptr);
}

void AddStatus(Json& out) {
  int err = 0;
  auto text = ReadFile("/proc/self/status", &err);
  if (!text) FailErrno("read /proc/self/status");
  std::map<std::string, std::string> status;
  for (const auto& line : SplitLines(*text)) {
    size_t colon = line.find(':');
    if (colon != std::string::npos) status[line.substr(0, colon)] = Trim(line.substr(colon + 1));
  }
  auto string_or_null = [&](const std::string& key) -> Json {
    auto it = status.find(key);
    return it == status.end() ? Json(nullptr) : Json(it->second);
  };
  out["cap_eff"] = string_or_null("CapEff");
  out["cap_prm"] = string_or_null("CapPrm");
  out["cap_bnd"] = string_or_null("CapBnd");
  out["cap_inh"] = string_or_null("CapInh");
  out["cap_amb"] = string_or_null("CapAmb");
  out["no_new_privs"] = StatusNumber(status, "NoNewPrivs");
  out["seccomp"] = StatusNumber(status, "Seccomp");
}

void AddDev(Json& out) {
  int err = 0;
  auto names = ListDir("/dev", false, &err);
  if (!names) {
    out["dev"] = nullptr;
    out["dev_errno"] = ErrnoName(err);
    return;
  }
  out["dev"] = *names;
}

void AddControllingTty(Json& out) {
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) close(fd);
  out["controlling_tty"] = fd >= 0;
  out["controlling_tty_errno"] = ErrnoOrNull(err);
}

// Creates and removes a file in "/". A file left behind by an earlier probe is removed and the
// creation retried once, so a stale file does not read as "not writable".
void AddRootWritable(Json& out) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  int fd = open(kRootProbePath, flags, 0600);
  if (fd < 0 && errno == EEXIST && unlink(kRootProbePath) == 0)
    fd = open(kRootProbePath, flags, 0600);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    close(fd);
    if (unlink(kRootProbePath) != 0) err = errno;
  }
  out["root_writable"] = err == 0;
  out["root_writable_errno"] = ErrnoOrNull(err);
}

}  // namespace

int RunReport(Args /*args*/) {
  Json out = Json::object();
  AddIdentity(out);
  AddIdMaps(out);
  AddInterfaces(out);
  AddNumericDir(out, "pids", "/proc", false);
  AddMounts(out);
  AddNumericDir(out, "fds", "/proc/self/fd", true);
  AddEnvironment(out);
  AddCwd(out);
  AddStatus(out);
  AddDev(out);
  AddControllingTty(out);
  AddRootWritable(out);
  Emit(out);
  return 0;
}

}  // namespace gaol::probe
