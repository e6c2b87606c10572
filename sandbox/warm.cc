// gaol serve's pre-built sandboxes: BuildWarmSandbox runs the launch for a shape ahead of any
// job, PID 1 waiting; RunWarm gives one job its parts (docs/ARCHITECTURE.md, "Pre-built
// sandboxes").
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>

#include "sandbox/common/fd_passing.h"
#include "sandbox/common/pidfd.h"
#include "sandbox/io/seed.h"
#include "sandbox/plan/host_facts.h"
#include "sandbox/run.h"
#include "sandbox/run_internal.h"

namespace gaol {
using namespace internal;
namespace {

const MountOp* WorkdirTmpfs(const Plan& plan) {
  for (const MountOp& op : plan.mounts) {
    if (op.kind == MountOpKind::kTmpfs && op.target == plan.workdir) return &op;
  }
  return nullptr;
}

bool SameBpf(const std::vector<sock_filter>& a, const std::vector<sock_filter>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(sock_filter)) == 0);
}

// Whether a sandbox built for plan `built` is the one `plan` would build: every field but what the
// job's parts bring at the last moment (argv, env, exec candidates, rlimits, the limits the
// supervisor keeps, the tmpfs sizes, which follow the memory limit, and its leaf's limits).
// Compared field by field: serialising both plans cost 0.3-0.45 ms on the request's path
// (measured), this a few µs.
bool SameShape(const Plan& plan, const Plan& built) {
  auto same_mount = [&](const MountOp& x, const MountOp& y) {
    bool tmpfs = x.kind == MountOpKind::kTmpfs;
    return std::tie(x.kind, x.source, x.target, x.read_only, x.is_file, x.noexec, x.nodev, x.mode,
                    x.origin) == std::tie(y.kind, y.source, y.target, y.read_only, y.is_file,
                                          y.noexec, y.nodev, y.mode, y.origin) &&
           (tmpfs || x.size_bytes == y.size_bytes);
  };
  if (plan.mounts.size() != built.mounts.size()) return false;
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    if (!same_mount(plan.mounts[i], built.mounts[i])) return false;
  }
  const auto& a = plan.id_map;
  const auto& b = built.id_map;
  const auto& la = plan.landlock;
  const auto& lb = built.landlock;
  bool same_seccomp = plan.seccomp.has_value() == built.seccomp.has_value();
  if (same_seccomp && plan.seccomp) {
    const auto& fa = *plan.seccomp;
    const auto& fb = *built.seccomp;
    same_seccomp = fa.profile == fb.profile && fa.listener == fb.listener && fa.flags == fb.flags &&
                   SameBpf(fa.main, fb.main) && SameBpf(fa.overlay, fb.overlay);
  }
  // A leaf's limits are written when the job comes; where it goes and what it can be given not.
  const auto& ca = plan.cgroup;
  const auto& cb = built.cgroup;
  bool same_cgroup = ca.parent.has_value() == cb.parent.has_value() &&
                     (!ca.parent || (ca.parent->path == cb.parent->path &&
                                     ca.parent->move_self == cb.parent->move_self &&
                                     ca.controllers == cb.controllers));
  return same_seccomp && same_cgroup &&
         std::tie(plan.clone_flags, plan.uid, plan.gid, plan.rootfs, plan.read_only_root,
                  plan.chroot, plan.bring_up_lo, plan.set_hostname, plan.hostname, plan.workdir,
                  plan.keep_caps, plan.last_cap, plan.apparmor_exec) ==
             std::tie(built.clone_flags, built.uid, built.gid, built.rootfs, built.read_only_root,
                      built.chroot, built.bring_up_lo, built.set_hostname, built.hostname,
                      built.workdir, built.keep_caps, built.last_cap, built.apparmor_exec) &&
         std::tie(a.uid_map, a.gid_map, a.use_helpers, a.newuidmap_args, a.newgidmap_args) ==
             std::tie(b.uid_map, b.gid_map, b.use_helpers, b.newuidmap_args, b.newgidmap_args) &&
         std::tie(la.abi, la.handled_fs, la.scoped, la.writable) ==
             std::tie(lb.abi, lb.handled_fs, lb.scoped, lb.writable);
}
}  // namespace

// A shape's host facts and plan: the builder's own, or gathered once by a process that adopts
// sandboxes built elsewhere (AdoptWarmSandbox).
struct WarmShape {
  JobSpec shape;
  HostFacts facts;
  Plan plan;
  std::uint64_t digest = 0;  // PlanDigest(plan), once the plan is final
};

// A sandbox built before its job (gaol serve's pool), PID 1 waiting on launched.sync.
struct WarmSandbox {
  std::shared_ptr<const WarmShape> shape;
  std::optional<RlimitOp> nofile;    // the builder's own, when MakeDescriptorRoom raised it
  std::optional<cgroup::Leaf> leaf;  // PID 1's, made without limits: the job's come with it
  UniqueFd empty_seed;               // the workdir's, so that PID 1 hands its root back
  // Handed over: the lease pipe, the builder's read end (and its write end until sent), or the
  // adopter's write end, closed when the adopter is done with the sandbox.
  UniqueFd lease, lease_give;
  Launched launched;
  double build_seconds = 0;
};

void WarmSandboxDelete::operator()(WarmSandbox* sandbox) const { delete sandbox; }

namespace {

// PID 1 ended while it built the sandbox: the error it reported.
Error BuildError(int report_r) {
  Error error{Step::kInit, 0, "the pre-built sandbox's PID 1 ended before it was ready", {}, {}};
  ChildReport report;
  for (;;) {
    std::size_t nfds = 0;
    int fd = -1;
    ssize_t n = ReceiveWithFds(report_r, &report, sizeof report, &fd, 1, &nfds);
    if (nfds > 0) close(fd);
    if (n != static_cast<ssize_t>(sizeof report)) break;
    if (report.kind == ChildReport::kError) error = ErrorFromReport(report);
  }
  return error;
}

}  // namespace

namespace {
bool EncodeParts(const Plan& plan, const Plan& built, bool seed, std::string* out);

// The request's path run once on the shape itself, after the build: a pool runner is a fresh
// fork, and the job's own plan would otherwise pay for the first touch of the code and heap it
// uses (copy-on-write and page faults).
void PrimeWarmPath(const WarmSandbox& sandbox) {
  const WarmShape& shape = *sandbox.shape;
  auto plan = MakePlan(shape.shape, shape.facts);
  if (!plan) return;
  std::string parts;
  if (SameShape(*plan, shape.plan)) EncodeParts(*plan, shape.plan, false, &parts);
}

// What tells two processes' plans of one shape apart: every field SameShape compares, and the
// tmpfs sizes and rlimits as built, hashed (one binary on both sides, so one std::hash). Field by
// field: PlanToJson and its dump cost each build 0.3-0.4 ms of CPU (measured in perf).
class Digest {
 public:
  Digest& Add(const std::string& s) {
    Add(s.size());
    text_.append(s);
    return *this;
  }
  template <typename T>
  requires std::is_arithmetic_v<T> Digest& Add(T v) {
    text_.append(reinterpret_cast<const char*>(&v), sizeof v);
    return *this;
  }
  template <typename C>
  requires requires(const C& c) {
    c.begin();
    c.size();
  }
  Digest& Add(const C& items) {
    Add(items.size());
    for (const auto& item : items) Add(item);
    return *this;
  }
  std::uint64_t Value() const { return std::hash<std::string>{}(text_); }

 private:
  std::string text_;
};

std::uint64_t PlanDigest(const Plan& plan) {
  Digest d;
  d.Add(plan.clone_flags).Add(plan.uid).Add(plan.gid).Add(plan.rootfs.value_or("\n"));
  d.Add(plan.read_only_root).Add(plan.chroot).Add(plan.bring_up_lo).Add(plan.set_hostname);
  d.Add(plan.hostname).Add(plan.workdir).Add(plan.keep_caps).Add(plan.last_cap);
  d.Add(plan.apparmor_exec);
  const auto& m = plan.id_map;
  d.Add(m.uid_map).Add(m.gid_map).Add(m.use_helpers).Add(m.newuidmap_args).Add(m.newgidmap_args);
  const auto& l = plan.landlock;
  d.Add(l.abi).Add(l.handled_fs).Add(l.scoped).Add(l.writable);
  d.Add(plan.mounts.size());
  for (const MountOp& op : plan.mounts) {
    d.Add(static_cast<int>(op.kind)).Add(op.source).Add(op.target).Add(op.read_only);
    d.Add(op.is_file).Add(op.noexec).Add(op.nodev).Add(op.size_bytes).Add(op.mode).Add(op.origin);
  }
  d.Add(plan.rlimits.size());
  for (const RlimitOp& r : plan.rlimits) d.Add(r.resource).Add(r.soft).Add(r.hard);
  d.Add(plan.seccomp.has_value());
  if (plan.seccomp) {
    const auto& f = *plan.seccomp;
    d.Add(f.profile).Add(f.listener).Add(f.flags);
    for (const auto* program : {&f.main, &f.overlay}) {
      d.Add(std::string(reinterpret_cast<const char*>(program->data()),
                        program->size() * sizeof(sock_filter)));
    }
  }
  const auto& c = plan.cgroup;
  d.Add(c.parent.has_value());
  if (c.parent) d.Add(c.parent->path).Add(c.parent->move_self).Add(c.controllers);
  return d.Value();
}

// The shape's host facts and plan, as the builder and the adopter both make them (the digest is
// taken by each once its plan is final).
Result<std::shared_ptr<WarmShape>> PlanShape(const JobSpec& shape, bool may_ask_systemd) {
  auto own = std::make_shared<WarmShape>();
  own->shape = shape;
  auto facts = GatherHostFacts(shape, may_ask_systemd);
  if (!facts) return tl::unexpected(facts.error());
  own->facts = std::move(*facts);
  auto plan = MakePlan(shape, own->facts);
  if (!plan) return tl::unexpected(plan.error());
  own->plan = std::move(*plan);
  return own;
}
}  // namespace

Result<WarmSandboxPtr> BuildWarmSandbox(const JobSpec& shape, bool prime) {
  std::uint64_t start = MonotonicNs();
  WarmSandboxPtr sandbox(new WarmSandbox);
  auto planned = PlanShape(shape, /*may_ask_systemd=*/true);
  if (!planned) return tl::unexpected(planned.error());
  std::shared_ptr<WarmShape> own = std::move(*planned);
  Plan& p = own->plan;
  // What the warm start cannot give a job: a systemd scope (gaol moved into one while gathering
  // the facts), the caller's pid namespace (gaol its subreaper).
  if (!own->facts.systemd_scope.empty() || !(p.clone_flags & CLONE_NEWPID))
    return Invalid("the pool's sandbox shape",
                   "a pid namespace of its own, and a cgroup found without systemd's help");
  // Nor a bind mount of the spec's: its source must be opened beneath its allowed directory for
  // the request that names it (gaol serve's runner), never by path ahead of time.
  for (const MountOp& op : p.mounts) {
    if (op.kind == MountOpKind::kBind && op.origin == "--volume")
      return Invalid("the pool's sandbox shape", "no bind mounts (`" + op.target + "` is one)");
  }
  std::size_t rlimits = p.rlimits.size();
  if (auto room = MakeDescriptorRoom(p); !room) return tl::unexpected(room.error());
  if (p.rlimits.size() > rlimits) sandbox->nofile = p.rlimits.back();
  own->digest = PlanDigest(p);
  sandbox->shape = own;
  // Placeholders until the job's own stdio comes with its parts.
  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  UniqueFd null_out(open("/dev/null", O_WRONLY | O_CLOEXEC));
  UniqueFd null_err(open("/dev/null", O_WRONLY | O_CLOEXEC));
  if (!null_in || !null_out || !null_err) return Fail(Step::kOpenIo, "open", "/dev/null");
  LaunchIo io;
  io.stdin_fd = null_in.Get();
  io.stdout_w = std::move(null_out);
  io.stderr_w = std::move(null_err);
  io.given_sources.assign(p.mounts.size(), -1);
  if (const MountOp* workdir = WorkdirTmpfs(p)) {
    auto seed = io::WriteSeed({});
    if (!seed) return tl::unexpected(seed.error());
    sandbox->empty_seed = std::move(*seed);
    io.given_sources[static_cast<std::size_t>(workdir - p.mounts.data())] =
        sandbox->empty_seed.Get();
  }
  if (p.cgroup.parent) {
    // Born in its leaf, as a cold sandbox is; nothing of a job runs there before its limits.
    cgroup::ReapOrphans(*p.cgroup.parent);
    auto made = cgroup::Leaf::Create(*p.cgroup.parent, p.cgroup.controllers, {});
    if (!made) return tl::unexpected(made.error());
    sandbox->leaf = std::move(*made);
  }
  auto launched =
      LaunchSandbox(p, std::move(io), sandbox->leaf ? sandbox->leaf->DirFd() : -1, /*warm=*/true);
  if (!launched) return tl::unexpected(launched.error());
  sandbox->launched = std::move(*launched);
  sandbox->empty_seed.Reset();
  // The room was for the build: the job's own start (cold, should its shape differ) finds the
  // caller's limit again.
  if (sandbox->nofile) {
    rlimit was = {static_cast<rlim_t>(sandbox->nofile->soft),
                  static_cast<rlim_t>(sandbox->nofile->hard)};
    setrlimit(RLIMIT_NOFILE, &was);
  }
  char ready = 0;
  ssize_t n;
  do {
    n = read(sandbox->launched.sync.Get(), &ready, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1 || ready != kZygoteReady)
    return tl::unexpected(BuildError(sandbox->launched.report_r.Get()));
  sandbox->build_seconds = Seconds(MonotonicNs() - start);
  if (prime) PrimeWarmPath(*sandbox);
  return sandbox;
}

double WarmSandboxBuildSeconds(const WarmSandbox& sandbox) { return sandbox.build_seconds; }
int WarmSandboxPidFd(const WarmSandbox& sandbox) { return sandbox.launched.child.PidFd(); }

namespace {

// The job's parts as PID 1 reads them (WarmParts); false when they do not fit one message.
bool EncodeParts(const Plan& plan, const Plan& built, bool seed, std::string* out) {
  WarmParts parts;
  parts.argc = static_cast<std::uint32_t>(plan.argv.size());
  parts.envc = static_cast<std::uint32_t>(plan.envp.size());
  parts.candidates = static_cast<std::uint32_t>(plan.exec_candidates.size());
  if (plan.rlimits.size() > kWarmRlimitsMax ||
      plan.argv.size() + plan.envp.size() + plan.exec_candidates.size() + 3 > kWarmPointersMax)
    return false;
  parts.rlimits = static_cast<std::uint32_t>(plan.rlimits.size());
  for (std::size_t i = 0; i < plan.rlimits.size(); ++i) {
    parts.rlimit[i] = {plan.rlimits[i].resource, plan.rlimits[i].soft, plan.rlimits[i].hard};
  }
  for (std::size_t i = 0; i < plan.mounts.size(); ++i) {
    const MountOp& op = plan.mounts[i];
    if (op.kind != MountOpKind::kTmpfs || op.size_bytes == built.mounts[i].size_bytes) continue;
    // Unbounded (the kernel's default) is only as built: tmpfs's size=0 means no limit at all.
    if (op.size_bytes == 0 || parts.resizes == kWarmResizesMax) return false;
    parts.resize[parts.resizes++] = {static_cast<std::uint32_t>(i), op.size_bytes};
  }
  parts.seed = seed ? 1 : 0;
  std::string strings;
  for (const auto* list : {&plan.argv, &plan.envp, &plan.exec_candidates}) {
    for (const auto& s : *list) {
      if (s.find('\0') != std::string::npos) return false;
      strings.append(s);
      strings.push_back('\0');
    }
  }
  if (strings.size() > kWarmStringsMax) return false;
  parts.strings_bytes = static_cast<std::uint32_t>(strings.size());
  out->assign(reinterpret_cast<const char*>(&parts), sizeof parts);
  out->append(strings);
  return true;
}

}  // namespace

namespace {

// Whether the host facts gathered for `shape` are the ones `spec` would gather: every spec field
// GatherHostFacts reads the host for (a profile file's text, the Landlock ABI, AppArmor, the
// subordinate ids, a cgroup) is the shape's own.
bool SameFacts(const JobSpec& spec, const JobSpec& shape) {
  return spec.seccomp == shape.seccomp && spec.landlock == shape.landlock &&
         spec.apparmor == shape.apparmor && spec.map_users == shape.map_users &&
         spec.map_groups == shape.map_groups && spec.rootfs == shape.rootfs &&
         spec.cgroup_parent == shape.cgroup_parent && spec.require_cgroup == shape.require_cgroup &&
         spec.limits.devices.empty() && shape.limits.devices.empty() &&
         LooksForCgroup(spec) == LooksForCgroup(shape);
}

}  // namespace

bool MayRunWarm(const JobSpec& spec, const JobSpec& shape) { return SameFacts(spec, shape); }

std::optional<RunResult> RunWarm(WarmSandbox& sandbox, const JobSpec& spec,
                                 const CallerStdio& stdio, LaunchObserver* observer) {
  std::uint64_t start = MonotonicNs();
  // A sandbox whose PID 1 is gone (killed while it waited) is the cold path's to replace.
  const WarmShape& shape = *sandbox.shape;
  if (!sandbox.launched.sync || ProcessExited(sandbox.launched.child.PidFd()) ||
      !SameFacts(spec, shape.shape))
    return std::nullopt;
  // A plan the pre-built sandbox cannot give this job is the cold path's to refuse or run.
  auto made = MakePlan(spec, shape.facts);
  if (!made) return std::nullopt;
  Plan& plan = *made;
  bool sets_nofile = std::any_of(plan.rlimits.begin(), plan.rlimits.end(),
                                 [](const RlimitOp& op) { return op.resource == RLIMIT_NOFILE; });
  if (sandbox.nofile && !sets_nofile) plan.rlimits.push_back(*sandbox.nofile);
  if (!SameShape(plan, shape.plan)) return std::nullopt;
  if (stdio.seed && (!WorkdirTmpfs(plan) || stdio.seed->target != plan.workdir))
    return std::nullopt;
  std::string parts;
  if (!EncodeParts(plan, shape.plan, stdio.seed.has_value(), &parts)) return std::nullopt;

  RunResult result;
  // The observer hears of the job once it started; a failure before that is still its job's.
  bool started = false;
  auto fail = [&](Error e) {
    if (observer && !started) observer->OnStarted();
    return Failed(std::move(e), observer, result);
  };
  result.prebuilt_build_seconds = sandbox.build_seconds;
  result.launch_steps[Step::kPlan] = Seconds(MonotonicNs() - start);
  std::uint64_t planned = MonotonicNs();
  auto io = OpenIo(spec, stdio);
  if (!io) return fail(io.error());
  result.launch_steps[Step::kOpenIo] = Seconds(MonotonicNs() - planned);
  DescribePlan(spec, plan, result);
  Sandbox running;
  if (sandbox.leaf) {
    std::uint64_t t0 = MonotonicNs();
    if (auto s = sandbox.leaf->Write(plan.cgroup.limits); !s) return fail(s.error());
    if (auto s = OpenLeafCounters(*sandbox.leaf, running); !s) return fail(s.error());
    result.launch_steps[Step::kCgroup] = Seconds(MonotonicNs() - t0);
  }
  std::optional<ForwardedSignals> signals;
  if (stdio.forward_signals) signals.emplace();
  int fds[4] = {io->launch.stdin_fd, io->launch.stdout_w.Get(), io->launch.stderr_w.Get(),
                stdio.seed ? stdio.seed->fd : -1};
  bool sent =
      SendWithFds(sandbox.launched.sync.Get(), parts.data(), parts.size(), fds, stdio.seed ? 4 : 3);
  int err = errno;
  // The sandbox keeps the only write ends: EOF on the pipes means the job side is gone.
  io->launch.stdout_w.Reset();
  io->launch.stderr_w.Reset();
  sandbox.launched.sync.Reset();
  // PID 1 died after the check above: nothing of the job ran; the cold path takes it (the
  // caller destroys this sandbox, and its leaf, first).
  if (!sent && (err == EPIPE || err == ECONNRESET)) return std::nullopt;
  if (!sent) return fail(Fail(Step::kAttach, "send the job's parts", "sync channel", err).value());
  started = true;
  if (observer) observer->OnStarted();
  running.leaf = std::move(sandbox.leaf);
  sandbox.leaf.reset();
  running.launched = std::move(sandbox.launched);
  if (auto s = SuperviseAndJudge(spec, plan, *io, stdio, running, signals ? signals->Fd() : -1,
                                 start, observer, result);
      !s)
    return fail(s.error());
  if (observer) observer->OnFinished(result);
  return result;
}

Result<WarmHandover> DescribeForHandover(WarmSandbox& sandbox, std::vector<int>* fds) {
  int lease[2];
  if (pipe2(lease, O_CLOEXEC) != 0) return Fail(Step::kInit, "pipe2", "the sandbox's lease");
  sandbox.lease.Reset(lease[0]);
  sandbox.lease_give.Reset(lease[1]);
  WarmHandover out;
  out.pid1 = sandbox.launched.child.Pid();
  out.build_ns = static_cast<std::uint64_t>(sandbox.build_seconds * 1e9);
  out.plan_digest = sandbox.shape->digest;
  if (sandbox.nofile) {
    out.has_nofile = 1;
    out.nofile_soft = sandbox.nofile->soft;
    out.nofile_hard = sandbox.nofile->hard;
  }
  fds->assign({sandbox.launched.child.PidFd(), sandbox.launched.sync.Get(),
               sandbox.launched.report_r.Get(), sandbox.lease_give.Get()});
  if (sandbox.leaf && sandbox.leaf->Path().size() >= sizeof out.leaf_path)
    return Invalid("the pool's cgroup leaf", "a path under 4096 bytes");
  if (sandbox.leaf) {
    out.leaf_path_bytes = static_cast<std::uint32_t>(sandbox.leaf->Path().size());
    std::memcpy(out.leaf_path, sandbox.leaf->Path().data(), out.leaf_path_bytes);
    fds->push_back(sandbox.leaf->DirFd());
  }
  return out;
}

void ForgetHandedOver(WarmSandbox& sandbox) {
  sandbox.lease_give.Reset();
  sandbox.launched.sync.Reset();
  sandbox.launched.report_r.Reset();
}

void AwaitHandedOver(WarmSandbox& sandbox) {
  pollfd p = {sandbox.lease.Get(), POLLIN, 0};
  while (sandbox.lease && poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  // Killed and reaped (a PID 1 already gone is only reaped), then the leaf removed unless the
  // adopter removed it.
  sandbox.launched.child = OwnedChild();
  if (sandbox.leaf) (void)sandbox.leaf->Remove();
}

Result<WarmSandboxPtr> AdoptWarmSandbox(const JobSpec& shape,
                                        std::shared_ptr<const WarmShape>& cache,
                                        const WarmHandover& handover, std::vector<UniqueFd> fds) {
  if (fds.size() != (handover.leaf_path_bytes > 0 ? kHandoverFds : kHandoverFds - 1) ||
      handover.leaf_path_bytes >= sizeof handover.leaf_path)
    return Invalid("the pre-built sandbox handed over", "its descriptors");
  std::optional<RlimitOp> nofile;
  if (handover.has_nofile)
    nofile = RlimitOp{RLIMIT_NOFILE, handover.nofile_soft, handover.nofile_hard, "nofile"};
  // Planned here as the builder planned it; gathered again when the builder's differs (the host
  // changed since: a profile file, a cgroup), and refused if it still does.
  for (int attempt = 0; !cache || cache->digest != handover.plan_digest; ++attempt) {
    if (attempt == 2)
      return Invalid("the pre-built sandbox handed over", "a plan this process makes too");
    // Never systemd's scope here: it would move this process (the server) into it, and a builder
    // that needed one refused the shape.
    auto planned = PlanShape(shape, /*may_ask_systemd=*/false);
    if (!planned) return tl::unexpected(planned.error());
    std::shared_ptr<WarmShape> own = std::move(*planned);
    if (nofile) own->plan.rlimits.push_back(*nofile);
    own->digest = PlanDigest(own->plan);
    cache = std::move(own);
  }
  WarmSandboxPtr sandbox(new WarmSandbox);
  sandbox->shape = cache;
  sandbox->nofile = nofile;
  sandbox->build_seconds = Seconds(handover.build_ns);
  sandbox->launched.child = OwnedChild(handover.pid1, std::move(fds[0]), /*adopted=*/true);
  sandbox->launched.sync = std::move(fds[1]);
  sandbox->launched.report_r = std::move(fds[2]);
  sandbox->lease = std::move(fds[3]);
  if (handover.leaf_path_bytes > 0) {
    sandbox->leaf = cgroup::Leaf::Adopt(std::string(handover.leaf_path, handover.leaf_path_bytes),
                                        std::move(fds[4]));
  }
  return sandbox;
}

}  // namespace gaol
