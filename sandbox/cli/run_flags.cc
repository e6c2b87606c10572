#include "sandbox/cli/run_flags.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sandbox/spec/units.h"

namespace gaol::cli {
namespace {

std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string part; std::getline(ss, part, sep);) parts.push_back(part);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

std::optional<std::uint64_t> ParseRlimitValue(const std::string& text) {
  if (text == "unlimited" || text == "-1") return RLIM_INFINITY;
  return ParseU64(text);
}

Result<std::string> ReadWholeFile(const std::string& path, const char* flag) {
  std::ifstream in(path);
  if (!in)
    return Invalid(fmt::format("{} `{}`", flag, path),
                   fmt::format("a readable file ({})", std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Status ApplyNamespaces(const CLI::App& run, const RunFlags& f, JobSpec& spec) {
  if (run.count("--share")) {
    for (const auto& name : Split(f.share, ',')) {
      bool* flag = spec.share.Find(name);
      if (name == "net") {
        spec.network = Network::kHost;
      } else if (flag) {
        *flag = true;
      } else {
        return Invalid(fmt::format("--share `{}`", name),
                       "a comma-separated list of net, ipc, uts, pid, cgroup");
      }
    }
  }
  if (run.count("--network")) {
    if (f.network == "none")
      spec.network = Network::kNone;
    else if (f.network == "host")
      spec.network = Network::kHost;
    else
      return Invalid(fmt::format("--network `{}`", f.network), "none or host");
  }
  if (run.count("--hostname")) spec.hostname = f.hostname;
  for (auto [flag, text, slot] :
       {std::tuple{"--uid", &f.uid, &spec.uid}, {"--gid", &f.gid, &spec.gid}}) {
    if (!run.count(flag)) continue;
    auto id = ParseU32(*text);
    if (!id || *id == UINT32_MAX)
      return Invalid(fmt::format("{} `{}`", flag, *text), "an ID from 0 to 4294967294");
    *slot = *id;
  }
  for (auto [flag, text, slot] : {std::tuple{"--map-users", &f.map_users, &spec.map_users},
                                  {"--map-groups", &f.map_groups, &spec.map_groups}}) {
    if (!run.count(flag)) continue;
    auto map = ParseIdMap(flag, *text);
    if (!map) return tl::unexpected(map.error());
    *slot = std::move(*map);
  }
  return {};
}

Status ApplyFilesystem(const CLI::App& run, const RunFlags& f, JobSpec& spec) {
  if (run.count("--rootfs")) spec.rootfs = f.rootfs;
  if (run.count("--read-only")) spec.read_only = f.read_only;
  if (run.count("--chroot")) spec.chroot = f.chroot;
  if (run.count("--workdir")) spec.workdir = f.workdir;
  for (const auto& v : f.volumes) {
    auto m = ParseVolume(v);
    if (!m) return tl::unexpected(m.error());
    spec.mounts.push_back(std::move(*m));
  }
  for (auto [list, ro] : {std::pair{&f.binds, false}, {&f.ro_binds, true}}) {
    for (const auto& [src, dst] : *list) {
      spec.mounts.push_back(
          {.type = MountType::kBind, .source = src, .target = dst, .read_only = ro});
    }
  }
  for (const auto& t : f.tmpfs) {
    auto m = ParseTmpfs(t);
    if (!m) return tl::unexpected(m.error());
    spec.mounts.push_back(std::move(*m));
  }
  return {};
}

Status ApplyEnv(const CLI::App& run, const RunFlags& f, JobSpec& spec) {
  if (run.count("--clear-env")) spec.clear_env = f.clear_env;
  for (const auto& path : f.env_files) {
    auto text = ReadWholeFile(path, "--env-file");
    if (!text) return tl::unexpected(text.error());
    auto entries = ParseEnvFile(*text, path);
    if (!entries) return tl::unexpected(entries.error());
    for (auto& [k, v] : *entries) spec.env[k] = v;
  }
  for (const auto& e : f.env) {
    auto eq = e.find('=');
    if (e.empty() || eq == 0) return Invalid(fmt::format("--env `{}`", e), "NAME=VALUE or NAME");
    if (eq != std::string::npos) {
      spec.env[e.substr(0, eq)] = e.substr(eq + 1);
    } else if (const char* value = std::getenv(e.c_str())) {
      spec.env[e] = value;  // Docker's `-e NAME`: the caller's value, when it has one
    }
  }
  return {};
}

// "cap_net_raw", "CAP_NET_RAW", "net_raw" -> "NET_RAW".
std::string CapName(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return name.starts_with("CAP_") ? name.substr(4) : name;
}

// Docker's model: nothing is kept unless added; --cap-drop takes back what the spec or
// --cap-add gave (ALL: everything).
void ApplyCapabilities(const RunFlags& f, JobSpec& spec) {
  for (const auto& name : f.cap_add) spec.capabilities.push_back(CapName(name));
  for (const auto& name : f.cap_drop) {
    std::string drop = CapName(name);
    std::erase_if(spec.capabilities,
                  [&](const std::string& c) { return drop == "ALL" || CapName(c) == drop; });
  }
}

// Docker's --security-opt KEY=VALUE: seccomp=PROFILE, apparmor=NAME, no-new-privileges (always
// on: false is refused); --landlock on|off.
Status ApplySecurity(const CLI::App& run, const RunFlags& f, JobSpec& spec) {
  if (run.count("--landlock")) {
    if (f.landlock != "on" && f.landlock != "off")
      return Invalid(fmt::format("--landlock `{}`", f.landlock), "on or off");
    spec.landlock = f.landlock == "on";
  }
  for (const auto& opt : f.security_opts) {
    auto eq = opt.find('=');
    std::string key = opt.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    if (key == "seccomp" && !value.empty()) {
      spec.seccomp = value;
    } else if (key == "apparmor" && !value.empty()) {
      if (value == "unconfined") {
        spec.apparmor.reset();
      } else {
        spec.apparmor = value;
      }
    } else if (key == "no-new-privileges" && (value.empty() || value == "true")) {
      // Always on: nothing to change.
    } else if (key == "no-new-privileges") {
      return Invalid(fmt::format("--security-opt `{}`", opt),
                     "no-new-privileges[=true]: gaol never runs a job that may gain privileges");
    } else {
      return Invalid(fmt::format("--security-opt `{}`", opt),
                     "seccomp=PROFILE|FILE|unconfined, apparmor=NAME or no-new-privileges");
    }
  }
  return {};
}

// --device-{read,write}-{bps,iops}, merged into one io.max entry per device.
Status ApplyDeviceLimits(const RunFlags& f, LimitsSpec& l) {
  struct DeviceFlag {
    const char* flag;
    const std::vector<std::string>* values;
    std::optional<std::uint64_t> DeviceIoSpec::*rate;
    bool size;
  };
  for (auto [flag, values, rate, size] :
       {DeviceFlag{"--device-read-bps", &f.device_read_bps, &DeviceIoSpec::read_bps, true},
        DeviceFlag{"--device-write-bps", &f.device_write_bps, &DeviceIoSpec::write_bps, true},
        DeviceFlag{"--device-read-iops", &f.device_read_iops, &DeviceIoSpec::read_iops, false},
        DeviceFlag{"--device-write-iops", &f.device_write_iops, &DeviceIoSpec::write_iops,
                   false}}) {
    for (const auto& text : *values) {
      auto parsed = ParseDeviceRate(flag, text, size);
      if (!parsed) return tl::unexpected(parsed.error());
      auto it = std::find_if(l.devices.begin(), l.devices.end(),
                             [&](const DeviceIoSpec& d) { return d.path == parsed->first; });
      if (it == l.devices.end()) it = l.devices.insert(l.devices.end(), {.path = parsed->first});
      (*it).*rate = parsed->second;
    }
  }
  return {};
}

Status ApplyResources(const CLI::App& run, const RunFlags& f, JobSpec& spec) {
  LimitsSpec& l = spec.limits;
  struct SizeFlag {
    const char* flag;
    const std::string* text;
    std::optional<std::uint64_t>* slot;
  };
  for (auto [flag, text, slot] :
       {SizeFlag{"--memory", &f.memory, &l.memory_bytes},
        SizeFlag{"--memory-swap", &f.memory_swap, &l.memory_swap_bytes}}) {
    if (!run.count(flag)) continue;
    auto n = ParseSize(*text);
    if (!n) return Invalid(fmt::format("{} `{}`", flag, *text), "a size such as 256m or 1g");
    *slot = *n;
  }
  if (run.count("--pids-limit")) {
    auto n = ParseU64(f.pids_limit);
    if (!n || *n == 0)
      return Invalid(fmt::format("--pids-limit `{}`", f.pids_limit),
                     "a number of processes, at least 1");
    l.pids = *n;
  }
  if (run.count("--cpus")) {
    auto n = ParseDuration(f.cpus);  // a plain decimal: "1.5"
    if (!n || *n <= 0 || f.cpus.find_first_not_of("0123456789.") != std::string::npos) {
      return Invalid(fmt::format("--cpus `{}`", f.cpus),
                     "a number of CPUs above 0 such as 0.5 or 2");
    }
    l.cpus = *n;
  }
  if (run.count("--cpu-weight")) {
    auto n = ParseU64(f.cpu_weight);
    if (!n)
      return Invalid(fmt::format("--cpu-weight `{}`", f.cpu_weight), "a weight from 1 to 10000");
    l.cpu_weight = *n;
  }
  if (run.count("--cpuset-cpus")) l.cpuset_cpus = f.cpuset_cpus;
  if (run.count("--time-limit")) {
    auto d = ParseDuration(f.time_limit);
    if (!d || *d <= 0)
      return Invalid(fmt::format("--time-limit `{}`", f.time_limit),
                     "a CPU time above 0 such as 2s, 500ms or 1.5");
    l.time_limit_seconds = *d;
  }
  if (auto s = ApplyDeviceLimits(f, l); !s) return s;
  ApplyCapabilities(f, spec);
  if (auto s = ApplySecurity(run, f, spec); !s) return s;
  if (run.count("--cgroup-parent")) spec.cgroup_parent = f.cgroup_parent;
  if (run.count("--require-cgroup")) spec.require_cgroup = f.require_cgroup;
  return {};
}

Status ApplyLimitsAndIo(const CLI::App& run, const RunFlags& f, JobSpec& spec) {
  if (run.count("--wall-time-limit")) {
    auto d = ParseDuration(f.wall_time_limit);
    if (!d || *d <= 0)
      return Invalid(fmt::format("--wall-time-limit `{}`", f.wall_time_limit),
                     "a duration above 0 such as 5s, 500ms or 1.5");
    spec.limits.wall_time_limit_seconds = *d;
  }
  if (run.count("--output-limit")) {
    auto n = ParseSize(f.output_limit);
    if (!n || *n == 0)
      return Invalid(fmt::format("--output-limit `{}`", f.output_limit),
                     "a size above 0 such as 64m, 512k or 1048576");
    spec.limits.output_limit_bytes = *n;
  }
  for (const auto& u : f.ulimits) {
    auto limit = ParseUlimit(u);
    if (!limit) return tl::unexpected(limit.error());
    spec.ulimits[limit->first] = limit->second;
  }
  if (f.interactive) spec.stdin_path = "-";
  if (run.count("--stdin")) spec.stdin_path = f.stdin_path;
  if (run.count("--stdout")) spec.stdout_path = f.stdout_path;
  if (run.count("--stderr")) spec.stderr_path = f.stderr_path;
  // CLI11 passes an unknown flag on as the start of the command: a command never starts with '-'.
  if (!f.command.empty() && f.command[0].starts_with("-")) {
    return Invalid(fmt::format("flag `{}`", f.command[0]), "a flag `gaol run --help` lists");
  }
  if (!f.command.empty()) spec.command = f.command;
  return {};
}

}  // namespace

static void AddNamespaceFlags(CLI::App& run, RunFlags& f) {
  run.add_option("--share", f.share,
                 "Share these namespaces with the caller: net,ipc,uts,pid,cgroup [none]")
      ->type_name("LIST");
  run.add_option("--network", f.network, "none (only lo, up) or host [none]")->type_name("MODE");
  run.add_option("--hostname", f.hostname, "Host name inside [gaol]")->type_name("NAME");
  run.add_option("--uid", f.uid, "User ID inside [the caller's own]")->type_name("N");
  run.add_option("--gid", f.gid, "Group ID inside [the caller's own]")->type_name("N");
  run.add_option("--map-users", f.map_users,
                 "More user IDs via newuidmap: auto (from /etc/subuid) or IN:OUT:COUNT,...")
      ->type_name("RANGES");
  run.add_option("--map-groups", f.map_groups,
                 "More group IDs via newgidmap: auto or IN:OUT:COUNT,...")
      ->type_name("RANGES");
}

static void AddFilesystemFlags(CLI::App& run, RunFlags& f) {
  run.add_option("--rootfs", f.rootfs,
                 "Use DIR as the root [the host view: /usr, /bin, /lib* read-only, a minimal /etc]")
      ->type_name("DIR");
  run.add_option("-v,--volume", f.volumes, "Bind a host path: SRC:DST[:ro]")
      ->type_name("SRC:DST[:ro]")
      ->allow_extra_args(false);
  run.add_option("--bind", f.binds, "Bind SRC at DST, writable")
      ->type_name("SRC DST")
      ->allow_extra_args(false);
  run.add_option("--ro-bind", f.ro_binds, "Bind SRC at DST, read-only")
      ->type_name("SRC DST")
      ->allow_extra_args(false);
  run.add_option("--tmpfs", f.tmpfs, "A fresh tmpfs at DST [size 64m]")
      ->type_name("DST[:size=N]")
      ->allow_extra_args(false);
  run.add_flag("--read-only", f.read_only,
               "Read-only root (--read-only=false for a writable one) [true]");
  run.add_option("-w,--workdir", f.workdir, "Working directory inside [/]")->type_name("DIR");
  run.add_flag("--chroot", f.chroot,
               "chroot instead of pivot_root (weaker: the old root stays mounted)");
}

static void AddLimitFlags(CLI::App& run, RunFlags& f) {
  run.add_option("--wall-time-limit", f.wall_time_limit,
                 "Kill the job after this much wall time (2s, 500ms, 1.5)")
      ->type_name("DURATION");
  run.add_option("--output-limit", f.output_limit,
                 "Keep at most this much of stdout+stderr, then kill the job (64m)")
      ->type_name("SIZE");
  run.add_option("--time-limit", f.time_limit,
                 "Kill the job once it has used this much CPU time (2s, 1.5)")
      ->type_name("DURATION");
  run.add_option("-m,--memory", f.memory,
                 "Memory limit (256m, 1g): memory.max, or RLIMIT_AS without a cgroup (address "
                 "space only: memfd and shared memory pages are not counted); caps each tmpfs")
      ->type_name("SIZE");
  run.add_option("--memory-swap", f.memory_swap, "Memory plus swap [no swap]")->type_name("SIZE");
  run.add_option("--pids-limit", f.pids_limit, "Most processes at once: pids.max, or RLIMIT_NPROC")
      ->type_name("N");
  run.add_option("--cpus", f.cpus, "CPU bandwidth in CPUs (0.5, 2): cpu.max")->type_name("N");
  run.add_option("--cpu-weight", f.cpu_weight, "CPU weight, 1-10000: cpu.weight")->type_name("N");
  run.add_option("--cpuset-cpus", f.cpuset_cpus, "CPUs the job may run on (0-1,3): cpuset.cpus")
      ->type_name("LIST");
  run.add_option("--cgroup-parent", f.cgroup_parent,
                 "A delegated cgroup v2 directory to put the job's leaf in [auto: the own "
                 "cgroup when writable, else a systemd --user scope with Delegate=yes]")
      ->type_name("DIR");
  for (auto [name, values, help] : {std::tuple{"--device-read-bps", &f.device_read_bps,
                                               "Read rate from a block device: io.max rbps"},
                                    std::tuple{"--device-write-bps", &f.device_write_bps,
                                               "Write rate to a block device: io.max wbps"},
                                    std::tuple{"--device-read-iops", &f.device_read_iops,
                                               "Read operations per second: io.max riops"},
                                    std::tuple{"--device-write-iops", &f.device_write_iops,
                                               "Write operations per second: io.max wiops"}}) {
    run.add_option(name, *values, help)->type_name("DEVICE:RATE")->allow_extra_args(false);
  }
}

static void AddSecurityFlags(CLI::App& run, RunFlags& f) {
  run.add_option("--cap-add", f.cap_add, "Keep this capability (NET_BIND_SERVICE, ALL) [none kept]")
      ->type_name("CAP")
      ->allow_extra_args(false);
  run.add_option("--cap-drop", f.cap_drop, "Drop this capability again (ALL: every one) [ALL]")
      ->type_name("CAP")
      ->allow_extra_args(false);
  run.add_option("--security-opt", f.security_opts,
                 "seccomp=PROFILE (default, strict, a JSON file, unconfined) [default], "
                 "apparmor=NAME, no-new-privileges [always on]")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  run.add_option("--landlock", f.landlock,
                 "Landlock: writes only beneath writable mounts; no abstract sockets or signals "
                 "outside (on, off) [on]")
      ->type_name("on|off")
      ->allow_extra_args(false);
  run.add_flag("--require-cgroup", f.require_cgroup,
               "Fail when a limit cannot be enforced by a cgroup");
  run.add_option("--ulimit", f.ulimits,
                 "Resource limit: NAME=SOFT[:HARD] (nofile=64, core=0 is the default)")
      ->type_name("NAME=SOFT[:HARD]")
      ->allow_extra_args(false);
}

static void AddIoFlags(CLI::App& run, RunFlags& f) {
  run.add_option("-e,--env", f.env, "Set NAME=VALUE, or pass the caller's NAME")
      ->type_name("NAME[=VALUE]")
      ->allow_extra_args(false);
  run.add_option("--env-file", f.env_files, "Read NAME=VALUE lines from FILE")
      ->type_name("FILE")
      ->allow_extra_args(false);
  run.add_flag("--clear-env", f.clear_env,
               "Start from an empty environment, not the minimal one (PATH, HOME, HOSTNAME, LANG)");
  run.add_flag("-i,--interactive", f.interactive,
               "Give the job gaol's own stdin (same as --stdin -)");
  run.add_option("--stdin", f.stdin_path,
                 "The job's stdin: FILE or - for gaol's own [/dev/null]; a file, pipe, terminal "
                 "or /dev/null, never a directory")
      ->type_name("FILE");
  run.add_option("--stdout", f.stdout_path, "Write the job's stdout to FILE [gaol's stdout]")
      ->type_name("FILE");
  run.add_option("--stderr", f.stderr_path, "Write the job's stderr to FILE [gaol's stderr]")
      ->type_name("FILE");
  run.add_option("--result", f.result_path,
                 "Write the gaol.result/v1 JSON to FILE (renamed into place once whole), or - "
                 "for stdout")
      ->type_name("FILE");
  run.add_option("--result-fd", f.result_fd, "Write the result JSON to this open descriptor")
      ->type_name("N");
  run.add_option("--metrics-textfile", f.metrics_textfile,
                 "Add this run to a node_exporter textfile (FILE.prom, merged under a lock)")
      ->type_name("FILE");
  run.add_option("--metrics-push", f.metrics_push,
                 "Push this run's metrics to a Pushgateway (job=gaol, instance=hostname)")
      ->type_name("URL");
  run.add_flag("-q,--quiet", f.quiet, "No message from gaol itself on stderr");
  run.add_option("--stop-timeout", f.stop_timeout,
                 "After SIGTERM/SIGINT/SIGHUP/SIGQUIT to gaol (passed to every process of the "
                 "sandbox), kill the sandbox if the job has not ended within this time [5s]")
      ->type_name("DURATION");
}

// An option group's options under its title, as one more section of --help (CLI11 would print
// "[Option Group: NAME]" and an indented "Options:" block).
class SectionFormatter : public CLI::Formatter {
 public:
  std::string make_expanded(const CLI::App* sub) const override {
    if (!sub->get_name().empty()) return CLI::Formatter::make_expanded(sub);
    return make_groups(sub, CLI::AppFormatMode::Sub);
  }
};

void AddRunFlags(CLI::App& run, RunFlags& f) {
  // A repeatable flag takes one value per use (CLI11 would otherwise take every following word,
  // eating the command).
  run.add_option("--spec", f.spec_file,
                 "Read the job from a gaol.spec/v1 JSON file; flags override it")
      ->type_name("FILE");
  run.add_flag("--print-spec", f.print_spec, "Print the effective spec as JSON and exit");
  // Option groups are not only --help's sections: CLI11 checks each new option's names against
  // every option of its group, building strings per pair, and with ~50 options in one list that
  // was 40 % of gaol's own start (1.67 M instructions for `gaol --version`, 1.27 M grouped).
  run.formatter(std::make_shared<SectionFormatter>());
  auto group = [&run](const char* title) {
    CLI::Option_group* g = run.add_option_group(title);
    g->option_defaults()->group(title);
    return g;
  };
  AddNamespaceFlags(*group("Namespaces and identity"), f);
  AddFilesystemFlags(*group("File system"), f);
  AddLimitFlags(*group("Limits"), f);
  AddSecurityFlags(*group("Security"), f);
  AddIoFlags(*group("Input, output and result"), f);
  // Everything from the first argument that is not a flag (or after `--`) is the command, with
  // its own flags: `gaol run --hostname x python3 -c ...` as with `docker run`.
  run.prefix_command();
  run.footer("Run as: gaol run [OPTIONS] [--] COMMAND [ARG...]");
}

std::vector<std::string> CommandAfterFlags(const CLI::App& app, const CLI::App& run) {
  return run.remaining().empty() ? app.remaining() : run.remaining();
}

Result<MountSpec> ParseVolume(const std::string& text) {
  auto parts = Split(text, ':');
  auto bad = [&] {
    return Invalid(fmt::format("--volume `{}`", text),
                   "SRC:DST or SRC:DST:ro or SRC:DST:rw with absolute paths");
  };
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty()) return bad();
  MountSpec m{.type = MountType::kBind, .source = parts[0], .target = parts[1]};
  if (parts.size() == 3) {
    if (parts[2] == "ro")
      m.read_only = true;
    else if (parts[2] != "rw")
      return bad();
  }
  return m;
}

Result<MountSpec> ParseTmpfs(const std::string& text) {
  MountSpec m{.type = MountType::kTmpfs};
  auto colon = text.find(':');
  m.target = text.substr(0, colon);
  if (m.target.empty())
    return Invalid(fmt::format("--tmpfs `{}`", text), "DST or DST:size=N with DST a path");
  if (colon != std::string::npos) {
    std::string option = text.substr(colon + 1);
    auto size = option.starts_with("size=") ? ParseSize(option.substr(5)) : std::nullopt;
    if (!size || *size == 0)
      return Invalid(fmt::format("--tmpfs `{}`", text),
                     "DST or DST:size=N with N a size such as 64m");
    m.size_bytes = *size;
  }
  return m;
}

Result<std::pair<std::string, RlimitSpec>> ParseUlimit(const std::string& text) {
  auto eq = text.find('=');
  std::string name = text.substr(0, eq);
  if (eq == std::string::npos || !UlimitResources().count(name)) {
    return Invalid(fmt::format("--ulimit `{}`", text),
                   "NAME=SOFT[:HARD] with NAME one of as, core, cpu, data, fsize, locks, memlock, "
                   "msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack");
  }
  auto values = Split(text.substr(eq + 1), ':');
  std::optional<std::uint64_t> soft = values.empty() ? std::nullopt : ParseRlimitValue(values[0]);
  std::optional<std::uint64_t> hard = values.size() == 2 ? ParseRlimitValue(values[1]) : soft;
  if (!soft || !hard || values.size() > 2) {
    return Invalid(fmt::format("--ulimit `{}`", text), "numbers or \"unlimited\" as SOFT[:HARD]");
  }
  return std::pair{name, RlimitSpec{*soft, *hard}};
}

Result<std::pair<std::string, std::uint64_t>> ParseDeviceRate(const std::string& flag,
                                                              const std::string& text, bool size) {
  auto colon = text.rfind(':');
  std::optional<std::uint64_t> rate;
  if (colon != std::string::npos && colon > 0) {
    rate = size ? ParseSize(text.substr(colon + 1)) : ParseU64(text.substr(colon + 1));
  }
  if (!rate || *rate == 0) {
    return Invalid(fmt::format("{} `{}`", flag, text),
                   size ? "DEVICE:RATE such as /dev/sda:10mb" : "DEVICE:N such as /dev/sda:1000");
  }
  return std::pair{text.substr(0, colon), *rate};
}

Result<IdMapSpec> ParseIdMap(const std::string& flag, const std::string& text) {
  IdMapSpec map;
  if (text == "auto") {
    map.automatic = true;
    return map;
  }
  for (const auto& range : Split(text, ',')) {
    auto parts = Split(range, ':');
    std::optional<std::uint32_t> in, out, count;
    if (parts.size() == 3) {
      in = ParseU32(parts[0]);
      out = ParseU32(parts[1]);
      count = ParseU32(parts[2]);
    }
    if (!in || !out || !count || *count == 0) {
      return Invalid(fmt::format("{} `{}`", flag, text),
                     "auto or INSIDE:OUTSIDE:COUNT[,INSIDE:OUTSIDE:COUNT...]");
    }
    map.ranges.push_back({*in, *out, *count});
  }
  if (map.ranges.empty())
    return Invalid(fmt::format("{} `{}`", flag, text), "auto or INSIDE:OUTSIDE:COUNT[,...]");
  return map;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseEnvFile(const std::string& text,
                                                                      const std::string& path) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF files, as Docker reads them
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first);
    auto eq = line.find('=');
    if (eq == 0)
      return Invalid(fmt::format("--env-file `{}` line {}", path, number), "NAME=VALUE or NAME");
    if (eq != std::string::npos) {
      out.emplace_back(line.substr(0, eq), line.substr(eq + 1));
    } else if (const char* value = std::getenv(line.c_str())) {
      out.emplace_back(line, value);
    }
  }
  return out;
}

Result<JobSpec> BuildSpec(const CLI::App& run, const RunFlags& f) {
  JobSpec spec;
  if (!f.spec_file.empty()) {
    auto text = ReadWholeFile(f.spec_file, "--spec");
    if (!text) return tl::unexpected(text.error());
    auto parsed = SpecFromJsonText(*text);
    if (!parsed)
      return tl::unexpected(
          std::move(parsed.error()).With(fmt::format("--spec `{}`", f.spec_file)));
    spec = std::move(*parsed);
  }
  Status s = ApplyNamespaces(run, f, spec)
                 .and_then([&] { return ApplyFilesystem(run, f, spec); })
                 .and_then([&] { return ApplyEnv(run, f, spec); })
                 .and_then([&] { return ApplyResources(run, f, spec); })
                 .and_then([&] { return ApplyLimitsAndIo(run, f, spec); })
                 .and_then([&] { return ValidateSpec(spec); });
  if (!s) return tl::unexpected(s.error());
  return spec;
}

}  // namespace gaol::cli
