#include "sandbox/launch/child_report.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace gaol {

std::uint64_t MonotonicNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

bool ChildFail(ChildReport& report, Step step, int err, const char* fmt, ...) noexcept {
  report.kind = ChildReport::kError;
  report.step = static_cast<std::uint32_t>(step);
  report.err = err;
  va_list args;
  va_start(args, fmt);
  vsnprintf(report.detail, sizeof(report.detail), fmt, args);
  va_end(args);
  return false;
}

void SendReport(const ChildReport& report) noexcept { SendReportOn(kReportFd, report); }

void SendReportOn(int fd, const ChildReport& report) noexcept {
  // One message. Nothing to do if it fails; the parent then sees EOF without a record, which it
  // treats as a failure too.
  ssize_t n;
  do {
    n = write(fd, &report, sizeof(report));
  } while (n < 0 && errno == EINTR);
}

void SendDescriptor(ChildReport& report, ChildReport::Kind kind, int fd) noexcept {
  std::uint32_t was = report.kind;
  report.kind = kind;
  iovec iov = {&report, sizeof(report)};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  while (sendmsg(kReportFd, &msg, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
  report.kind = was;
}

}  // namespace gaol
