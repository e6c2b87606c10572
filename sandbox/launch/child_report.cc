#include "sandbox/launch/child_report.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "sandbox/common/fd_passing.h"

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
  SendWithFds(kReportFd, &report, sizeof(report), &fd, 1);
  report.kind = was;
}

}  // namespace gaol
