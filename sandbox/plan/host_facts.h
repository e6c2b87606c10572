// The parent's look at the host before planning: the host view's entries, the caller's
// subordinate ID ranges, and the paths the spec names. Anything missing here fails with exit 125
// before anything is created.
#pragma once

#include "sandbox/plan/plan.h"

namespace gaol {

// `may_ask_systemd` false: never asks systemd for a scope (which moves the calling process into
// it), as a process that only plans sandboxes others built must not (gaol serve's server).
Result<HostFacts> GatherHostFacts(const JobSpec& spec, bool may_ask_systemd = true);
// Whether GatherHostFacts looks for a cgroup for `spec` (it asks for what needs one).
bool LooksForCgroup(const JobSpec& spec);

// "name:start:count" lines of /etc/subuid for this user (by name or numeric uid).
std::vector<IdRange> ParseSubordinateIds(const std::string& text, const std::string& user,
                                         uid_t uid);

}  // namespace gaol
