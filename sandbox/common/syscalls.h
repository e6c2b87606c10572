// Thin wrappers for syscalls whose glibc declarations are unusable here (glibc 2.36's
// <sys/pidfd.h> lacks extern "C", so its functions do not link from C++).
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

namespace gaol {

inline int PidfdSendSignal(int pidfd, int sig) noexcept {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace gaol
