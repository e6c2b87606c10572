#include "sandbox/spec/paths.h"

namespace gaol {

std::vector<std::string> PathComponents(std::string_view path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

bool IsCleanAbsolutePath(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string_view::npos) return false;
  if (path == "/") return true;
  if (path.back() == '/' || path.find("//") != std::string_view::npos) return false;
  for (const auto& part : PathComponents(path)) {
    if (part == "." || part == "..") return false;
  }
  return path.size() < 4096;
}

std::string ParentPath(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash == 0 || slash == std::string_view::npos) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace gaol
