// gaol profile list | show NAME: the built-in seccomp profiles, what they compile to, and their
// JSON (to start a profile of one's own from).
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "sandbox/cli/commands.h"
#include "sandbox/common/self.h"
#include "sandbox/seccomp/baked.h"
#include "sandbox/seccomp/profile.h"

namespace gaol::cli {

int ProfileList() {
  std::printf("%-10s %-24s %-12s %s\n", "NAME", "DEFAULT ACTION", "BPF", "ABOUT");
  for (auto name : seccomp::BuiltinProfileNames()) {
    auto text = seccomp::BuiltinProfile(name);
    auto doc = nlohmann::json::parse(*text, nullptr, false);
    auto filter = seccomp::BakedBuiltin(name);
    std::string about = doc.value("comment", "");
    if (auto dot = about.find(". "); dot != std::string::npos) about = about.substr(0, dot + 1);
    std::string bpf = filter ? std::to_string(filter->main.size() + filter->overlay.size()) : "?";
    std::printf("%-10.*s %-24s %-12s %s\n", static_cast<int>(name.size()), name.data(),
                doc.value("defaultAction", "").c_str(), (bpf + " insns").c_str(), about.c_str());
  }
  std::printf("%-10s %-24s %-12s %s\n", "unconfined", "SCMP_ACT_ALLOW", "-",
              "No filter (--security-opt seccomp=unconfined).");
  // Installed, the same JSON lies in share/gaol/seccomp: a copy to edit and pass as a FILE.
  std::string dir = SelfDir() + "/../share/gaol/seccomp";
  if (char real[PATH_MAX]; access(dir.c_str(), R_OK | X_OK) == 0 && realpath(dir.c_str(), real)) {
    std::printf("\nThe same profiles as files, to start one's own from (seccomp=FILE): %s/\n",
                real);
  }
  return 0;
}

int ProfileShow(const std::string& name) {
  auto text = seccomp::BuiltinProfile(name);
  if (!text) {
    std::string names;
    for (auto n : seccomp::BuiltinProfileNames())
      names += (names.empty() ? "" : ", ") + std::string(n);
    return ReportUsageError(
        Invalid("profile `" + name + "`", "a built-in profile (" + names + ")").value());
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace gaol::cli
