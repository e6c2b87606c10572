#include "tests/integration/harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace gaol::it {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  if (!value)
    throw std::runtime_error(std::string(name) + " is not set (run via run-unprivileged.sh)");
  return value;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Reads the three pipes until all reach EOF.
void Pump(int out_fd, int err_fd, int result_fd, pid_t pid, GaolRun& run, std::string& result_text,
          const std::function<void(pid_t, const std::string&)>& on_output) {
  pollfd fds[3] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {result_fd, POLLIN, 0}};
  std::string* sinks[3] = {&run.out, &run.err, &result_text};
  int open = 3;
  while (open > 0) {
    int ready = poll(fds, 3, 60000);
    if (ready < 0 && errno == EINTR) continue;  // a test's own signal handler ran
    if (ready <= 0) throw std::runtime_error("gaol produced nothing for 60 s");
    for (int i = 0; i < 3; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      sinks[i]->append(buf, static_cast<std::size_t>(n));
      if (i == 0 && on_output) on_output(pid, run.out);
    }
  }
}

}  // namespace

const std::string& GaolBin() {
  static const std::string path = Env("GAOL_BIN");
  return path;
}

const std::string& ProbeDir() {
  static const std::string path = Env("GAOL_PROBE_DIR");
  return path;
}

nlohmann::json GaolRun::Probe() const {
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line[0] == '{') return nlohmann::json::parse(line, nullptr, false);
  }
  return nullptr;
}

namespace {
std::string gaol_cgroup;

// gaol's stdin: /dev/null, or `tty` (its controlling terminal too, when `make_ctty`).
GaolRun RunGaolWithStdin(const std::vector<std::string>& args,
                         const std::function<void(pid_t pid, const std::string& out)>& on_output,
                         int tty, bool make_ctty = true) {
  int out[2], err[2], res[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(res, O_CLOEXEC))
    throw std::runtime_error("pipe2");
  std::vector<std::string> argv_strings = {GaolBin(), "run", "--result-fd", "3"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::string procs = gaol_cgroup.empty() ? "" : gaol_cgroup + "/cgroup.procs";
  pid_t pid = fork();
  if (pid == 0) {
    if (!procs.empty()) {
      int fd = open(procs.c_str(), O_WRONLY);
      if (fd < 0 || write(fd, "0", 1) != 1) _exit(98);
      close(fd);
    }
    if (tty >= 0) {
      if (make_ctty) {
        setsid();
        ioctl(tty, TIOCSCTTY, 0);
      }
      dup2(tty, 0);
    } else {
      dup2(open("/dev/null", O_RDONLY), 0);
    }
    dup2(out[1], 1);
    dup2(err[1], 2);
    dup2(res[1], 3);
    execv(argv[0], argv.data());
    _exit(99);
  }
  close(out[1]);
  close(err[1]);
  close(res[1]);
  GaolRun run;
  std::string result_text;
  Pump(out[0], err[0], res[0], pid, run, result_text, on_output);
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (!result_text.empty()) run.result = nlohmann::json::parse(result_text, nullptr, false);
  return run;
}

}  // namespace

void SetGaolCgroup(const std::string& dir) { gaol_cgroup = dir; }

std::string ReadToEnd(int fd) {
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  return out;
}

GaolRun RunGaol(const std::vector<std::string>& args,
                const std::function<void(pid_t pid, const std::string& out)>& on_output) {
  return RunGaolWithStdin(args, on_output, -1);
}

GaolRun RunGaolOnTty(const std::vector<std::string>& args, int tty) {
  return RunGaolWithStdin(args, {}, tty);
}

GaolRun RunGaolWithStdinFd(const std::vector<std::string>& args, int fd) {
  return RunGaolWithStdin(args, {}, fd, false);
}

GaolRun RunProbe(const std::vector<std::string>& flags,
                 const std::vector<std::string>& probe_args) {
  std::vector<std::string> args = {"--ro-bind", ProbeDir(), "/probe"};
  args.insert(args.end(), flags.begin(), flags.end());
  args.push_back("--");
  args.push_back("/probe/gaol-probe");
  args.insert(args.end(), probe_args.begin(), probe_args.end());
  return RunGaol(args);
}

namespace {

Leftovers TakeLeftoversOnce() {
  Leftovers left;
  std::string self = std::to_string(getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos || name == self) continue;
    std::string cmdline = ReadFile("/proc/" + name + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.starts_with(GaolBin() + " run")) left.processes.push_back(name + ": " + cmdline);
    std::string status = ReadFile("/proc/" + name + "/status");
    // A zombie is a process that ended: an orphan reparented to this (subreaper) test process by
    // an earlier test in the same run, not something left running.
    if (status.find("\nPPid:\t" + self + "\n") != std::string::npos &&
        status.find("\nState:\tZ") == std::string::npos)
      left.children.push_back(name + ": " + cmdline);
  }
  std::string mounts = ReadFile("/proc/self/mountinfo");
  left.mounts = static_cast<std::size_t>(std::count(mounts.begin(), mounts.end(), '\n'));
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)entry;
    ++left.fds;
  }
  return left;
}

}  // namespace

// gaol run exits once PID 1 has reported the job's end (every process of the job reaped), not
// after PID 1's own exit, in which the kernel tears its namespaces down: that PID 1 may still be
// seen for a moment. Gone within two seconds, it was not left running.
Leftovers TakeLeftovers() {
  Leftovers left = TakeLeftoversOnce();
  for (int i = 0; i < 200 && (!left.processes.empty() || !left.children.empty()); ++i) {
    usleep(10'000);
    left = TakeLeftoversOnce();
  }
  return left;
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) old_ = old;
  if (value) {
    setenv(name, value, 1);
  } else {
    unsetenv(name);
  }
}

ScopedEnv::~ScopedEnv() {
  if (old_) {
    setenv(name_, old_->c_str(), 1);
  } else {
    unsetenv(name_);
  }
}

std::string ReadText(const std::string& path) { return ReadFile(path); }

pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    // A daemon a test starts (gaol serve, Prometheus) dies with the test, however it ends.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(out_fd >= 0 ? out_fd : null, 1);
    dup2(err_fd >= 0 ? err_fd : null, 2);
    // Nothing else of the test process (or of whatever started it: ctest leaves some open).
    close_range(3, ~0U, 0);
    execvp(args[0], args.data());
    _exit(127);
  }
  return pid;
}

bool Sanitized() {
  const char* v = std::getenv("GAOL_SANITIZED");
  return v && std::string(v) == "1";
}

std::string MakeTempDir(mode_t mode) {
  char templ[] = "/tmp/gaol-it-XXXXXX";
  if (!mkdtemp(templ)) throw std::runtime_error("mkdtemp");
  chmod(templ, mode);
  return templ;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

}  // namespace gaol::it
