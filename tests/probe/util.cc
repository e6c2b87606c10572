#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>

#include "tests/probe/probe.h"

namespace gaol::probe {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v'; }

// Writes all of [data, data + len) to fd; returns 0 or the failing errno.
int WriteAll(int fd, const char* data, size_t len) noexcept {
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

template <typename T>
T ParseWhole(std::string_view arg, std::string_view what) {
  T value{};
  const char* end = arg.data() + arg.size();
  auto [ptr, ec] = std::from_chars(arg.data(), end, value);
  if (arg.empty() || ec != std::errc() || ptr != end) {
    throw UsageError("bad " + std::string(what) + " '" + std::string(arg) + "'");
  }
  return value;
}

}  // namespace

std::string ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
  return "errno_" + std::to_string(err);
}

Json ErrnoOrNull(int err) {
  if (err == 0) return nullptr;
  return ErrnoName(err);
}

void FailErrno(std::string_view what) {
  int err = errno;
  throw ProbeError(std::string(what) + ": " + ErrnoName(err) + " (" + strerror(err) + ")");
}

void Emit(const Json& j) noexcept {
  std::string line;
  try {
    line = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    line += '\n';
  } catch (...) {
    line = "{\"error\":\"cannot serialise the result\"}\n";
  }
  WriteAll(STDOUT_FILENO, line.data(), line.size());
}

int WriteRepeated(int fd, char ch, uint64_t total, uint64_t* written) noexcept {
  static char chunk[kChunkSize];
  memset(chunk, ch, sizeof(chunk));
  *written = 0;
  while (*written < total) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(total - *written, sizeof(chunk)));
    ssize_t n = write(fd, chunk, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    *written += static_cast<uint64_t>(n);
  }
  return 0;
}

std::optional<std::string> ReadFile(const std::string& path, int* err) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *err = errno;
    return std::nullopt;
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *err = errno;
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  *err = 0;
  return text;
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    lines.emplace_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::vector<std::string> SplitFields(std::string_view text) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    if (i > start) fields.emplace_back(text.substr(start, i - start));
  }
  return fields;
}

std::string Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return std::string(text);
}

uint64_t ParseCount(std::string_view arg) { return ParseWhole<uint64_t>(arg, "count"); }

int ParseExitCode(std::string_view arg) {
  int code = ParseWhole<int>(arg, "exit code");
  if (code < 0 || code > 255) throw UsageError("exit code out of range 0..255");
  return code;
}

double ParseSeconds(std::string_view arg) {
  double seconds = ParseWhole<double>(arg, "seconds");
  if (!std::isfinite(seconds) || seconds < 0) throw UsageError("seconds must be >= 0");
  return seconds;
}

void SleepFor(double seconds) noexcept {
  double whole = std::floor(seconds);
  timespec left{static_cast<time_t>(whole), static_cast<long>((seconds - whole) * 1e9)};
  while (nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

double MonotonicNow() noexcept {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

pid_t WaitFor(pid_t pid, int* status, int options) noexcept {
  pid_t r;
  do {
    r = waitpid(pid, status, options);
  } while (r < 0 && errno == EINTR);
  return r;
}

}  // namespace gaol::probe
