// seccomp profiles in the OCI / Docker `linux.seccomp` JSON format, as Docker and Podman ship
// them: read strictly (every field known, every value checked, errors name the field), compiled
// elsewhere (compile.h). Facility module: it never reads the job spec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/common/error.h"

namespace gaol::seccomp {

enum class Action { kAllow, kErrno, kKillProcess, kKillThread, kTrap, kTrace, kLog };

// SCMP_CMP_* in libseccomp's numbering (enum scmp_compare), kept here as plain ints so this
// header does not pull in seccomp.h.
struct ArgCompare {
  unsigned index = 0;
  std::uint64_t value = 0;
  std::uint64_t value_two = 0;
  int op = 0;
};

// A rule applies only where its `includes` hold and its `excludes` do not (Docker's semantics:
// every cap of `includes` kept, none of `excludes`; the native architecture among `arches`;
// the kernel at least `min_kernel`).
struct Condition {
  std::vector<std::string> caps;
  std::vector<std::string> arches;
  std::optional<std::string> min_kernel;
};

struct Rule {
  std::vector<std::string> names;
  Action action = Action::kAllow;
  std::uint32_t errno_ret = 1;  // EPERM, for kErrno and kTrace
  std::vector<ArgCompare> args;
  Condition includes, excludes;
};

struct ArchMapEntry {
  std::string architecture;
  std::vector<std::string> sub_architectures;
};

struct Profile {
  std::string name;  // the built-in's name, or the file's path
  Action default_action = Action::kErrno;
  std::uint32_t default_errno = 1;
  std::vector<std::string> architectures;  // SCMP_ARCH_* names
  std::vector<ArchMapEntry> arch_map;
  std::vector<std::string> flags;  // SECCOMP_FILTER_FLAG_* names
  std::vector<Rule> rules;
};

// `name` is what error messages call the profile.
Result<Profile> ParseProfile(std::string_view text, const std::string& name);

std::string_view ActionName(Action action);

// libseccomp's token for an SCMP_ARCH_* name; 0 for one this libseccomp does not know.
std::uint32_t ResolveArch(std::string_view name);

// The profiles built into gaol (profiles/seccomp/*.json, embedded at build time).
std::optional<std::string_view> BuiltinProfile(std::string_view name);
std::vector<std::string_view> BuiltinProfileNames();

}  // namespace gaol::seccomp
