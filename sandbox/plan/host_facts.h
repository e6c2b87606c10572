// The parent's look at the host before planning: the host view's entries, the caller's
// subordinate ID ranges, and the paths the spec names. Anything missing here fails with exit 125
// before anything is created.
#pragma once

#include "sandbox/plan/plan.h"

namespace gaol {

Result<HostFacts> GatherHostFacts(const JobSpec& spec);
// Whether GatherHostFacts looks for a cgroup for `spec` (it asks for what needs one).
bool LooksForCgroup(const JobSpec& spec);

// "name:start:count" lines of /etc/subuid for this user (by name or numeric uid).
std::vector<IdRange> ParseSubordinateIds(const std::string& text, const std::string& user,
                                         uid_t uid);

}  // namespace gaol
