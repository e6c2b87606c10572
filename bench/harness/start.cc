#include "bench/harness/start.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

extern char** environ;

#include "sandbox/run.h"

namespace gaol::bench {
namespace {

std::uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string Which(const std::string& tool) {
  if (tool.find('/') != std::string::npos) return access(tool.c_str(), X_OK) == 0 ? tool : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + tool;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// One sample: spawn to exit, in seconds; the exit status and the first line of stderr on failure.
struct Sample {
  double seconds = 0;
  int status = 0;
  std::string err;
};

Sample RunOnce(const std::vector<std::string>& command, bool capture_err) {
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int err_pipe[2] = {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (capture_err && pipe2(err_pipe, O_CLOEXEC) == 0) {
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  }
  Sample s;
  pid_t pid = -1;
  std::uint64_t t0 = NowNs();
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err_pipe[1] >= 0) close(err_pipe[1]);
  if (rc != 0) {
    s.status = 127;
    s.err = std::strerror(rc);
  } else {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    s.seconds = static_cast<double>(NowNs() - t0) / 1e9;
    s.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  if (err_pipe[0] >= 0) {
    char buf[4096];
    for (ssize_t n; (n = read(err_pipe[0], buf, sizeof buf)) > 0;) s.err.append(buf, n);
    close(err_pipe[0]);
    s.err = s.err.substr(0, s.err.find('\n'));
  }
  return s;
}

// A rootless OCI bundle whose rootfs is busybox (static): crun needs nothing else from the host.
std::string CrunBundle(const std::string& dir, const std::string& crun, std::string& why) {
  std::string bundle = dir + "/crun-bundle";
  std::string busybox = Which("busybox");
  if (busybox.empty()) {
    why = "busybox (static) is needed for crun's rootfs";
    return "";
  }
  mkdir(bundle.c_str(), 0755);
  mkdir((bundle + "/rootfs").c_str(), 0755);
  mkdir((bundle + "/rootfs/bin").c_str(), 0755);
  Sample copy = RunOnce({"/bin/cp", busybox, bundle + "/rootfs/bin/busybox"}, true);
  symlink("busybox", (bundle + "/rootfs/bin/true").c_str());
  Sample spec =
      RunOnce({"/bin/sh", "-c", "cd '" + bundle + "' && '" + crun + "' spec --rootless"}, true);
  if (copy.status != 0 || spec.status != 0) {
    why = "could not prepare the bundle: " + copy.err + spec.err;
    return "";
  }
  // process.args ["sh"] -> ["/bin/true"], no terminal.
  std::ifstream in(bundle + "/config.json");
  std::string config((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto json = nlohmann::json::parse(config, nullptr, false);
  if (json.is_discarded()) {
    why = "crun spec gave no JSON";
    return "";
  }
  json["process"]["args"] = {"/bin/true"};
  json["process"]["terminal"] = false;
  std::ofstream(bundle + "/config.json") << json.dump();
  return bundle;
}

Row MakeRow(std::string name, std::string tool, std::vector<std::string> command) {
  Row r;
  r.name = std::move(name);
  r.tool = std::move(tool);
  r.command = std::move(command);
  return r;
}

}  // namespace

std::vector<Row> StartRows(const StartOptions& o) {
  std::vector<Row> rows;
  rows.push_back(MakeRow("fork+exec /bin/true (floor)", "floor", {"/bin/true"}));
  std::string unshare = Which("unshare");
  Row u1 = MakeRow("unshare -Ur (user ns)", "unshare", {unshare, "-Ur", "/bin/true"});
  Row u2 = MakeRow("unshare -Urmipuf -C --mount-proc (6 ns)", "unshare",
                   {unshare, "-Urmipuf", "-C", "--mount-proc", "/bin/true"});
  for (Row* r : {&u1, &u2}) {
    if (unshare.empty()) r->skipped = "unshare (util-linux) is not installed";
    rows.push_back(*r);
  }
  std::string bwrap = Which("bwrap");
  Row b = MakeRow("bwrap --unshare-all (ro /, /proc, /dev)", "bwrap",
                  {bwrap, "--unshare-all", "--ro-bind", "/", "/", "--proc", "/proc", "--dev",
                   "/dev", "/bin/true"});
  if (bwrap.empty()) b.skipped = "bwrap is not installed";
  rows.push_back(b);
  std::string crun = Which("crun");
  Row c = MakeRow("crun run (rootless bundle, busybox)", "crun", {});
  if (crun.empty()) {
    c.skipped = "crun is not installed";
  } else {
    std::string why;
    std::string bundle = CrunBundle(o.work_dir, crun, why);
    if (bundle.empty()) {
      c.skipped = why;
    } else {
      c.command = {crun,
                   "--root",
                   o.work_dir + "/crun-state",
                   "--cgroup-manager=disabled",
                   "run",
                   "--bundle",
                   bundle,
                   "gaol-bench"};
    }
  }
  rows.push_back(c);
  for (const char* tool : {"nsjail", "firejail"}) {
    std::string path = Which(tool);
    if (path.empty()) continue;  // optional peers: a row only where installed
    if (std::string(tool) == "nsjail") {
      rows.push_back(MakeRow("nsjail -Mo (default namespaces)", "nsjail",
                             {path, "-Mo", "-q", "--chroot", "/", "--", "/bin/true"}));
    } else {
      rows.push_back(MakeRow("firejail --noprofile", "firejail",
                             {path, "--quiet", "--noprofile", "/bin/true"}));
    }
  }
  // gaol, one isolation layer added per row. user+mount are gaol's floor (the root it builds).
  const std::vector<std::string> off = {"--security-opt", "seccomp=unconfined", "--landlock",
                                        "off"};
  struct Level {
    const char* name;
    std::vector<std::string> flags;
    bool cgroup = false, security = false;
  };
  std::vector<Level> levels = {
      {"gaol: user + mount ns", {"--share", "ipc,uts,pid,cgroup", "--network", "host"}},
      {"gaol: + pid ns", {"--share", "ipc,uts,cgroup", "--network", "host"}},
      {"gaol: + ipc, uts ns", {"--share", "cgroup", "--network", "host"}},
      {"gaol: + cgroup ns", {"--network", "host"}},
      {"gaol: + net ns (all 7)", {}},
      {"gaol: + cgroup leaf", {}, true},
      {"gaol: + seccomp default", {}, true, true},
      {"gaol: full default (+ Landlock)", {}, true, true},
  };
  for (std::size_t i = 0; i < levels.size(); ++i) {
    const Level& l = levels[i];
    std::vector<std::string> command = {o.gaol, "run", "-q"};
    command.insert(command.end(), l.flags.begin(), l.flags.end());
    if (l.cgroup && !o.cgroup_parent.empty()) {
      command.push_back("--cgroup-parent");
      command.push_back(o.cgroup_parent);
    }
    bool last = i + 1 == levels.size();
    if (!l.security) command.insert(command.end(), off.begin(), off.end());
    if (l.security && !last) command.insert(command.end(), {"--landlock", "off"});
    command.insert(command.end(), {"--", "/bin/true"});
    Row r = MakeRow(l.name, "gaol", command);
    if (l.cgroup && o.cgroup_parent.empty()) {
      if (std::string(l.name) == "gaol: + cgroup leaf") {
        r.skipped = "no delegated cgroup given (--cgroup-parent DIR)";
      }
    }
    rows.push_back(std::move(r));
  }
  // The full default again, on a sandbox built before the sample's clock starts: what a job of
  // gaol serve's pool costs from its arrival to its end (in this process, no gaol binary started).
  rows.push_back(MakeRow("gaol: full default, warm (pre-built)", "gaol-warm", {}));
  return rows;
}

// One warm sample: the sandbox built off the clock, then the job on it timed to its exit report
// (as `gaol run` returns then); PID 1's teardown is waited for off the clock.
Sample RunWarmOnce(bool capture_err) {
  Sample s;
  JobSpec spec;
  spec.command = {"/bin/true"};
  auto built = BuildWarmSandbox(spec);
  if (!built) {
    s.status = 125;
    if (capture_err) s.err = built.error().Message();
    return s;
  }
  UniqueFd null(open("/dev/null", O_RDWR | O_CLOEXEC));
  CallerStdio stdio{null.Get(), null.Get(), null.Get()};
  stdio.wait_for_teardown = false;
  auto start = std::chrono::steady_clock::now();
  auto result = RunWarm(**built, spec, stdio);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  built->reset();
  // The released PID 1 (and only it: no other child runs now) reaped before the next sample.
  while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  s.status = result ? result->ExitStatus() : 125;
  if (capture_err && result && result->error) s.err = result->error->Message();
  if (capture_err && !result) s.err = "the pre-built sandbox did not fit its own spec";
  return s;
}

Sample RunRow(const Row& row, bool capture_err) {
  return row.tool == "gaol-warm" ? RunWarmOnce(capture_err) : RunOnce(row.command, capture_err);
}

Result<StartReport> RunStart(const StartOptions& o) {
  StartReport report;
  report.host = DescribeHost();
  if (o.cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*o.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      return Invalid(fmt::format("--cpu `{}`", *o.cpu), "a CPU this process may run on");
    }
    report.host.pinned_cpu = *o.cpu;
  }
  report.rows = StartRows(o);
  // Each row once, as a check: a tool that cannot run here is skipped with its own words.
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    Row& row = report.rows[i];
    if (!row.skipped.empty()) continue;
    Sample s = RunRow(row, true);
    if (s.status != 0) {
      row.skipped =
          fmt::format("exit status {}: {}", s.status, s.err.empty() ? "no message" : s.err);
      continue;
    }
    live.push_back(i);
  }
  std::vector<std::vector<double>> samples(report.rows.size());
  constexpr std::size_t kWarmup = 3;
  std::size_t total = o.rounds + kWarmup;
  for (std::size_t round = 0; round < total; ++round) {
    for (std::size_t k : RoundOrder(live.size(), round)) {
      std::size_t i = live[k];
      Sample s = RunRow(report.rows[i], false);
      if (round >= kWarmup && s.status == 0) samples[i].push_back(s.seconds);
    }
    if (o.progress) ShowProgress(round + 1, total);
  }
  report.rounds = o.rounds;
  const Row* floor = nullptr;
  const Row* bwrap = nullptr;
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    Row& row = report.rows[i];
    if (!row.skipped.empty()) continue;
    row.seconds = Summarise(samples[i]);
    row.samples = std::move(samples[i]);
    if (row.tool == "floor") floor = &row;
    if (row.tool == "bwrap") bwrap = &row;
  }
  for (auto& row : report.rows) {
    if (!row.skipped.empty()) continue;
    if (floor) row.ratio_to_floor = Ratio(row.seconds.p50, floor->seconds.p50);
    if (bwrap) row.ratio_to_bwrap = Ratio(row.seconds.p50, bwrap->seconds.p50);
  }
  return report;
}

}  // namespace gaol::bench
