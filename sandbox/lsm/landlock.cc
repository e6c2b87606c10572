#include "sandbox/lsm/landlock.h"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace gaol::landlock {
namespace {

// Newer than Debian 12's headers (6.1): the full attribute struct and the later rights.
struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;  // ABI 4
  std::uint64_t scoped;              // ABI 6
};
constexpr std::uint64_t kTruncate = 1ULL << 14;  // ABI 3

// Rights that make sense on a file (the rest apply to directories only).
constexpr std::uint64_t kFileRights = LANDLOCK_ACCESS_FS_WRITE_FILE | kTruncate;

}  // namespace

int Abi() {
  long abi = syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi > 0 ? static_cast<int>(abi) : 0;
}

std::uint64_t WriteRights(int abi) {
  if (abi < 1) return 0;
  std::uint64_t rights = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
                         LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
                         LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                         LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
                         LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= kTruncate;
  return rights;
}

int ApplyInChild(const LandlockPlan& plan, const char** what) noexcept {
  if (plan.abi < 1) return 0;
  RulesetAttr attr = {plan.handled_fs, 0, plan.abi >= 6 ? plan.scoped : 0};
  // Older kernels take the shorter struct (the fields they know).
  std::size_t size = plan.abi >= 6 ? sizeof(attr) : sizeof(attr.handled_access_fs);
  int ruleset = static_cast<int>(syscall(SYS_landlock_create_ruleset, &attr, size, 0));
  if (ruleset < 0) {
    *what = "landlock_create_ruleset";
    return errno;
  }
  int err = 0;
  for (const std::string& path : plan.writable) {
    int fd = open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;  // a symlinked or absent target: nothing to allow
    struct stat st;
    bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    landlock_path_beneath_attr rule = {plan.handled_fs & (dir ? ~0ULL : kFileRights), fd};
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
      err = errno;
      *what = "landlock_add_rule";
    }
    close(fd);
    if (err) break;
  }
  if (!err && syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    err = errno;
    *what = "landlock_restrict_self";
  }
  close(ruleset);
  return err;
}

}  // namespace gaol::landlock
