// A pre-built sandbox's PID 1 taking its job's parts (gaol serve's pool): the message, its
// checks, the stdio, the tmpfs sizes and the workdir's seed.
#include "sandbox/child/child_attach.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "sandbox/common/fd_passing.h"
#include "sandbox/io/seed.h"

namespace gaol {
namespace {

// A zygote's own copy of its job's parts (PID 1 allocates nothing): argv, envp and the
// candidates point into `strings`.
struct WarmStore {
  WarmParts parts;
  char strings[kWarmStringsMax];
};
WarmStore g_warm;
char* g_warm_pointers[kWarmPointersMax];

// Points `out[0..count)` at the next `count` NUL-terminated strings of [*at, end), then a NULL.
bool TakeStrings(const char** at, const char* end, std::uint32_t count, char** out) noexcept {
  for (std::uint32_t i = 0; i < count; ++i) {
    const char* nul = static_cast<const char*>(memchr(*at, 0, static_cast<std::size_t>(end - *at)));
    if (!nul) return false;
    out[i] = const_cast<char*>(*at);
    *at = nul + 1;
  }
  out[count] = nullptr;
  return true;
}

// The tmpfs mounts resized for this job's limits, then the seed planted in the workdir (PID 1's
// cwd), as the cold path plants it while building the root.
bool FillMounts(const ChildContext& ctx, const WarmParts& parts, int seed,
                ChildReport& report) noexcept {
  for (std::uint32_t i = 0; i < parts.resizes; ++i) {
    const WarmResize& r = parts.resize[i];
    if (r.mount >= ctx.plan->mounts.size())
      return ChildFail(report, Step::kAttach, EINVAL, "resize");
    const char* target = ctx.plan->mounts[r.mount].target.c_str();
    int fs =
        fspick(AT_FDCWD, target, FSPICK_CLOEXEC | FSPICK_NO_AUTOMOUNT | FSPICK_SYMLINK_NOFOLLOW);
    char value[32];
    std::snprintf(value, sizeof(value), "%llu", static_cast<unsigned long long>(r.size));
    bool ok = fs >= 0 && fsconfig(fs, FSCONFIG_SET_STRING, "size", value, 0) == 0 &&
              fsconfig(fs, FSCONFIG_CMD_RECONFIGURE, nullptr, nullptr, 0) == 0;
    int err = errno;
    if (fs >= 0) close(fs);
    if (!ok)
      return ChildFail(report, Step::kAttach, err, "resize tmpfs `%s` to %s bytes", target, value);
  }
  if (seed < 0) return true;
  int root = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return ChildFail(report, Step::kAttach, errno, "open the workdir");
  char where[512];
  int err = io::PlantSeed(seed, root, where, sizeof where);
  close(root);
  return err == 0 || ChildFail(report, Step::kAttach, err, "fill the workdir: `%s`", where);
}

}  // namespace

// A zygote waits here, every set-up step done, until gaol gives it a job (or closes kSyncFd: the
// sandbox is discarded unused). The job's stdio lands on 0-2, its strings and rlimits in
// g_warm; kSyncFd is closed before anything of the job runs.
bool AwaitParts(ChildContext& ctx, ChildReport& report) noexcept {
  if (write(kSyncFd, &kZygoteReady, 1) != 1) _exit(0);
  // Its job process, waiting confined, may die first (killed from outside): the sandbox then goes
  // as an unused one does, and the job that comes starts cold (its runner sees PID 1 gone).
  if (ctx.job_pidfd >= 0) {
    pollfd watch[2] = {{kSyncFd, POLLIN, 0}, {ctx.job_pidfd, POLLIN, 0}};
    while (poll(watch, 2, -1) < 0 && errno == EINTR) {
    }
    if (watch[1].revents != 0) _exit(0);
  }
  int fds[4] = {-1, -1, -1, -1};
  std::size_t nfds = 0;
  ssize_t n = ReceiveWithFds(kSyncFd, &g_warm, sizeof g_warm, fds, 4, &nfds);
  if (n == 0) _exit(0);
  std::uint64_t start = MonotonicNs();
  int err = errno;
  close(kSyncFd);
  auto close_all = [&] {
    for (std::size_t i = 0; i < nfds; ++i) close(fds[i]);
  };
  const WarmParts& parts = g_warm.parts;
  if (n < static_cast<ssize_t>(sizeof(WarmParts)) ||
      static_cast<std::size_t>(n) != sizeof(WarmParts) + parts.strings_bytes ||
      nfds != 3u + (parts.seed ? 1u : 0u) || parts.rlimits > kWarmRlimitsMax ||
      parts.resizes > kWarmResizesMax ||
      std::size_t{parts.argc} + parts.envc + parts.candidates + 3 > kWarmPointersMax ||
      parts.argc == 0) {
    close_all();
    return ChildFail(report, Step::kAttach, n < 0 ? err : EBADMSG, "receive the job's parts");
  }
  const char* at = g_warm.strings;
  const char* end = at + parts.strings_bytes;
  char** argv = g_warm_pointers;
  char** envp = argv + parts.argc + 1;
  char** candidates = envp + parts.envc + 1;
  if (!TakeStrings(&at, end, parts.argc, argv) || !TakeStrings(&at, end, parts.envc, envp) ||
      !TakeStrings(&at, end, parts.candidates, candidates)) {
    close_all();
    return ChildFail(report, Step::kAttach, EBADMSG, "receive the job's parts (strings)");
  }
  ctx.argv = argv;
  ctx.envp = envp;
  ctx.candidates = candidates;
  ctx.rlimits = parts.rlimit;
  ctx.rlimit_count = parts.rlimits;
  for (int target = 0; target < 3; ++target) {
    if (dup3(fds[target], target, 0) < 0) {
      err = errno;
      close_all();
      return ChildFail(report, Step::kAttach, err, "dup3 onto fd %d", target);
    }
  }
  bool filled = FillMounts(ctx, parts, parts.seed ? fds[3] : -1, report);
  close_all();
  if (!filled) return false;
  report.step_ns[StepIndex(Step::kAttach)] = MonotonicNs() - start;
  return true;
}
}  // namespace gaol
