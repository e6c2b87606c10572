#include "sandbox/serve/request.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "sandbox/common/field_reader.h"
#include "sandbox/seccomp/profile.h"

namespace gaol::serve {
namespace {

using nlohmann::json;

// The spec's limits a ceiling can cap: the operator's knobs, named as in the spec.
constexpr std::array<const char*, 6> kCappable = {
    "memory_bytes",      "pids", "cpus", "time_limit_seconds", "wall_time_limit_seconds",
    "output_limit_bytes"};

std::optional<double> LimitValue(const LimitsSpec& l, std::string_view name) {
  auto as = [](const auto& v) -> std::optional<double> {
    if (!v) return std::nullopt;
    return static_cast<double>(*v);
  };
  if (name == "memory_bytes") return as(l.memory_bytes);
  if (name == "pids") return as(l.pids);
  if (name == "cpus") return l.cpus;
  if (name == "time_limit_seconds") return l.time_limit_seconds;
  if (name == "wall_time_limit_seconds") return l.wall_time_limit_seconds;
  if (name == "output_limit_bytes") return as(l.output_limit_bytes);
  return std::nullopt;
}

// A relative path without `..`, empty or `.` components: it stays beneath the working directory.
bool SafeRelative(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.size() > PATH_MAX) return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return path.find('\0') == std::string::npos;
}

Result<std::vector<InlineFile>> ReadFiles(const json& value, const Policy& policy) {
  if (!value.is_array()) return Invalid("request field `files`", "an array of {path, content}");
  std::vector<InlineFile> files;
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    FieldReader r(value[i], fmt::format("files[{}]", i), "request field");
    if (auto s = r.CheckObject().and_then([&] {
          return r.CheckKnown({"path", "content", "encoding", "mode"});
        });
        !s) {
      return tl::unexpected(s.error());
    }
    InlineFile f;
    std::string content, encoding = "utf-8";
    std::optional<std::uint32_t> mode;
    if (auto s = r.String("path", f.path)
                     .and_then([&] { return r.String("content", content); })
                     .and_then([&] { return r.String("encoding", encoding); })
                     .and_then([&] { return r.Unsigned("mode", mode); });
        !s) {
      return tl::unexpected(s.error());
    }
    if (!SafeRelative(f.path)) {
      return Invalid(r.Name("path"), "a relative path without `..` (placed in the workdir)");
    }
    if (encoding == "base64") {
      auto bytes = Base64Decode(content);
      if (!bytes) return Invalid(r.Name("content"), "base64");
      f.content = std::move(*bytes);
    } else if (encoding == "utf-8") {
      f.content = std::move(content);
    } else {
      return Invalid(r.Name("encoding"), "\"utf-8\" or \"base64\"");
    }
    if (mode) {
      if (*mode > 0777) return Invalid(r.Name("mode"), "permission bits, at most 0777 (511)");
      f.mode = *mode;
    }
    total += f.content.size();
    if (total > policy.files_bytes) {
      return Invalid(
          "request field `files`",
          fmt::format("at most {} bytes in all (the server's files_bytes)", policy.files_bytes));
    }
    files.push_back(std::move(f));
  }
  return files;
}

// A job's collected files are read into the response: their count is bounded as their bytes are.
constexpr std::size_t kMaxCollect = 64;

Result<std::vector<std::string>> ReadCollect(const json& value) {
  if (!value.is_array()) return Invalid("request field `collect`", "an array of relative paths");
  if (value.size() > kMaxCollect) {
    return Invalid("request field `collect`",
                   fmt::format("at most {} paths (got {})", kMaxCollect, value.size()));
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].is_string() || !SafeRelative(value[i].get<std::string>())) {
      return Invalid(fmt::format("request field `collect[{}]`", i),
                     "a relative path without `..` (read from the workdir)");
    }
    out.push_back(value[i].get<std::string>());
  }
  return out;
}

// The operator's defaults under what the request gave; objects ("limits", "security", "share")
// merge field by field.
json WithDefaults(json request, const json& defaults) {
  for (const auto& [key, value] : defaults.items()) {
    if (value.is_object() && request.contains(key) && request[key].is_object()) {
      for (const auto& [k, v] : value.items()) {
        if (!request[key].contains(k)) request[key][k] = v;
      }
    } else if (!request.contains(key)) {
      request[key] = value;
    }
  }
  return request;
}

// A limit the request left out takes the ceiling: omitting a field must not lift the cap.
void FillFromCeilings(LimitsSpec& l, const std::map<std::string, double>& ceilings) {
  for (const auto& [name, cap] : ceilings) {
    if (LimitValue(l, name)) continue;
    auto bytes = static_cast<std::uint64_t>(cap);
    if (name == "memory_bytes") l.memory_bytes = bytes;
    if (name == "pids") l.pids = bytes;
    if (name == "cpus") l.cpus = cap;
    if (name == "time_limit_seconds") l.time_limit_seconds = cap;
    if (name == "wall_time_limit_seconds") l.wall_time_limit_seconds = cap;
    if (name == "output_limit_bytes") l.output_limit_bytes = bytes;
  }
}

// Every field of a JobSpec a request can send, and what a request may do with it. A field missing
// from this table is refused (deny by default): a new spec field stays out of serve until it is
// classified here, and a unit test fails until it is (SpecFieldGates against SpecToJson's keys).
enum class Gate {
  kFree,     // the request's own business
  kCapped,   // free under the operator's ceilings (limits, ulimits, mounts: checked below)
  kAllowed,  // weakens the sandbox or reaches the host: only with the limits file's allowance
  kNever,    // the server decides (host paths for output, the cgroup, the root file system)
};

struct FieldGate {
  std::string_view field;  // its JSON path in the spec
  Gate gate;
  // kAllowed and kNever: whether the spec uses it (differs from what leaves it out).
  bool (*used)(const JobSpec&) = nullptr;
  bool Policy::*allow = nullptr;  // kAllowed
  std::string_view allow_name = {};
};

constexpr FieldGate kGates[] = {
    {"schema", Gate::kFree},
    {"command", Gate::kFree},
    {"env", Gate::kFree},
    {"clear_env", Gate::kFree},
    {"workdir", Gate::kFree},
    {"hostname", Gate::kFree},
    {"uid", Gate::kFree},
    {"gid", Gate::kFree},
    {"read_only", Gate::kFree},
    {"require_cgroup", Gate::kFree},
    {"stdin", Gate::kFree},  // one of the request's own files (checked below)
    {"limits.wall_time_limit_seconds", Gate::kCapped},
    {"limits.output_limit_bytes", Gate::kCapped},
    {"limits.time_limit_seconds", Gate::kCapped},
    {"limits.memory_bytes", Gate::kCapped},
    {"limits.pids", Gate::kCapped},
    {"limits.cpus", Gate::kCapped},
    {"ulimits", Gate::kCapped},
    {"mounts", Gate::kCapped},
    {"limits.memory_swap_bytes", Gate::kAllowed,
     [](const JobSpec& s) { return s.limits.memory_swap_bytes.has_value(); }, &Policy::swap,
     "allow.swap"},
    {"limits.cpu_weight", Gate::kAllowed,
     [](const JobSpec& s) { return s.limits.cpu_weight.has_value(); }, &Policy::cpu_weight,
     "allow.cpu_weight"},
    {"limits.cpuset_cpus", Gate::kAllowed,
     [](const JobSpec& s) { return s.limits.cpuset_cpus.has_value(); }, &Policy::cpuset,
     "allow.cpuset"},
    {"limits.devices", Gate::kAllowed, [](const JobSpec& s) { return !s.limits.devices.empty(); },
     &Policy::devices, "allow.devices"},
    {"network", Gate::kAllowed, [](const JobSpec& s) { return s.network == Network::kHost; },
     &Policy::network_host, "allow.network_host"},
    {"share", Gate::kAllowed,
     [](const JobSpec& s) { return s.share.ipc || s.share.uts || s.share.pid || s.share.cgroup; },
     &Policy::share, "allow.share"},
    {"map_users", Gate::kAllowed, [](const JobSpec& s) { return !s.map_users.Empty(); },
     &Policy::map_users, "allow.map_users"},
    {"map_groups", Gate::kAllowed, [](const JobSpec& s) { return !s.map_groups.Empty(); },
     &Policy::map_users, "allow.map_users"},
    {"chroot", Gate::kAllowed, [](const JobSpec& s) { return s.chroot; }, &Policy::chroot,
     "allow.chroot"},
    {"security.capabilities", Gate::kAllowed,
     [](const JobSpec& s) { return !s.capabilities.empty(); }, &Policy::capabilities,
     "allow.capabilities"},
    {"security.seccomp", Gate::kAllowed,
     [](const JobSpec& s) { return !seccomp::BuiltinProfile(s.seccomp); },
     &Policy::seccomp_unconfined, "allow.seccomp_unconfined; a built-in profile is fine"},
    {"security.landlock", Gate::kAllowed, [](const JobSpec& s) { return !s.landlock; },
     &Policy::landlock_off, "allow.landlock_off"},
    {"security.apparmor", Gate::kAllowed, [](const JobSpec& s) { return s.apparmor.has_value(); },
     &Policy::apparmor, "allow.apparmor"},
    {"rootfs", Gate::kNever, [](const JobSpec& s) { return s.rootfs.has_value(); }},
    {"cgroup_parent", Gate::kNever, [](const JobSpec& s) { return s.cgroup_parent.has_value(); }},
    {"stdout", Gate::kNever, [](const JobSpec& s) { return s.stdout_path.has_value(); }},
    {"stderr", Gate::kNever, [](const JobSpec& s) { return s.stderr_path.has_value(); }},
};

constexpr std::string_view NeverWhy(std::string_view field) {
  if (field == "rootfs") return "the server has no root file systems to offer";
  if (field == "cgroup_parent") return "the server chooses the cgroup";
  return "output comes back in the response";
}

// The ulimits that bound what a ceiling bounds: never above it, whatever the request says.
constexpr std::pair<std::string_view, std::string_view> kUlimitCeilings[] = {
    {"as", "memory_bytes"},      {"data", "memory_bytes"}, {"rss", "memory_bytes"},
    {"memlock", "memory_bytes"}, {"nproc", "pids"},        {"cpu", "time_limit_seconds"},
};

// A bind source beneath an allowed directory, by its text alone (no `..`, `.` or empty parts):
// the runner opens it beneath that directory (RESOLVE_BENEATH), so no link leads out of it.
std::optional<std::string> AllowedRoot(const std::string& source, const Policy& p) {
  if (!source.starts_with('/')) return std::nullopt;
  for (const auto& dir : p.bind_sources) {
    if (source == dir) return dir;
    std::string prefix = dir == "/" ? dir : dir + "/";
    if (source.starts_with(prefix) && SafeRelative(source.substr(prefix.size()))) return dir;
  }
  return std::nullopt;
}

Status CheckPolicy(const RunRequest& request, const Policy& p) {
  const JobSpec& spec = request.spec;
  for (const FieldGate& g : kGates) {
    if (!g.used || !g.used(spec)) continue;
    if (g.gate == Gate::kNever) {
      return Invalid(fmt::format("spec field `{}`", g.field),
                     fmt::format("not set: {}", NeverWhy(g.field)));
    }
    if (g.gate == Gate::kAllowed && !(p.*g.allow)) {
      return Invalid(
          fmt::format("spec field `{}`", g.field),
          fmt::format("not set: this server does not allow it (limits file: {})", g.allow_name));
    }
  }
  if (spec.stdin_path &&
      std::none_of(request.files.begin(), request.files.end(),
                   [&](const InlineFile& f) { return f.path == *spec.stdin_path; })) {
    return Invalid("spec field `stdin`",
                   "the path of one of the request's `files`, as given there");
  }
  for (const char* name : kCappable) {
    auto cap = p.ceilings.find(name);
    auto value = LimitValue(spec.limits, name);
    if (cap != p.ceilings.end() && value && *value > cap->second) {
      return Invalid(fmt::format("spec field `limits.{}` ({})", name, *value),
                     fmt::format("at most {} (the server's ceiling)", cap->second));
    }
  }
  for (const auto& [name, limit] : spec.ulimits) {
    for (const auto& [ulimit, ceiling] : kUlimitCeilings) {
      auto cap = p.ceilings.find(std::string(ceiling));
      if (name != ulimit || cap == p.ceilings.end()) continue;
      auto most = static_cast<std::uint64_t>(std::ceil(cap->second));
      if (limit.hard > most) {
        return Invalid(fmt::format("spec field `ulimits.{}` (hard {})", name, limit.hard),
                       fmt::format("at most {}, the server's {} ceiling", most, ceiling));
      }
    }
  }
  auto memory = p.ceilings.find("memory_bytes");
  for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
    const MountSpec& m = spec.mounts[i];
    if (m.type == MountType::kTmpfs) {
      if (memory != p.ceilings.end() && m.size_bytes && *m.size_bytes > memory->second) {
        return Invalid(fmt::format("spec field `mounts[{}].size_bytes`", i),
                       fmt::format("at most {}, the server's memory_bytes ceiling",
                                   static_cast<std::uint64_t>(memory->second)));
      }
    } else if (!AllowedRoot(m.source, p)) {
      return Invalid(fmt::format("spec field `mounts[{}].source`", i),
                     "a path beneath the limits file's allow.bind_sources, without `.`, `..` "
                     "or empty parts");
    }
  }
  return {};
}

}  // namespace

std::vector<std::string_view> SpecFieldGates() {
  std::vector<std::string_view> out;
  for (const FieldGate& g : kGates) out.push_back(g.field);
  return out;
}

Policy Policy::BuiltIn() {
  Policy p;
  // A judge's job that forgets its limits still ends, within bounds a shared host can afford, and
  // its output still fits in a response.
  p.defaults = {{"limits",
                 {{"wall_time_limit_seconds", 10.0},
                  {"time_limit_seconds", 10.0},
                  {"output_limit_bytes", 1 << 20},
                  {"memory_bytes", 1 << 30},
                  {"pids", 256}}}};
  p.ceilings = {{"wall_time_limit_seconds", 600.0},
                {"time_limit_seconds", 600.0},
                {"output_limit_bytes", 64.0 * (1 << 20)},
                {"memory_bytes", 8.0 * (1 << 30)},
                {"pids", 4096.0}};
  return p;
}

Result<Policy> PolicyFromJson(const json& value) {
  Policy p = Policy::BuiltIn();
  FieldReader r(value, "", "limits file field");
  if (auto s = r.CheckObject().and_then([&] {
        return r.CheckKnown({"schema", "defaults", "ceilings", "allow"});
      });
      !s) {
    return tl::unexpected(s.error());
  }
  if (const json* d = r.Find("defaults")) {
    if (!d->is_object() || d->contains("command")) {
      return Invalid(r.Name("defaults"), "an object of JobSpec fields other than `command`");
    }
    // Checked as a spec would be: a misspelt default fails at start, not on every request.
    json probe = *d;
    probe["command"] = {"/bin/true"};
    if (auto spec = SpecFromJson(probe); !spec) {
      return tl::unexpected(std::move(spec.error()).With("limits file `defaults`"));
    }
    p.defaults = WithDefaults(*d, p.defaults);
  }
  if (const json* c = r.Find("ceilings")) {
    FieldReader cr(*c, "ceilings", "limits file field");
    if (auto s = cr.CheckObject(); !s) return tl::unexpected(s.error());
    for (const auto& item : c->items()) {
      const std::string& key = item.key();  // a name, not a structured binding: clang 14
      const json& v = item.value();         // captures none in a lambda
      if (!v.is_number() || v.get<double>() <= 0) return Invalid(cr.Name(key), "a positive number");
      if (key == "files_bytes") {
        p.files_bytes = v.get<std::uint64_t>();
      } else if (key == "collect_bytes") {
        p.collect_bytes = v.get<std::uint64_t>();
      } else if (std::find_if(kCappable.begin(), kCappable.end(),
                              [&](const char* n) { return key == n; }) != kCappable.end()) {
        p.ceilings[key] = v.get<double>();
      } else {
        return Invalid(cr.Name(key),
                       "one of memory_bytes, pids, cpus, time_limit_seconds, "
                       "wall_time_limit_seconds, output_limit_bytes, files_bytes, collect_bytes");
      }
    }
  }
  if (const json* a = r.Find("allow")) {
    FieldReader ar(*a, "allow", "limits file field");
    std::vector<std::string> sources;
    if (auto s =
            ar.CheckObject()
                .and_then([&] {
                  return ar.CheckKnown({"bind_sources", "network_host", "capabilities", "share",
                                        "seccomp_unconfined", "landlock_off", "chroot", "map_users",
                                        "swap", "cpu_weight", "cpuset", "devices", "apparmor"});
                })
                .and_then([&] { return ar.Bool("swap", p.swap); })
                .and_then([&] { return ar.Bool("cpu_weight", p.cpu_weight); })
                .and_then([&] { return ar.Bool("cpuset", p.cpuset); })
                .and_then([&] { return ar.Bool("devices", p.devices); })
                .and_then([&] { return ar.Bool("apparmor", p.apparmor); })
                .and_then([&] { return ar.Bool("landlock_off", p.landlock_off); })
                .and_then([&] { return ar.Bool("chroot", p.chroot); })
                .and_then([&] { return ar.Bool("map_users", p.map_users); })
                .and_then([&] { return ar.Bool("network_host", p.network_host); })
                .and_then([&] { return ar.Bool("capabilities", p.capabilities); })
                .and_then([&] { return ar.Bool("share", p.share); })
                .and_then([&] { return ar.Bool("seccomp_unconfined", p.seccomp_unconfined); });
        !s) {
      return tl::unexpected(s.error());
    }
    if (const json* b = ar.Find("bind_sources")) {
      if (!b->is_array()) return Invalid(ar.Name("bind_sources"), "an array of absolute paths");
      for (const auto& dir : *b) {
        if (!dir.is_string() || !dir.get<std::string>().starts_with("/")) {
          return Invalid(ar.Name("bind_sources"), "an array of absolute paths");
        }
        p.bind_sources.push_back(dir.get<std::string>());
      }
    }
  }
  // A built-in default the operator's ceiling is under takes the ceiling; the operator's own
  // defaults above a ceiling would refuse every request that leaves the field out: an error.
  const json* own = r.Find("defaults");
  for (const auto& [name, cap] : p.ceilings) {
    bool theirs = own && own->contains("limits") && (*own)["limits"].contains(name);
    auto& limits = p.defaults["limits"];
    if (!theirs && limits.contains(name) && limits[name].is_number() &&
        limits[name].get<double>() > cap) {
      if (limits[name].is_number_integer()) {
        limits[name] = static_cast<std::uint64_t>(cap);
      } else {
        limits[name] = cap;
      }
    }
  }
  json probe = p.defaults;
  probe["command"] = {"/bin/true"};
  auto spec = SpecFromJson(probe);
  if (!spec) return tl::unexpected(std::move(spec.error()).With("limits file `defaults`"));
  for (const auto& [name, cap] : p.ceilings) {
    auto v = LimitValue(spec->limits, name);
    if (v && *v > cap) {
      return Invalid(fmt::format("limits file field `defaults.limits.{}`", name),
                     fmt::format("at most the ceiling {}", cap));
    }
  }
  return p;
}

Result<Policy> LoadPolicy(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return Invalid(fmt::format("--limits-file `{}`", path), std::strerror(errno));
  std::string text;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) return Invalid(fmt::format("--limits-file `{}`", path), "valid JSON");
  auto policy = PolicyFromJson(value);
  if (!policy) return tl::unexpected(std::move(policy.error()).With(path));
  return policy;
}

Result<RunRequest> ParseRunRequest(const std::string& body, const Policy& policy) {
  json value = json::parse(body, nullptr, false);
  if (value.is_discarded()) return Invalid("request body", "a JobSpec JSON object (valid JSON)");
  if (!value.is_object()) return Invalid("request body", "a JobSpec JSON object");
  RunRequest request;
  request.collect_limit_bytes = policy.collect_bytes;
  if (auto it = value.find("files"); it != value.end()) {
    auto files = ReadFiles(*it, policy);
    if (!files) return tl::unexpected(files.error());
    request.files = std::move(*files);
    value.erase(it);
  }
  if (auto it = value.find("collect"); it != value.end()) {
    auto collect = ReadCollect(*it);
    if (!collect) return tl::unexpected(collect.error());
    request.collect = std::move(*collect);
    value.erase(it);
  }
  bool has_workdir = value.contains("workdir");
  value = WithDefaults(std::move(value), policy.defaults);
  auto spec = SpecFromJson(value);
  if (!spec) return tl::unexpected(spec.error());
  request.spec = std::move(*spec);
  bool inline_io = !request.files.empty() || !request.collect.empty();
  // Placed files need a directory of their own, /work unless the request names one; a job that
  // names none gets the same empty one (and with it, the shape of gaol serve's pre-built
  // sandboxes).
  bool defaulted = !has_workdir && !policy.defaults.contains("workdir");
  if (defaulted) request.spec.workdir = "/work";
  request.workdir_tmpfs = inline_io || defaulted;
  if (inline_io && request.spec.workdir == "/") {
    return Invalid("spec field `workdir`", "a directory other than / to place `files` in");
  }
  FillFromCeilings(request.spec.limits, policy.ceilings);
  if (auto s = CheckPolicy(request, policy); !s) {
    return tl::unexpected(std::move(s.error()).With("policy"));
  }
  for (const MountSpec& m : request.spec.mounts) {
    if (m.type == MountType::kBind) request.bind_roots.push_back(*AllowedRoot(m.source, policy));
  }
  if (auto s = ValidateSpec(request.spec); !s) return tl::unexpected(s.error());
  return request;
}

json RequestToJson(const RunRequest& r) {
  json files = json::array();
  for (const auto& f : r.files) {
    files.push_back({{"path", f.path}, {"content", Base64Encode(f.content)}, {"mode", f.mode}});
  }
  return {{"spec", SpecToJson(r.spec)}, {"files", files},
          {"collect", r.collect},       {"collect_limit_bytes", r.collect_limit_bytes},
          {"work_root", r.work_root},   {"job_name", r.job_name},
          {"bind_roots", r.bind_roots}, {"workdir_tmpfs", r.workdir_tmpfs}};
}

Result<RunRequest> RequestFromJson(const json& value) {
  RunRequest r;
  try {
    auto spec = SpecFromJson(value.at("spec"));
    if (!spec) return tl::unexpected(spec.error());
    r.spec = std::move(*spec);
    for (const auto& f : value.at("files")) {
      auto bytes = Base64Decode(f.at("content").get<std::string>());
      if (!bytes) return Invalid("runner request `files`", "base64");
      r.files.push_back(
          {f.at("path").get<std::string>(), std::move(*bytes), f.at("mode").get<std::uint32_t>()});
    }
    r.collect = value.at("collect").get<std::vector<std::string>>();
    r.collect_limit_bytes = value.at("collect_limit_bytes").get<std::uint64_t>();
    r.work_root = value.at("work_root").get<std::string>();
    r.job_name = value.at("job_name").get<std::string>();
    r.bind_roots = value.at("bind_roots").get<std::vector<std::string>>();
    r.workdir_tmpfs = value.at("workdir_tmpfs").get<bool>();
    if (r.job_name.empty() || r.job_name.find('/') != std::string::npos ||
        r.job_name.starts_with(".")) {
      return Invalid("runner request `job_name`", "one path component");
    }
  } catch (const json::exception& e) {
    return Invalid("runner request", e.what());
  }
  return r;
}

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool ValidUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t min = 0;
    if ((c >> 5) == 0x6) {
      n = 1, min = 0x80;
    } else if ((c >> 4) == 0xe) {
      n = 2, min = 0x800;
    } else if ((c >> 3) == 0x1e) {
      n = 3, min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    std::uint32_t cp = c & (0x3fu >> n);
    for (std::size_t k = 1; k <= n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b >> 6) != 0x2) return false;
      cp = (cp << 6) | (b & 0x3fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

std::string Base64Encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                      (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(v >> shift) & 63];
  }
  if (std::size_t rest = in.size() - i; rest > 0) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(const std::string& in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    std::uint32_t v = 0;
    int pad = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      const char* at = c ? std::strchr(kAlphabet, c) : nullptr;
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        ++pad;
        v <<= 6;
        continue;
      }
      if (!at || pad > 0) return std::nullopt;
      v = (v << 6) | static_cast<std::uint32_t>(at - kAlphabet);
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

json BytesToJson(const std::string& bytes) {
  if (ValidUtf8(bytes)) return {{"content", bytes}};
  return {{"content", Base64Encode(bytes)}, {"encoding", "base64"}};
}

}  // namespace gaol::serve
