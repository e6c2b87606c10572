// Where the running binary is, and its companions: gaol, gaol-serve, gaol-bench and
// gaol-metrics.so sit side by side in the build tree; installed, gaol is in bin/ and the others in
// lib/gaol/.
#pragma once

#include <unistd.h>

#include <string>

namespace gaol {

// The running executable's path (/proc/self/exe), or `fallback`.
inline std::string SelfPath(const std::string& fallback) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : fallback;
}

inline std::string SelfDir() {
  std::string exe = SelfPath("./gaol");
  return exe.substr(0, exe.rfind('/'));
}

// gaol itself, from a companion: beside it, or ../../bin/gaol; "gaol" (PATH) when neither is.
inline std::string FindGaolBinary() {
  std::string dir = SelfDir();
  for (const std::string& path : {dir + "/gaol", dir + "/../../bin/gaol"}) {
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "gaol";
}

}  // namespace gaol
