// Ending every descendant of a child subreaper (PR_SET_CHILD_SUBREAPER): its children are killed,
// theirs are reparented to it as they die and are killed in turn, until none is left. Used where
// no pid namespace does it for gaol (--share pid): by PID 1 once the job has ended, and by gaol
// once PID 1 has (a wall-time kill takes PID 1 alone). Allocates nothing: PID 1 runs it too.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace gaol {

// Kills and reaps every child (and so, as a subreaper, every descendant) of this process.
inline void KillAllDescendants() noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/children", static_cast<int>(gettid()));
  for (;;) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[4096];
      ssize_t n;
      long pid = 0;
      while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; ++i) {
          if (buf[i] >= '0' && buf[i] <= '9') {
            pid = pid * 10 + (buf[i] - '0');
          } else if (pid > 0) {
            kill(static_cast<pid_t>(pid), SIGKILL);
            pid = 0;
          }
        }
      }
      if (pid > 0) kill(static_cast<pid_t>(pid), SIGKILL);
      close(fd);
    }
    // One reaped; whatever it left is ours now, killed on the next turn.
    pid_t got = waitpid(-1, nullptr, __WALL);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return;  // ECHILD: nothing left
  }
}

}  // namespace gaol
