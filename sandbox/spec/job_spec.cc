#include "sandbox/spec/job_spec.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>
#include <set>

#include "sandbox/common/field_reader.h"

namespace gaol {
namespace {

using nlohmann::json;

json IdMapToJson(const IdMapSpec& map) {
  if (map.automatic) return "auto";
  if (map.ranges.empty()) return nullptr;
  json out = json::array();
  for (const auto& r : map.ranges) {
    out.push_back({{"inside", r.inside}, {"outside", r.outside}, {"count", r.count}});
  }
  return out;
}

template <class T>
json Optional(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json MountToJson(const MountSpec& m) {
  if (m.type == MountType::kTmpfs) {
    return {{"type", "tmpfs"}, {"target", m.target}, {"size_bytes", Optional(m.size_bytes)}};
  }
  return {{"type", "bind"}, {"source", m.source}, {"target", m.target}, {"read_only", m.read_only}};
}

Result<IdMapSpec> IdMapFromJson(const FieldReader& reader, const char* key) {
  IdMapSpec map;
  const json* v = reader.Find(key);
  if (!v) return map;
  if (v->is_string() && v->get<std::string>() == "auto") {
    map.automatic = true;
    return map;
  }
  if (!v->is_array()) return Invalid(reader.Name(key), "\"auto\" or an array of ranges");
  for (std::size_t i = 0; i < v->size(); ++i) {
    FieldReader range((*v)[i], reader.Child(fmt::format("{}[{}]", key, i)));
    if (auto s = range.CheckObject(); !s) return tl::unexpected(s.error());
    if (auto s = range.CheckKnown({"inside", "outside", "count"}); !s)
      return tl::unexpected(s.error());
    std::optional<std::uint32_t> inside, outside, count;
    for (auto [name, slot] :
         {std::pair{"inside", &inside}, {"outside", &outside}, {"count", &count}}) {
      if (auto s = range.Unsigned(name, *slot); !s) return tl::unexpected(s.error());
      if (!*slot) return Invalid(range.Name(name), "a non-negative integer");
    }
    map.ranges.push_back({*inside, *outside, *count});
  }
  return map;
}

Result<MountSpec> MountFromJson(const json& value, const std::string& path) {
  FieldReader reader(value, path);
  if (auto s = reader.CheckObject(); !s) return tl::unexpected(s.error());
  MountSpec m;
  std::string type = "bind";
  if (auto s = reader.String("type", type); !s) return tl::unexpected(s.error());
  if (type == "bind") {
    if (auto s = reader.CheckKnown({"type", "source", "target", "read_only"}); !s) {
      return tl::unexpected(s.error());
    }
    m.type = MountType::kBind;
  } else if (type == "tmpfs") {
    if (auto s = reader.CheckKnown({"type", "target", "size_bytes"}); !s)
      return tl::unexpected(s.error());
    m.type = MountType::kTmpfs;
  } else {
    return Invalid(reader.Name("type"), "\"bind\" or \"tmpfs\"");
  }
  Status s = reader.String("source", m.source)
                 .and_then([&] { return reader.String("target", m.target); })
                 .and_then([&] { return reader.Bool("read_only", m.read_only); })
                 .and_then([&] { return reader.Unsigned("size_bytes", m.size_bytes); });
  if (!s) return tl::unexpected(s.error());
  return m;
}

Status ReadShare(const FieldReader& reader, JobSpec& spec) {
  const json* v = reader.Find("share");
  if (!v) return {};
  if (!v->is_array())
    return Invalid(reader.Name("share"), "an array of \"ipc\", \"uts\", \"pid\", \"cgroup\"");
  for (const auto& item : *v) {
    std::string name = item.is_string() ? item.get<std::string>() : "";
    bool* flag = spec.share.Find(name);
    if (!flag) {
      return Invalid(reader.Name("share"),
                     "only \"ipc\", \"uts\", \"pid\", \"cgroup\" (net: use \"network\": \"host\")");
    }
    *flag = true;
  }
  return {};
}

Status ReadDevices(const FieldReader& limits, LimitsSpec& l) {
  const json* v = limits.Find("devices");
  if (!v) return {};
  if (!v->is_array()) return Invalid(limits.Name("devices"), "an array of device limits");
  for (std::size_t i = 0; i < v->size(); ++i) {
    FieldReader reader((*v)[i], limits.Child(fmt::format("devices[{}]", i)));
    DeviceIoSpec d;
    Status s = reader.CheckObject()
                   .and_then([&] {
                     return reader.CheckKnown(
                         {"path", "read_bps", "write_bps", "read_iops", "write_iops"});
                   })
                   .and_then([&] { return reader.String("path", d.path); })
                   .and_then([&] { return reader.Unsigned("read_bps", d.read_bps); })
                   .and_then([&] { return reader.Unsigned("write_bps", d.write_bps); })
                   .and_then([&] { return reader.Unsigned("read_iops", d.read_iops); })
                   .and_then([&] { return reader.Unsigned("write_iops", d.write_iops); });
    if (!s) return s;
    l.devices.push_back(std::move(d));
  }
  return {};
}

json DevicesToJson(const std::vector<DeviceIoSpec>& devices) {
  json out = json::array();
  for (const auto& d : devices) {
    out.push_back({{"path", d.path},
                   {"read_bps", Optional(d.read_bps)},
                   {"write_bps", Optional(d.write_bps)},
                   {"read_iops", Optional(d.read_iops)},
                   {"write_iops", Optional(d.write_iops)}});
  }
  return out;
}

Status ReadLimits(const FieldReader& top, JobSpec& spec) {
  const json* v = top.Find("limits");
  if (!v) return {};
  FieldReader reader(*v, "limits");
  LimitsSpec& l = spec.limits;
  return reader.CheckObject()
      .and_then([&] {
        return reader.CheckKnown({"wall_time_limit_seconds", "output_limit_bytes",
                                  "time_limit_seconds", "memory_bytes", "memory_swap_bytes", "pids",
                                  "cpus", "cpu_weight", "cpuset_cpus", "devices"});
      })
      .and_then(
          [&] { return reader.Seconds("wall_time_limit_seconds", l.wall_time_limit_seconds); })
      .and_then([&] { return reader.Unsigned("output_limit_bytes", l.output_limit_bytes); })
      .and_then([&] { return reader.Seconds("time_limit_seconds", l.time_limit_seconds); })
      .and_then([&] { return reader.Unsigned("memory_bytes", l.memory_bytes); })
      .and_then([&] { return reader.Unsigned("memory_swap_bytes", l.memory_swap_bytes); })
      .and_then([&] { return reader.Unsigned("pids", l.pids); })
      .and_then([&] { return reader.Seconds("cpus", l.cpus); })
      .and_then([&] { return reader.Unsigned("cpu_weight", l.cpu_weight); })
      .and_then([&] { return reader.OptString("cpuset_cpus", l.cpuset_cpus); })
      .and_then([&] { return ReadDevices(reader, l); });
}

Status ReadUlimits(const FieldReader& top, JobSpec& spec) {
  const json* v = top.Find("ulimits");
  if (!v) return {};
  FieldReader reader(*v, "ulimits");
  if (auto s = reader.CheckObject(); !s) return s;
  for (const auto& [name, value] : v->items()) {
    if (!UlimitResources().count(name))
      return Invalid(reader.Name(name), "a ulimit name (nofile, nproc, core, ...)");
    FieldReader limit(value, reader.Child(name));
    std::optional<std::uint64_t> soft, hard;
    Status s = limit.CheckObject()
                   .and_then([&] {
                     return limit.CheckKnown({"soft", "hard"});
                   })
                   .and_then([&] { return limit.Unsigned("soft", soft); })
                   .and_then([&] { return limit.Unsigned("hard", hard); });
    if (!s) return s;
    if (!soft || !hard) return Invalid(limit.Name(""), "both \"soft\" and \"hard\"");
    spec.ulimits[name] = {*soft, *hard};
  }
  return {};
}

Status ReadSecurity(const FieldReader& top, JobSpec& spec) {
  const json* v = top.Find("security");
  if (!v) return {};
  FieldReader reader(*v, "security");
  Status s = reader.CheckObject()
                 .and_then([&] {
                   return reader.CheckKnown({"capabilities", "seccomp", "landlock", "apparmor"});
                 })
                 .and_then([&] { return reader.String("seccomp", spec.seccomp); })
                 .and_then([&] { return reader.Bool("landlock", spec.landlock); })
                 .and_then([&] { return reader.OptString("apparmor", spec.apparmor); });
  if (!s) return s;
  const json* caps = reader.Find("capabilities");
  if (!caps) return {};
  if (!caps->is_array())
    return Invalid(reader.Name("capabilities"), "an array of capability names");
  for (const auto& c : *caps) {
    if (!c.is_string()) return Invalid(reader.Name("capabilities"), "an array of capability names");
    spec.capabilities.push_back(c.get<std::string>());
  }
  return {};
}

Status ReadEnv(const FieldReader& reader, JobSpec& spec) {
  const json* v = reader.Find("env");
  if (!v) return {};
  if (!v->is_object()) return Invalid(reader.Name("env"), "an object of strings");
  for (const auto& [key, value] : v->items()) {
    if (!value.is_string()) return Invalid(reader.Name("env." + key), "a string");
    spec.env[key] = value.get<std::string>();
  }
  return {};
}

Status ReadCommand(const FieldReader& reader, JobSpec& spec) {
  const json* v = reader.Find("command");
  if (!v) return {};
  if (!v->is_array()) return Invalid(reader.Name("command"), "an array of strings");
  for (const auto& arg : *v) {
    if (!arg.is_string()) return Invalid(reader.Name("command"), "an array of strings");
    spec.command.push_back(arg.get<std::string>());
  }
  return {};
}

Status ReadNetworkAndMounts(const FieldReader& reader, JobSpec& spec) {
  std::string network = "none";
  if (auto s = reader.String("network", network); !s) return s;
  if (network == "host")
    spec.network = Network::kHost;
  else if (network != "none")
    return Invalid(reader.Name("network"), "\"none\" or \"host\"");
  const json* mounts = reader.Find("mounts");
  if (!mounts) return {};
  if (!mounts->is_array()) return Invalid(reader.Name("mounts"), "an array of mounts");
  for (std::size_t i = 0; i < mounts->size(); ++i) {
    auto m = MountFromJson((*mounts)[i], fmt::format("mounts[{}]", i));
    if (!m) return tl::unexpected(m.error());
    spec.mounts.push_back(std::move(*m));
  }
  return {};
}

}  // namespace

bool* ShareSpec::Find(std::string_view name) {
  if (name == "ipc") return &ipc;
  if (name == "uts") return &uts;
  if (name == "pid") return &pid;
  if (name == "cgroup") return &cgroup;
  return nullptr;
}

const std::map<std::string, int>& UlimitResources() {
  static const std::map<std::string, int> kResources = {
      {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
      {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
      {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK},
  };
  return kResources;
}

json SpecToJson(const JobSpec& spec) {
  json share = json::array();
  for (auto [on, name] : {std::pair{spec.share.ipc, "ipc"},
                          {spec.share.uts, "uts"},
                          {spec.share.pid, "pid"},
                          {spec.share.cgroup, "cgroup"}}) {
    if (on) share.push_back(name);
  }
  json mounts = json::array();
  for (const auto& m : spec.mounts) mounts.push_back(MountToJson(m));
  json ulimits = json::object();
  for (const auto& [name, l] : spec.ulimits) ulimits[name] = {{"soft", l.soft}, {"hard", l.hard}};
  return {
      {"schema", kSpecSchema},
      {"command", spec.command},
      {"env", spec.env},
      {"clear_env", spec.clear_env},
      {"workdir", spec.workdir},
      {"hostname", spec.hostname},
      {"network", spec.network == Network::kHost ? "host" : "none"},
      {"share", share},
      {"uid", Optional(spec.uid)},
      {"gid", Optional(spec.gid)},
      {"map_users", IdMapToJson(spec.map_users)},
      {"map_groups", IdMapToJson(spec.map_groups)},
      {"rootfs", Optional(spec.rootfs)},
      {"read_only", spec.read_only},
      {"chroot", spec.chroot},
      {"mounts", mounts},
      {"limits",
       {{"wall_time_limit_seconds", Optional(spec.limits.wall_time_limit_seconds)},
        {"output_limit_bytes", Optional(spec.limits.output_limit_bytes)},
        {"time_limit_seconds", Optional(spec.limits.time_limit_seconds)},
        {"memory_bytes", Optional(spec.limits.memory_bytes)},
        {"memory_swap_bytes", Optional(spec.limits.memory_swap_bytes)},
        {"pids", Optional(spec.limits.pids)},
        {"cpus", Optional(spec.limits.cpus)},
        {"cpu_weight", Optional(spec.limits.cpu_weight)},
        {"cpuset_cpus", Optional(spec.limits.cpuset_cpus)},
        {"devices", DevicesToJson(spec.limits.devices)}}},
      {"security",
       {{"capabilities", spec.capabilities},
        {"seccomp", spec.seccomp},
        {"landlock", spec.landlock},
        {"apparmor", Optional(spec.apparmor)}}},
      {"cgroup_parent", Optional(spec.cgroup_parent)},
      {"require_cgroup", spec.require_cgroup},
      {"ulimits", ulimits},
      {"stdin", Optional(spec.stdin_path)},
      {"stdout", Optional(spec.stdout_path)},
      {"stderr", Optional(spec.stderr_path)},
  };
}

Result<JobSpec> SpecFromJson(const json& value) {
  FieldReader reader(value, "");
  if (!value.is_object()) return Invalid("spec", "a JSON object");
  Status s = reader.CheckKnown(
      {"schema",        "command",        "env",      "clear_env", "workdir",   "hostname",
       "network",       "share",          "uid",      "gid",       "map_users", "map_groups",
       "rootfs",        "read_only",      "chroot",   "mounts",    "limits",    "ulimits",
       "cgroup_parent", "require_cgroup", "security", "stdin",     "stdout",    "stderr"});
  if (!s) return tl::unexpected(s.error());
  std::string schema = kSpecSchema;
  if (auto r = reader.String("schema", schema); !r) return tl::unexpected(r.error());
  if (schema != kSpecSchema)
    return Invalid(reader.Name("schema"), fmt::format("\"{}\"", kSpecSchema));
  JobSpec spec;
  s = ReadCommand(reader, spec)
          .and_then([&] { return ReadEnv(reader, spec); })
          .and_then([&] { return reader.Bool("clear_env", spec.clear_env); })
          .and_then([&] { return reader.String("workdir", spec.workdir); })
          .and_then([&] { return reader.String("hostname", spec.hostname); })
          .and_then([&] { return ReadNetworkAndMounts(reader, spec); })
          .and_then([&] { return ReadShare(reader, spec); })
          .and_then([&] { return reader.Unsigned("uid", spec.uid); })
          .and_then([&] { return reader.Unsigned("gid", spec.gid); })
          .and_then([&] { return reader.OptString("rootfs", spec.rootfs); })
          .and_then([&] { return reader.Bool("read_only", spec.read_only); })
          .and_then([&] { return reader.Bool("chroot", spec.chroot); })
          .and_then([&] { return ReadLimits(reader, spec); })
          .and_then([&] { return ReadUlimits(reader, spec); })
          .and_then([&] { return ReadSecurity(reader, spec); })
          .and_then([&] { return reader.OptString("cgroup_parent", spec.cgroup_parent); })
          .and_then([&] { return reader.Bool("require_cgroup", spec.require_cgroup); })
          .and_then([&] { return reader.OptString("stdin", spec.stdin_path); })
          .and_then([&] { return reader.OptString("stdout", spec.stdout_path); })
          .and_then([&] { return reader.OptString("stderr", spec.stderr_path); });
  if (!s) return tl::unexpected(s.error());
  auto users = IdMapFromJson(reader, "map_users");
  if (!users) return tl::unexpected(users.error());
  auto groups = IdMapFromJson(reader, "map_groups");
  if (!groups) return tl::unexpected(groups.error());
  spec.map_users = std::move(*users);
  spec.map_groups = std::move(*groups);
  return spec;
}

Result<JobSpec> SpecFromJsonText(const std::string& text) {
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return Invalid("spec", "valid JSON");
  return SpecFromJson(value);
}

}  // namespace gaol
