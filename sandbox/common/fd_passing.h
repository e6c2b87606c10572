// One message with its descriptors (SCM_RIGHTS) over a Unix socket. Allocation-free and noexcept:
// gaol's parent side and the sandbox's PID 1 (between clone and exec) use the same code.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>

namespace gaol {

inline constexpr std::size_t kMaxPassedFds = 5;

// Sends `len` bytes with `nfds` (at most kMaxPassedFds) descriptors; retries EINTR. True when the
// whole message went.
bool SendWithFds(int sock, const void* data, std::size_t len, const int* fds,
                 std::size_t nfds) noexcept;

// The descriptors a received message carried (CLOEXEC if it was received with MSG_CMSG_CLOEXEC):
// the first `max` to `fds`, their count returned; any more are closed.
std::size_t TakeFds(msghdr& msg, int* fds, std::size_t max) noexcept;

// Receives into `data` (MSG_CMSG_CLOEXEC); the descriptors that came with it to `fds` (up to
// `max`, the rest closed, their count in *nfds). Returns the byte count, 0 at EOF, -1 on error.
ssize_t ReceiveWithFds(int sock, void* data, std::size_t len, int* fds, std::size_t max,
                       std::size_t* nfds) noexcept;

}  // namespace gaol
