// Step kIdMap, from the parent: the child waits on the sync pipe until this is done.
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sandbox/common/unique_fd.h"
#include "sandbox/launch/launch.h"

extern char** environ;

namespace gaol {
namespace {

Status WriteProcFile(int proc_dir, const char* name, const std::string& content) {
  UniqueFd fd(openat(proc_dir, name, O_WRONLY | O_CLOEXEC));
  if (!fd) return Fail(Step::kIdMap, fmt::format("open {}", name), content);
  ssize_t n = write(fd.Get(), content.data(), content.size());
  if (n != static_cast<ssize_t>(content.size())) {
    return Fail(Step::kIdMap, fmt::format("write {}", name), content.substr(0, content.find('\n')));
  }
  return {};
}

// Runs newuidmap/newgidmap PID INSIDE OUTSIDE COUNT...; its complaint becomes the error detail.
Status RunMapHelper(const char* helper, pid_t pid, const std::vector<std::string>& ranges) {
  std::string path = fmt::format("/usr/bin/{}", helper);
  std::vector<std::string> args = {helper, std::to_string(pid)};
  args.insert(args.end(), ranges.begin(), ranges.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Fail(Step::kIdMap, "pipe2", helper);
  UniqueFd err_r(fds[0]), err_w(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_w.Get(), STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t helper_pid;
  int rc = posix_spawn(&helper_pid, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  err_w.Reset();
  if (rc != 0) {
    errno = rc;
    return Fail(Step::kIdMap, fmt::format("run {} (apt-get install uidmap)", helper), path, rc);
  }
  char buf[512];
  std::string complaint;
  for (ssize_t n; (n = read(err_r.Get(), buf, sizeof(buf))) > 0;)
    complaint.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  while (waitpid(helper_pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  if (auto nl = complaint.find('\n'); nl != std::string::npos) complaint.resize(nl);
  std::string object = fmt::format("{} {}", helper, fmt::join(ranges, " "));
  if (!complaint.empty()) object += " — " + complaint;
  return Fail(Step::kIdMap, "map ID ranges (check /etc/subuid and /etc/subgid)", object, EPERM);
}

}  // namespace

Status WriteIdMapsFromParent(pid_t pid, const IdMapPlan& maps) {
  if (maps.use_helpers) {
    if (auto s = RunMapHelper("newuidmap", pid, maps.newuidmap_args); !s) return s;
    return RunMapHelper("newgidmap", pid, maps.newgidmap_args);
  }
  UniqueFd proc(open(fmt::format("/proc/{}", pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!proc) return Fail(Step::kIdMap, "open", fmt::format("/proc/{}", pid));
  // An unprivileged writer may map only its own IDs, and the gid map only once setgroups is
  // denied (otherwise dropping a group with setgroups could grant access: CVE-2014-8989).
  return WriteProcFile(proc.Get(), "uid_map", maps.uid_map)
      .and_then([&] { return WriteProcFile(proc.Get(), "setgroups", "deny"); })
      .and_then([&] { return WriteProcFile(proc.Get(), "gid_map", maps.gid_map); });
}

}  // namespace gaol
