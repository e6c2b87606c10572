#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gaol {

// "/a/b": absolute, no empty, "." or ".." component, no trailing slash (except "/" itself).
bool IsCleanAbsolutePath(std::string_view path);
// "/a/b/c" -> {"a", "b", "c"}; "/" -> {}.
std::vector<std::string> PathComponents(std::string_view path);
// "/a/b/c" -> "/a/b"; "/a" -> "/".
std::string ParentPath(std::string_view path);

}  // namespace gaol
