// The file and word helpers `gaol check`'s items share (check_internal.h).
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "sandbox/check/check_internal.h"
#include "sandbox/common/unique_fd.h"

namespace gaol::check {
namespace {

constexpr size_t kMaxFileBytes = 16 << 20;  // mountinfo of a busy host stays far below this

}  // namespace

FileText ReadFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return {errno, {}};
  FileText out;
  char buf[4096];
  while (out.text.size() < kMaxFileBytes) {
    ssize_t n = ::read(fd.Get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {errno, {}};
    if (n == 0) break;
    out.text.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  return std::string(s.substr(first, s.find_last_not_of(" \t\n") - first + 1));
}

std::vector<std::string> SplitWords(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = std::min(s.find(sep, pos), s.size());
    if (std::string word = Trim(s.substr(pos, end - pos)); !word.empty()) out.push_back(word);
    pos = end + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& words, std::string_view sep) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : std::string(sep)) + w;
  return out;
}

std::vector<std::string> Lacking(const std::vector<std::string>& have,
                                 std::initializer_list<const char*> wanted) {
  std::vector<std::string> out;
  for (const char* w : wanted) {
    if (std::find(have.begin(), have.end(), w) == have.end()) out.push_back(w);
  }
  return out;
}

std::string Problem(const std::string& path, int err) {
  if (err == ENOENT) return path + " absent";
  return fmt::format("{}: {}", path, std::strerror(err));
}

}  // namespace gaol::check
