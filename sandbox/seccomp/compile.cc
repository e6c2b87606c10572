#include "sandbox/seccomp/compile.h"

#include <fmt/format.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>

#include "sandbox/common/unique_fd.h"

namespace gaol::seccomp {
namespace {

struct CtxDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using Ctx = std::unique_ptr<void, CtxDeleter>;

// The kernel's precedence of actions, weakest first.
int Strictness(Action a) {
  switch (a) {
    case Action::kAllow:
      return 0;
    case Action::kLog:
      return 1;
    case Action::kTrace:
      return 2;
    case Action::kErrno:
      return 4;
    case Action::kTrap:
      return 5;
    case Action::kKillThread:
      return 6;
    case Action::kKillProcess:
      return 7;
  }
  return 7;
}

std::uint32_t ToScmp(Action a, std::uint32_t err, bool notify) {
  switch (a) {
    case Action::kAllow:
      return SCMP_ACT_ALLOW;
    case Action::kLog:
      return SCMP_ACT_LOG;
    case Action::kTrace:
      return SCMP_ACT_TRACE(err);
    case Action::kErrno:
      return SCMP_ACT_ERRNO(err);
    case Action::kTrap:
      return SCMP_ACT_TRAP;
    // A thread-level kill would leave the job running without the thread: gaol ends the job.
    case Action::kKillThread:
    case Action::kKillProcess:
      return notify ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
  }
  return SCMP_ACT_KILL_PROCESS;
}

// "6.1.0-18-cloud-amd64" >= "5.8"
bool KernelAtLeast(const std::string& release, const std::string& wanted) {
  unsigned have[2] = {0, 0}, want[2] = {0, 0};
  std::sscanf(release.c_str(), "%u.%u", &have[0], &have[1]);
  std::sscanf(wanted.c_str(), "%u.%u", &want[0], &want[1]);
  return have[0] != want[0] ? have[0] > want[0] : have[1] >= want[1];
}

// includes.arches names architectures as Go does (Docker's "amd64", "x86", "arm64"); accept
// libseccomp's names too.
std::uint32_t ArchFromRuleName(const std::string& name) {
  static const std::map<std::string, std::uint32_t> kGo = {
      {"amd64", SCMP_ARCH_X86_64},    {"x86_64", SCMP_ARCH_X86_64},  {"x86", SCMP_ARCH_X86},
      {"386", SCMP_ARCH_X86},         {"x32", SCMP_ARCH_X32},        {"arm64", SCMP_ARCH_AARCH64},
      {"arm", SCMP_ARCH_ARM},         {"s390x", SCMP_ARCH_S390X},    {"s390", SCMP_ARCH_S390},
      {"ppc64le", SCMP_ARCH_PPC64LE}, {"riscv64", SCMP_ARCH_RISCV64}};
  auto it = kGo.find(name);
  return it != kGo.end() ? it->second : ResolveArch(name);
}

bool Applies(const Rule& rule, const CompileOptions& o, std::uint32_t native) {
  auto has_cap = [&](const std::string& c) { return o.caps.count(c) > 0; };
  auto native_in = [&](const std::vector<std::string>& arches) {
    return std::any_of(arches.begin(), arches.end(),
                       [&](const std::string& a) { return ArchFromRuleName(a) == native; });
  };
  const Condition& in = rule.includes;
  const Condition& ex = rule.excludes;
  if (!std::all_of(in.caps.begin(), in.caps.end(), has_cap)) return false;
  if (std::any_of(ex.caps.begin(), ex.caps.end(), has_cap)) return false;
  if (!in.arches.empty() && !native_in(in.arches)) return false;
  if (!ex.arches.empty() && native_in(ex.arches)) return false;
  if (in.min_kernel && !KernelAtLeast(o.kernel_release, *in.min_kernel)) return false;
  if (ex.min_kernel && KernelAtLeast(o.kernel_release, *ex.min_kernel)) return false;
  return true;
}

// Docker's rule: `architectures` when given, else the archMap entry of the native one.
Result<std::vector<std::uint32_t>> Arches(const Profile& p, std::uint32_t native) {
  std::vector<std::string> names = p.architectures;
  if (names.empty()) {
    for (const auto& e : p.arch_map) {
      if (ResolveArch(e.architecture) != native) continue;
      names.push_back(e.architecture);
      names.insert(names.end(), e.sub_architectures.begin(), e.sub_architectures.end());
    }
  }
  std::vector<std::uint32_t> out;
  for (const auto& n : names) {
    if (std::uint32_t a = ResolveArch(n)) out.push_back(a);  // unknown here: not this machine's
  }
  if (out.empty()) out.push_back(native);
  if (std::find(out.begin(), out.end(), native) == out.end()) {
    return Invalid(fmt::format("seccomp profile `{}`: field `architectures`", p.name),
                   "the native architecture among them (else nothing could run)");
  }
  return out;
}

Result<Ctx> NewCtx(const std::vector<std::uint32_t>& arches, std::uint32_t def,
                   std::uint32_t badarch) {
  Ctx ctx(seccomp_init(def));
  if (!ctx) return Fail(Step::kPlan, "seccomp_init", "the seccomp filter", EINVAL);
  for (std::uint32_t a : arches) {
    if (a == seccomp_arch_native()) continue;
    if (int rc = seccomp_arch_add(ctx.get(), a); rc < 0 && rc != -EEXIST)
      return Fail(Step::kPlan, "seccomp_arch_add", "the seccomp filter", -rc);
  }
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, badarch);
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);  // a binary tree of syscalls
  return ctx;
}

Result<std::vector<sock_filter>> Export(void* ctx) {
  UniqueFd fd(memfd_create("gaol-seccomp", MFD_CLOEXEC));
  if (!fd) return Fail(Step::kPlan, "memfd_create", "the seccomp filter");
  if (int rc = seccomp_export_bpf(ctx, fd.Get()); rc < 0)
    return Fail(Step::kPlan, "seccomp_export_bpf", "the seccomp filter", -rc);
  off_t size = lseek(fd.Get(), 0, SEEK_END);
  std::vector<sock_filter> out(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (pread(fd.Get(), out.data(), static_cast<std::size_t>(size), 0) != size)
    return Fail(Step::kPlan, "read back", "the seccomp filter");
  return out;
}

struct Compiler {
  const Profile& p;
  const CompileOptions& o;
  void* main;
  void* overlay;
  std::map<int, Action> unconditional;  // syscalls with a rule without args, not the default
  std::set<int> added;                  // those already in the main filter
  bool overlay_used = false;
  Filter out;

  bool IsDefault(const Rule& r) const {
    return r.action == p.default_action &&
           (r.action != Action::kErrno || r.errno_ret == p.default_errno);
  }

  Status Add(void* ctx, const Rule& r, int nr, const std::vector<scmp_arg_cmp>& cmps, bool notify) {
    std::uint32_t action = ToScmp(r.action, r.errno_ret, notify);
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(cmps.size()),
                                    cmps.empty() ? nullptr : cmps.data());
    if (rc < 0) {
      return Invalid(fmt::format("seccomp profile `{}`: the rules for `{}`", p.name,
                                 SyscallName(AUDIT_ARCH_X86_64, nr)),
                     fmt::format("rules libseccomp can combine ({}: {})", ActionName(r.action),
                                 strerror(-rc)));
    }
    ++out.rules;
    if (action == SCMP_ACT_NOTIFY) out.listener = true;
    return {};
  }

  Status AddConditional(const Rule& r, int nr, const std::string& name) {
    auto it = unconditional.find(nr);
    void* ctx = main;
    bool notify = o.notify_kills;
    if (it != unconditional.end()) {
      if (it->second == r.action) return {};  // the unconditional rule already says it
      if (Strictness(r.action) < Strictness(it->second)) {
        return Invalid(fmt::format("seccomp profile `{}`: the rules for `{}`", p.name, name),
                       "no conditional rule weaker than an unconditional one for the same "
                       "syscall (the conditional one could never apply)");
      }
      ctx = overlay;
      notify = false;  // one listener per filter chain: the main filter's
      overlay_used = true;
    }
    // As runc: compares on distinct arguments are ANDed in one rule; several on the same
    // argument would contradict each other there, so each becomes a rule of its own (ORed).
    std::vector<scmp_arg_cmp> cmps;
    for (const auto& a : r.args) {
      cmps.push_back({a.index, static_cast<scmp_compare>(a.op), a.value, a.value_two});
    }
    bool repeated = false;
    for (std::size_t i = 0; i < cmps.size(); ++i) {
      for (std::size_t j = i + 1; j < cmps.size(); ++j) repeated |= cmps[i].arg == cmps[j].arg;
    }
    if (!repeated) return Add(ctx, r, nr, cmps, notify);
    for (const auto& c : cmps) {
      if (auto s = Add(ctx, r, nr, {c}, notify); !s) return s;
    }
    return {};
  }

  Status Rules(std::uint32_t native) {
    std::vector<const Rule*> rules;
    for (const auto& r : p.rules) {
      if (Applies(r, o, native)) rules.push_back(&r);
    }
    for (const Rule* r : rules) {
      if (!r->args.empty() || IsDefault(*r)) continue;
      for (const auto& name : r->names) {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr != __NR_SCMP_ERROR) unconditional.try_emplace(nr, r->action);
      }
    }
    for (const Rule* r : rules) {
      for (const auto& name : r->names) {
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) {
          ++out.unknown_names;
          continue;
        }
        Status s;
        if (!r->args.empty()) {
          s = AddConditional(*r, nr, name);
        } else if (!IsDefault(*r) && unconditional.at(nr) == r->action && added.insert(nr).second) {
          // The first unconditional rule for a syscall wins, as libseccomp keeps the first.
          s = Add(main, *r, nr, {}, o.notify_kills);
        }
        if (!s) return s;
      }
    }
    return {};
  }
};

// The job starts with execve: a profile that forbids it would start nothing.
bool AllowsExecve(const Profile& p, const CompileOptions& o, std::uint32_t native) {
  Action a = p.default_action;
  for (const auto& r : p.rules) {
    if (!r.args.empty() || !Applies(r, o, native)) continue;
    if (std::find(r.names.begin(), r.names.end(), "execve") != r.names.end()) a = r.action;
  }
  return a == Action::kAllow || a == Action::kLog;
}

}  // namespace

// x32 calls reach an x86-64 filter as AUDIT_ARCH_X86_64 with this bit in the number.
constexpr int kX32Bit = 0x40000000;

std::string ArchName(std::uint32_t arch, int nr) {
  if (arch == SCMP_ARCH_X86_64 && (nr & kX32Bit)) return "x32";
  switch (arch) {
    case SCMP_ARCH_X86_64:
      return "x86_64";
    case SCMP_ARCH_X86:
      return "x86";
    case SCMP_ARCH_AARCH64:
      return "aarch64";
    case SCMP_ARCH_ARM:
      return "arm";
  }
  return fmt::format("{:#x}", arch);
}

std::string SyscallName(std::uint32_t arch, int nr) {
  if (arch == SCMP_ARCH_X86_64 && (nr & kX32Bit)) arch = SCMP_ARCH_X32;
  char* name = seccomp_syscall_resolve_num_arch(arch, nr);
  std::string out = name ? name : fmt::format("syscall {}", nr);
  std::free(name);
  return out;
}

Result<Filter> Compile(const Profile& p, const CompileOptions& o) {
  std::uint32_t native = seccomp_arch_native();
  if (!AllowsExecve(p, o, native)) {
    return Invalid(fmt::format("seccomp profile `{}`", p.name),
                   "a profile that allows execve (the job could not start)");
  }
  auto arches = Arches(p, native);
  if (!arches) return tl::unexpected(arches.error());
  std::uint32_t badarch = o.notify_kills ? SCMP_ACT_NOTIFY : SCMP_ACT_KILL_PROCESS;
  auto main = NewCtx(*arches, ToScmp(p.default_action, p.default_errno, o.notify_kills), badarch);
  if (!main) return tl::unexpected(main.error());
  auto overlay = NewCtx(*arches, SCMP_ACT_ALLOW, SCMP_ACT_ALLOW);
  if (!overlay) return tl::unexpected(overlay.error());
  Compiler c{p, o, main->get(), overlay->get(), {}, {}, false, {}};
  c.out.profile = p.name;
  if (auto s = c.Rules(native); !s) return tl::unexpected(s.error());
  if (badarch == SCMP_ACT_NOTIFY || p.default_action == Action::kKillProcess ||
      p.default_action == Action::kKillThread) {
    c.out.listener = o.notify_kills;
  }
  for (const auto& f : p.flags) {
    if (f == "SECCOMP_FILTER_FLAG_LOG") c.out.flags |= SECCOMP_FILTER_FLAG_LOG;
    if (f == "SECCOMP_FILTER_FLAG_SPEC_ALLOW") c.out.flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
  }
  auto bpf = Export(main->get());
  if (!bpf) return tl::unexpected(bpf.error());
  c.out.main = std::move(*bpf);
  if (c.overlay_used) {
    auto extra = Export(overlay->get());
    if (!extra) return tl::unexpected(extra.error());
    c.out.overlay = std::move(*extra);
  }
  return std::move(c.out);
}

}  // namespace gaol::seccomp
