#include "sandbox/caps/caps.h"

#include <fmt/format.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>

namespace gaol::caps {

int LastCap() { return static_cast<int>(cap_max_bits()) - 1; }

std::string NameOf(int cap) {
  char* name = cap_to_name(static_cast<cap_value_t>(cap));
  std::string out = name ? name : std::to_string(cap);
  cap_free(name);
  if (out.starts_with("cap_")) out = out.substr(4);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::toupper(c); });
  return out;
}

Result<std::uint64_t> MaskFromNames(const std::vector<std::string>& names, const std::string& flag,
                                    int last_cap) {
  std::uint64_t mask = 0;
  for (const auto& given : names) {
    std::string name = given;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (name == "all") {
      mask |= (last_cap >= 63 ? ~0ULL : (1ULL << (last_cap + 1)) - 1);
      continue;
    }
    if (!name.starts_with("cap_")) name = "cap_" + name;
    cap_value_t cap;
    if (cap_from_name(name.c_str(), &cap) != 0 || cap > last_cap) {
      return Invalid(fmt::format("{} `{}`", flag, given),
                     "a capability name such as NET_BIND_SERVICE, or ALL");
    }
    mask |= 1ULL << cap;
  }
  return mask;
}

namespace {

int Capset(std::uint64_t effective, std::uint64_t permitted, std::uint64_t inheritable) noexcept {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<std::uint32_t>(effective >> (32 * i));
    data[i].permitted = static_cast<std::uint32_t>(permitted >> (32 * i));
    data[i].inheritable = static_cast<std::uint32_t>(inheritable >> (32 * i));
  }
  return static_cast<int>(syscall(SYS_capset, &header, data));
}

}  // namespace

int ApplyInChild(std::uint64_t keep, int last_cap, const char** what) noexcept {
  std::uint64_t all = last_cap >= 63 ? ~0ULL : (1ULL << (last_cap + 1)) - 1;
  // Ambient capabilities must be permitted and inheritable before they can be raised.
  if (Capset(all, all, keep) != 0) return *what = "capset (inheritable)", errno;
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return *what = "clear ambient capabilities", errno;
  for (int cap = 0; cap <= last_cap; ++cap) {
    if ((keep >> cap) & 1) {
      if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0)
        return *what = "raise an ambient capability", errno;
    } else if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      return *what = "drop from the bounding set", errno;
    }
  }
  // uid 0 inside gets nothing for being root, setuid transitions change no capability, and none
  // of this can be undone (the LOCKED bits), nor ambient capabilities raised again.
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                       SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) return *what = "lock the securebits", errno;
  if (Capset(keep, keep, keep) != 0) return *what = "capset", errno;
  return 0;
}

}  // namespace gaol::caps
