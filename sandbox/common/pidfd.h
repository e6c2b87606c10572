// Whether the process behind a pidfd is still running, without waiting: a pidfd turns readable
// when its process exits (before it is reaped).
#pragma once

#include <poll.h>

namespace gaol {

// True once the process has exited; an invalid pidfd (-1) counts as exited.
inline bool ProcessExited(int pidfd) noexcept {
  if (pidfd < 0) return true;
  pollfd p = {pidfd, POLLIN, 0};
  return poll(&p, 1, 0) != 0;
}

}  // namespace gaol
