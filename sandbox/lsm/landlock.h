// Landlock: a ruleset derived from the mount plan (the job may write only beneath the mounts it
// was given writable), scoped so the job can neither reach abstract Unix sockets nor signal
// processes outside its own domain (ABI 6+). Planned in the parent; applied by the job before
// the seccomp filter, with raw syscalls and no allocation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gaol::landlock {

// LANDLOCK_SCOPE_* (ABI 6), which Debian 12's headers predate.
inline constexpr std::uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
inline constexpr std::uint64_t kScopeSignal = 1ULL << 1;
// The newest ABI whose rights and scopes gaol applies (a newer kernel's are used as this one's).
inline constexpr int kNewestAbi = 6;

struct LandlockPlan {
  int abi = 0;                        // the kernel's Landlock ABI; 0: none (nothing applied)
  std::uint64_t handled_fs = 0;       // write-type rights this ABI knows, refused by default
  std::uint64_t scoped = 0;           // LANDLOCK_SCOPE_* (ABI 6+)
  std::vector<std::string> writable;  // paths inside the new root where writes stay allowed
};

// The kernel's Landlock ABI version (0 when it has none or it is disabled).
int Abi();

// The write-type access rights of `abi`.
std::uint64_t WriteRights(int abi);

// 0, or an errno with `*what` naming the call that failed.
int ApplyInChild(const LandlockPlan& plan, const char** what) noexcept;

}  // namespace gaol::landlock
