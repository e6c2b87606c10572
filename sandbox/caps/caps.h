// Capabilities. Names are resolved in the parent with libcap; the job applies the plan's mask
// with raw prctl/capset calls (between clone and exec nothing allocates, and libcap does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/common/error.h"

namespace gaol::caps {

// Docker's names ("NET_BIND_SERVICE", "CAP_NET_BIND_SERVICE", any case; "ALL") to a mask.
Result<std::uint64_t> MaskFromNames(const std::vector<std::string>& names, const std::string& flag,
                                    int last_cap);
// The canonical name ("NET_BIND_SERVICE") of a capability number.
std::string NameOf(int cap);
// The highest capability this kernel knows (libcap reads /proc/sys/kernel/cap_last_cap).
int LastCap();

// In the job, just before exec: keeps exactly `keep` in every set (bounding, inheritable,
// permitted, effective, and ambient so that a non-root uid keeps them across exec), and locks
// the securebits so that neither uid 0 nor a setuid transition gives any back. Returns 0 or an
// errno; *what names the failing call.
int ApplyInChild(std::uint64_t keep, int last_cap, const char** what) noexcept;

}  // namespace gaol::caps
