// The library's entry point: JobSpec in, RunResult out. The CLI (and later the server and the
// bench harness) call this; nothing below reads flags.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/common/unique_fd.h"
#include "sandbox/result/result.h"
#include "sandbox/spec/job_spec.h"

namespace gaol {

// What the launcher tells whoever watches (metrics/ implements this; the core knows nothing of
// Prometheus).
class LaunchObserver {
 public:
  virtual ~LaunchObserver() = default;
  virtual void OnStarted() {}
  // The verdict is known: every process of the job is gone and its output is in. PID 1's own exit
  // and the namespaces' teardown (a few hundred µs), and the leaf's removal, come after.
  virtual void OnVerdict(const RunResult&) {}
  virtual void OnFinished(const RunResult&) {}
};

// Standard streams of the caller that the job's stdio defaults to.
struct CallerStdio {
  int in = 0, out = 1, err = 2;
  int cancel = -1;  // readable or hung up: the job is killed and its status is `cancelled`
  // After the caller's first SIGTERM/SIGINT/SIGHUP/SIGQUIT (forwarded to every process of the
  // sandbox), how long the job has to end before the sandbox is killed (status `cancelled`).
  double stop_timeout_seconds = 5.0;
  // Bind sources the caller opened itself (O_PATH), by the target of their spec mount: mounted
  // from the descriptor, never looked up again by path (gaol serve opens each beneath the
  // directory the operator allowed).
  std::vector<std::pair<std::string, int>> bind_fds;
  // A tmpfs of the spec, by target, that starts with the files of a seed (io/seed.h) instead of
  // empty; its root is handed back in `*root` (O_PATH) and outlives the sandbox, so the caller
  // reads what the job left there without any path on the host (gaol serve's workdir).
  struct Seed {
    std::string target;
    int fd = -1;
    UniqueFd* root = nullptr;
  };
  std::optional<Seed> seed;
  // Once PID 1 has reported the job's end (it reaped every process of the sandbox first), whether
  // RunJob also waits for PID 1's own exit, in which the kernel tears the namespaces down. A
  // caller that exits right after (`gaol run`) need not: PID 1, already on its way out, passes to
  // the caller's reaper. RunJob always waits when it has a cgroup leaf to remove (the leaf must be
  // empty), when PID 1 was killed, and when the sandbox shares the caller's pid namespace.
  bool wait_for_teardown = true;
  // Whether the caller's SIGTERM/SIGINT/SIGHUP/SIGQUIT go to the job while it runs (`gaol run`);
  // gaol serve's own thread running a job leaves them to the server, which drains on them.
  bool forward_signals = true;
};

RunResult RunJob(const JobSpec& spec, const CallerStdio& stdio = {},
                 LaunchObserver* observer = nullptr);

// A sandbox built before its job (gaol serve's pool): every set-up step done for a shape, PID 1
// waiting for the job's parts (argv, env, rlimits, stdio, the workdir's files). Used for one job
// at most; destroyed unused, it is killed.
struct WarmSandbox;
struct WarmSandboxDelete {
  void operator()(WarmSandbox* sandbox) const;
};
using WarmSandboxPtr = std::unique_ptr<WarmSandbox, WarmSandboxDelete>;

// `shape`: a JobSpec whose argv, env, limits and stdio do not matter. PID 1 is born in a leaf
// without limits when the plan has one (the job's are written when it comes). Refused: shapes
// that share the caller's pid namespace, need a systemd scope or bind a path (those jobs start
// cold).
// `prime`: the job's own path is run once on the shape after the build (its plan and parts), so
// that the first job in this process pays no first touch of that code; a process that hands the
// sandbox over (AdoptWarmSandbox) skips it.
Result<WarmSandboxPtr> BuildWarmSandbox(const JobSpec& shape, bool prime = true);
double WarmSandboxBuildSeconds(const WarmSandbox& sandbox);
// PID 1's pidfd (readable once it ended), -1 once its job took it.
int WarmSandboxPidFd(const WarmSandbox& sandbox);

// `spec` run on `sandbox` (its verdict and figures as RunJob's), or nullopt, the sandbox untouched,
// when the two shapes differ or the job's parts do not fit: the caller runs it cold (RunJob).
std::optional<RunResult> RunWarm(WarmSandbox& sandbox, const JobSpec& spec,
                                 const CallerStdio& stdio = {}, LaunchObserver* observer = nullptr);

// Whether a job of `spec` may run on a sandbox pre-built for `shape` at all: the host facts its
// plan rests on are the shape's (RunWarm checks the rest of the plan).
bool MayRunWarm(const JobSpec& spec, const JobSpec& shape);

// A pre-built sandbox handed from the process that built it (and stays its PID 1's parent) to
// the one that runs its job: gaol serve's pool runners hand theirs to the server. Fixed-size, for
// one SOCK_SEQPACKET message; its descriptors travel beside it in kHandoverFds order.
struct WarmHandover {
  std::int32_t pid1 = -1;
  std::uint32_t leaf_path_bytes = 0;  // 0: no leaf
  std::uint64_t build_ns = 0;
  std::uint64_t plan_digest = 0;  // of the plan as built (the adopter plans the shape itself)
  std::uint64_t nofile_soft = 0, nofile_hard = 0;
  std::uint8_t has_nofile = 0;  // the builder raised its open-file limit: the job gets it back
  char leaf_path[4096] = {};
};
// PID 1's pidfd, the sync channel, the report channel, the lease (the write end of a pipe whose
// hang-up tells the builder the adopter is done with the sandbox, or died), then the leaf's
// directory when it has one.
constexpr std::size_t kHandoverFds = 5;

// The builder's side: what to send, with the sandbox's own descriptors (still owned by it) in
// `fds`; after the send, ForgetHandedOver closes the builder's ends of the channels, so that the
// adopter's are the only ones (EOF on the sync channel: the adopter discarded it).
Result<WarmHandover> DescribeForHandover(WarmSandbox& sandbox, std::vector<int>* fds);
void ForgetHandedOver(WarmSandbox& sandbox);
// Once the adopter took it: waits for the lease to hang up (the adopter is done: it read the
// leaf and removed it, or it died mid-job), then kills PID 1 if it is still there, reaps it and
// removes the leaf if it is still there.
void AwaitHandedOver(WarmSandbox& sandbox);

// The adopter's side. The shape's host facts and plan are gathered once per process (`cache`,
// rebuilt when a sandbox's plan digest differs from it) and must be those the builder planned:
// a sandbox built from others is refused.
struct WarmShape;
Result<WarmSandboxPtr> AdoptWarmSandbox(const JobSpec& shape,
                                        std::shared_ptr<const WarmShape>& cache,
                                        const WarmHandover& handover, std::vector<UniqueFd> fds);

// The fix for common environment failures (user namespaces disabled or restricted, no
// io_uring), in one place; empty when there is none to give.
std::string HintFor(const Error& error);

}  // namespace gaol
