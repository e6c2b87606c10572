#include "sandbox/cgroup/systemd_scope.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace gaol::cgroup {
namespace {

constexpr const char* kSystemd = "org.freedesktop.systemd1";
constexpr const char* kSystemdPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
// libsystemd's soname, stable since 2014 (systemd 209).
constexpr const char* kLibsystemd = "libsystemd.so.0";

std::uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// The few sd-bus calls gaol makes, resolved from libsystemd at first use. Linking it instead
// would map it and six more libraries (libgcrypt, liblzma, libzstd, ...) at every gaol start.
struct SdBus {
  decltype(&::sd_bus_open_user) open_user = nullptr;
  decltype(&::sd_bus_flush_close_unref) flush_close_unref = nullptr;
  decltype(&::sd_bus_set_method_call_timeout) set_method_call_timeout = nullptr;
  decltype(&::sd_bus_match_signal_async) match_signal_async = nullptr;
  decltype(&::sd_bus_message_new_method_call) new_method_call = nullptr;
  decltype(&::sd_bus_message_set_auto_start) set_auto_start = nullptr;
  decltype(&::sd_bus_message_append) append = nullptr;
  decltype(&::sd_bus_message_open_container) open_container = nullptr;
  decltype(&::sd_bus_message_close_container) close_container = nullptr;
  decltype(&::sd_bus_message_read) read = nullptr;
  decltype(&::sd_bus_message_unref) message_unref = nullptr;
  decltype(&::sd_bus_call) call = nullptr;
  decltype(&::sd_bus_process) process = nullptr;
  decltype(&::sd_bus_wait) wait = nullptr;
  decltype(&::sd_bus_error_free) error_free = nullptr;

  // Loaded once; an error names what was missing.
  static Result<const SdBus*> Get();
};

template <class F>
bool Resolve(void* lib, const char* name, F& out) {
  out = reinterpret_cast<F>(dlsym(lib, name));
  return out != nullptr;
}

Result<const SdBus*> SdBus::Get() {
  static SdBus api;
  static std::string missing;
  static bool loaded = false;
  if (!loaded) {
    loaded = true;
    // Never unloaded: libgcrypt and friends do not support it well, and gaol exits soon anyway.
    void* lib = dlopen(kLibsystemd, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      missing = why ? why : kLibsystemd;
    } else {
      std::vector<std::pair<const char*, bool>> found = {
          {"sd_bus_open_user", Resolve(lib, "sd_bus_open_user", api.open_user)},
          {"sd_bus_flush_close_unref",
           Resolve(lib, "sd_bus_flush_close_unref", api.flush_close_unref)},
          {"sd_bus_set_method_call_timeout",
           Resolve(lib, "sd_bus_set_method_call_timeout", api.set_method_call_timeout)},
          {"sd_bus_match_signal_async",
           Resolve(lib, "sd_bus_match_signal_async", api.match_signal_async)},
          {"sd_bus_message_new_method_call",
           Resolve(lib, "sd_bus_message_new_method_call", api.new_method_call)},
          {"sd_bus_message_set_auto_start",
           Resolve(lib, "sd_bus_message_set_auto_start", api.set_auto_start)},
          {"sd_bus_message_append", Resolve(lib, "sd_bus_message_append", api.append)},
          {"sd_bus_message_open_container",
           Resolve(lib, "sd_bus_message_open_container", api.open_container)},
          {"sd_bus_message_close_container",
           Resolve(lib, "sd_bus_message_close_container", api.close_container)},
          {"sd_bus_message_read", Resolve(lib, "sd_bus_message_read", api.read)},
          {"sd_bus_message_unref", Resolve(lib, "sd_bus_message_unref", api.message_unref)},
          {"sd_bus_call", Resolve(lib, "sd_bus_call", api.call)},
          {"sd_bus_process", Resolve(lib, "sd_bus_process", api.process)},
          {"sd_bus_wait", Resolve(lib, "sd_bus_wait", api.wait)},
          {"sd_bus_error_free", Resolve(lib, "sd_bus_error_free", api.error_free)},
      };
      for (const auto& [name, ok] : found) {
        if (!ok) missing += (missing.empty() ? "" : ", ") + std::string(name);
      }
      if (!missing.empty()) missing = fmt::format("{} lacks {}", kLibsystemd, missing);
    }
  }
  if (!missing.empty()) return Fail(Step::kScope, "load sd-bus", missing, ENOSYS);
  return &api;
}

// One connection to the user bus and what was sent on it; everything released on destruction.
class UserBus {
 public:
  explicit UserBus(const SdBus& api) : api_(api) {}
  ~UserBus() {
    for (sd_bus_message* m : messages_) api_.message_unref(m);
    api_.error_free(&error_);
    if (bus_) api_.flush_close_unref(bus_);
  }
  UserBus(const UserBus&) = delete;
  UserBus& operator=(const UserBus&) = delete;

  // sd_bus_open_user finds the bus as UserBusAddress() did; `address` is for the error.
  Status Open(const std::string& address, std::uint64_t timeout_usec) {
    if (int r = api_.open_user(&bus_); r < 0)
      return Fail(Step::kScope, "connect to the user bus", address, -r);
    api_.set_method_call_timeout(bus_, timeout_usec);
    return {};
  }
  // A method call on systemd's manager object, never auto-starting a systemd that is not there
  // (a session bus without systemd --user answers at once instead of trying to activate it).
  Result<sd_bus_message*> NewManagerCall(const char* interface, const char* member) {
    sd_bus_message* m = nullptr;
    int r = api_.new_method_call(bus_, &m, kSystemd, kSystemdPath, interface, member);
    if (r < 0) return Fail(Step::kScope, "build the D-Bus call", member, -r);
    messages_.push_back(m);
    api_.set_auto_start(m, 0);
    return m;
  }
  Result<sd_bus_message*> Call(sd_bus_message* m, const char* what) {
    sd_bus_message* reply = nullptr;
    int r = api_.call(bus_, m, 0, &error_, &reply);
    if (r < 0) {
      std::string why = error_.name ? error_.name : "";
      if (error_.message) why += std::string(why.empty() ? "" : ": ") + error_.message;
      return Fail(Step::kScope, what, why.empty() ? "the user bus" : why, -r);
    }
    messages_.push_back(reply);
    return reply;
  }
  sd_bus* Bus() { return bus_; }

 private:
  const SdBus& api_;
  sd_bus* bus_ = nullptr;
  sd_bus_error error_ = SD_BUS_ERROR_NULL;
  std::vector<sd_bus_message*> messages_;
};

// The JobRemoved signal of one job: "uoss" id, job path, unit, result.
struct JobWatch {
  const SdBus* api = nullptr;
  std::string job;     // the path StartTransientUnit returned; empty until then
  std::string result;  // "done", "failed", ... once the job is removed
  std::vector<std::pair<std::string, std::string>> early;  // removed before `job` was known
};

int OnJobRemoved(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* watch = static_cast<JobWatch*>(userdata);
  std::uint32_t id = 0;
  const char *path = nullptr, *unit = nullptr, *result = nullptr;
  if (watch->api->read(m, "uoss", &id, &path, &unit, &result) < 0 || !path || !result) return 0;
  if (watch->job.empty()) {
    watch->early.emplace_back(path, result);
  } else if (watch->job == path) {
    watch->result = result;
  }
  return 0;
}

Status AppendScopeProperties(const SdBus& api, sd_bus_message* m, const std::string& unit) {
  std::string description = fmt::format("gaol run (pid {})", getpid());
  auto pid = static_cast<std::uint32_t>(getpid());
  int r = api.append(m, "ss", unit.c_str(), "fail");
  if (r >= 0) r = api.open_container(m, 'a', "(sv)");
  if (r >= 0) r = api.append(m, "(sv)", "Description", "s", description.c_str());
  if (r >= 0) r = api.append(m, "(sv)", "PIDs", "au", 1, pid);
  if (r >= 0) r = api.append(m, "(sv)", "Delegate", "b", 1);
  if (r >= 0) r = api.append(m, "(sv)", "DefaultDependencies", "b", 0);
  if (r >= 0) r = api.append(m, "(sv)", "CollectMode", "s", "inactive-or-failed");
  if (r >= 0) r = api.close_container(m);
  if (r >= 0) r = api.append(m, "a(sa(sv))", 0);  // no auxiliary units
  if (r < 0) return Fail(Step::kScope, "build the StartTransientUnit call for", unit, -r);
  return {};
}

// Processes the bus until the job is removed or the deadline passes.
Status WaitForJob(const SdBus& api, UserBus& bus, JobWatch& watch, const std::string& unit,
                  std::uint64_t deadline_ns) {
  for (const auto& [path, result] : watch.early) {
    if (path == watch.job) watch.result = result;
  }
  while (watch.result.empty()) {
    int r = api.process(bus.Bus(), nullptr);
    if (r < 0) return Fail(Step::kScope, "read the user bus, waiting for", unit, -r);
    if (r > 0) continue;
    std::uint64_t now = NowNs();
    if (now >= deadline_ns) {
      return Fail(Step::kScope, "wait for systemd to start", unit + " (no JobRemoved in time)",
                  ETIMEDOUT);
    }
    r = api.wait(bus.Bus(), (deadline_ns - now) / 1000);
    if (r < 0) return Fail(Step::kScope, "wait on the user bus for", unit, -r);
  }
  if (watch.result != "done") {
    return Fail(Step::kScope, "start " + unit,
                fmt::format("systemd's job ended `{}`, not `done`", watch.result), 0);
  }
  return {};
}

std::string OwnCgroup() {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("0::")) return line.substr(3);
  }
  return {};
}

std::uint32_t RandomWord() {
  std::uint32_t r = 0;
  if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r)) {
    r = static_cast<std::uint32_t>(NowNs() ^ (static_cast<std::uint64_t>(getpid()) << 16));
  }
  return r;
}

}  // namespace

std::string UserBusAddress(const char* session_bus_address, const char* runtime_dir) {
  if (session_bus_address && *session_bus_address) return session_bus_address;
  if (!runtime_dir || *runtime_dir != '/') return {};
  std::string socket = std::string(runtime_dir) + "/bus";
  struct stat st;
  if (stat(socket.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return {};
  return "unix:path=" + socket;
}

std::string ScopeUnitName(pid_t pid, std::uint32_t random) {
  return fmt::format("gaol-{}-{:08x}.scope", pid, random);
}

Result<std::optional<Scope>> MoveIntoSystemdScope(int timeout_ms) {
  std::string address =
      UserBusAddress(std::getenv("DBUS_SESSION_BUS_ADDRESS"), std::getenv("XDG_RUNTIME_DIR"));
  if (address.empty()) return std::optional<Scope>();
  std::uint64_t start = NowNs();
  std::uint64_t deadline = start + static_cast<std::uint64_t>(timeout_ms) * 1000000ULL;
  auto api = SdBus::Get();
  if (!api) return tl::unexpected(api.error());
  JobWatch watch{*api, {}, {}, {}};  // outlives the bus, whose match points at it
  UserBus bus(**api);
  if (auto s = bus.Open(address, static_cast<std::uint64_t>(timeout_ms) * 1000); !s)
    return tl::unexpected(s.error());
  Scope scope{ScopeUnitName(getpid(), RandomWord()), {}, 0};
  // The match goes out before the call, so the JobRemoved signal cannot slip by (crun does so).
  int r = (*api)->match_signal_async(bus.Bus(), nullptr, kSystemd, kSystemdPath, kManager,
                                     "JobRemoved", OnJobRemoved, nullptr, &watch);
  if (r < 0) return Fail(Step::kScope, "subscribe to JobRemoved on", "the user bus", -r);
  auto m = bus.NewManagerCall(kManager, "StartTransientUnit");
  if (!m) return tl::unexpected(m.error());
  if (auto s = AppendScopeProperties(**api, *m, scope.unit); !s) return tl::unexpected(s.error());
  auto reply = bus.Call(*m, "ask systemd --user for a scope");
  if (!reply) return tl::unexpected(reply.error());
  const char* job = nullptr;
  if ((r = (*api)->read(*reply, "o", &job)) < 0 || !job)
    return Fail(Step::kScope, "read the reply of StartTransientUnit for", scope.unit, -r);
  watch.job = job;
  if (auto s = WaitForJob(**api, bus, watch, scope.unit, deadline); !s)
    return tl::unexpected(s.error());
  scope.round_trip_ns = NowNs() - start;
  scope.cgroup = OwnCgroup();
  if (!scope.cgroup.ends_with("/" + scope.unit)) {
    return Fail(Step::kScope, "find gaol in " + scope.unit,
                fmt::format("/proc/self/cgroup says `{}`", scope.cgroup), 0);
  }
  return std::optional<Scope>(std::move(scope));
}

Result<std::optional<std::string>> UserManagerCgroup(int timeout_ms) {
  std::string address =
      UserBusAddress(std::getenv("DBUS_SESSION_BUS_ADDRESS"), std::getenv("XDG_RUNTIME_DIR"));
  if (address.empty()) return std::optional<std::string>();
  auto api = SdBus::Get();
  if (!api) return tl::unexpected(api.error());
  UserBus bus(**api);
  if (auto s = bus.Open(address, static_cast<std::uint64_t>(timeout_ms) * 1000); !s)
    return tl::unexpected(s.error());
  auto m = bus.NewManagerCall("org.freedesktop.DBus.Properties", "Get");
  if (!m) return tl::unexpected(m.error());
  if (int r = (*api)->append(*m, "ss", kManager, "ControlGroup"); r < 0)
    return Fail(Step::kScope, "build the D-Bus call", "Get ControlGroup", -r);
  auto reply = bus.Call(*m, "ask systemd --user for its cgroup");
  if (!reply) return tl::unexpected(reply.error());
  const char* cgroup = nullptr;
  if (int r = (*api)->read(*reply, "v", "s", &cgroup); r < 0 || !cgroup)
    return Fail(Step::kScope, "read the reply of", "Get ControlGroup", -r);
  return std::optional<std::string>(cgroup);
}

std::string MissingControllersNote(const std::string& scope_path,
                                   const std::set<std::string>& controllers) {
  std::vector<std::string> missing;
  for (const auto& c : WantedControllers()) {
    if (!controllers.count(c)) missing.push_back(c);
  }
  if (missing.empty()) return {};
  return fmt::format(
      "systemd delegated only {} to the scope `{}`: {} not delegated, so those limits fall back "
      "(systemd gives users memory and pids by default; to delegate the rest, add {}: {})",
      controllers.empty() ? std::string("no controller")
                          : fmt::format("{}", fmt::join(controllers, ", ")),
      scope_path, fmt::join(missing, ", "), kDelegateDropIn, kSystemdDelegateFix);
}

}  // namespace gaol::cgroup
