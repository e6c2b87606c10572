// Plan logic beyond the golden files: mount replacement and order, ID maps, PATH search,
// environment and rlimits.
#include "sandbox/plan/plan.h"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "sandbox/spec/paths.h"
#include "tests/unit/plan_fixture.h"

namespace gaol {
namespace {

using Catch::Matchers::Contains;
using testing::FixedHostFacts;
using testing::SpecOf;

Plan PlanOf(const JobSpec& spec, const HostFacts& facts = FixedHostFacts()) {
  auto plan = MakePlan(spec, facts);
  INFO((plan ? std::string() : plan.error().Message()));
  REQUIRE(plan);
  return *plan;
}

std::vector<const MountOp*> OpsAt(const Plan& plan, const std::string& target) {
  std::vector<const MountOp*> out;
  for (const auto& op : plan.mounts) {
    if (op.target == target) out.push_back(&op);
  }
  return out;
}

bool AnyUnder(const Plan& plan, const std::string& dir) {
  return std::any_of(plan.mounts.begin(), plan.mounts.end(),
                     [&](const MountOp& op) { return op.target.starts_with(dir + "/"); });
}

bool HasEnv(const Plan& plan, const std::string& kv) {
  return std::find(plan.envp.begin(), plan.envp.end(), kv) != plan.envp.end();
}

TEST_CASE("A user mount at /tmp replaces the default /tmp tmpfs", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  Plan defaults = PlanOf(spec);
  auto tmp = OpsAt(defaults, "/tmp");
  REQUIRE(tmp.size() == 1);
  CHECK(tmp[0]->kind == MountOpKind::kTmpfs);
  CHECK(tmp[0]->origin == "system");
  CHECK(tmp[0]->size_bytes == 64ULL << 20);
  CHECK(tmp[0]->mode == 01777);

  spec.mounts = {{.type = MountType::kBind, .source = "/srv/tmp", .target = "/tmp"}};
  Plan replaced = PlanOf(spec);
  tmp = OpsAt(replaced, "/tmp");
  REQUIRE(tmp.size() == 1);
  CHECK(tmp[0]->kind == MountOpKind::kBind);
  CHECK(tmp[0]->source == "/srv/tmp");
  CHECK(replaced.mounts.size() == defaults.mounts.size());

  spec.mounts = {{.type = MountType::kTmpfs, .target = "/tmp", .size_bytes = 1 << 20}};
  Plan sized = PlanOf(spec);  // OpsAt points into the plan: it must outlive them
  tmp = OpsAt(sized, "/tmp");
  REQUIRE(tmp.size() == 1);
  CHECK(tmp[0]->origin == "--tmpfs");
  CHECK(tmp[0]->size_bytes == 1u << 20);
}

TEST_CASE("A user mount at /etc removes the generated /etc", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  Plan defaults = PlanOf(spec);
  CHECK(AnyUnder(defaults, "/etc"));
  REQUIRE(OpsAt(defaults, "/etc/passwd").size() == 1);
  spec.mounts = {{.type = MountType::kBind, .source = "/srv/etc", .target = "/etc"}};
  Plan plan = PlanOf(spec);
  CHECK_FALSE(AnyUnder(plan, "/etc"));
  auto etc = OpsAt(plan, "/etc");
  REQUIRE(etc.size() == 1);
  CHECK(etc[0]->kind == MountOpKind::kBind);
  CHECK(etc[0]->origin == "--volume");
  // Below /etc, only the entry named is replaced.
  spec.mounts = {{.type = MountType::kBind, .source = "/srv/passwd", .target = "/etc/passwd"}};
  plan = PlanOf(spec);
  auto passwd = OpsAt(plan, "/etc/passwd");
  REQUIRE(passwd.size() == 1);
  CHECK(passwd[0]->kind == MountOpKind::kBind);
  CHECK(OpsAt(plan, "/etc/group").size() == 1);
  CHECK(OpsAt(plan, "/etc").size() == 1);
}

TEST_CASE("A user mount at /dev removes the system /dev and everything under it", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.mounts = {{.type = MountType::kTmpfs, .target = "/dev"}};
  Plan plan = PlanOf(spec);
  CHECK_FALSE(AnyUnder(plan, "/dev"));
  CHECK(OpsAt(plan, "/dev").size() == 1);
  // A name that merely starts with /dev is not beneath it.
  spec.mounts = {{.type = MountType::kTmpfs, .target = "/devices"}};
  plan = PlanOf(spec);
  CHECK(OpsAt(plan, "/dev/null").size() == 1);
}

TEST_CASE("Mounts are ordered by depth, ties in the order given", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.workdir = "/work/sub";
  spec.mounts = {
      {.type = MountType::kBind, .source = "/s/c", .target = "/work/a/c"},
      {.type = MountType::kBind, .source = "/s/b", .target = "/work/b"},
      {.type = MountType::kBind, .source = "/s/a", .target = "/work/a"},
      {.type = MountType::kBind, .source = "/s/w", .target = "/work"},
      {.type = MountType::kTmpfs, .target = "/zzz"},
      {.type = MountType::kTmpfs, .target = "/aaa"},
  };
  Plan plan = PlanOf(spec);
  // The workdir is created last, once everything it may sit under is in place.
  REQUIRE_FALSE(plan.mounts.empty());
  CHECK(plan.mounts.back().kind == MountOpKind::kDir);
  CHECK(plan.mounts.back().target == "/work/sub");
  std::vector<std::string> user;
  std::size_t last_depth = 0;
  for (std::size_t i = 0; i + 1 < plan.mounts.size(); ++i) {
    const MountOp& op = plan.mounts[i];
    std::size_t depth = PathComponents(op.target).size();
    INFO(op.target);
    CHECK(depth >= last_depth);
    last_depth = depth;
    if (op.origin == "--volume" || op.origin == "--tmpfs") user.push_back(op.target);
  }
  CHECK(user ==
        std::vector<std::string>{"/work", "/zzz", "/aaa", "/work/b", "/work/a", "/work/a/c"});
  // Defaults of equal depth keep theirs too: /usr before /bin, /etc after both.
  std::vector<std::string> top;
  for (const auto& op : plan.mounts) {
    if (op.origin != "--volume" && op.origin != "--tmpfs" && PathComponents(op.target).size() == 1)
      top.push_back(op.target);
  }
  CHECK(top == std::vector<std::string>{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc", "/proc",
                                        "/dev", "/tmp"});
}

TEST_CASE("Host-view entries become binds or symlinks, missing ones are left out", "[plan]") {
  Plan plan = PlanOf(SpecOf({"/bin/true"}));
  auto usr = OpsAt(plan, "/usr");
  REQUIRE(usr.size() == 1);
  CHECK(usr[0]->kind == MountOpKind::kBind);
  CHECK(usr[0]->read_only);
  CHECK_FALSE(usr[0]->is_file);
  auto bin = OpsAt(plan, "/bin");
  REQUIRE(bin.size() == 1);
  CHECK(bin[0]->kind == MountOpKind::kSymlink);
  CHECK(bin[0]->source == "usr/bin");
  CHECK(OpsAt(plan, "/lib32").empty());
  auto cache = OpsAt(plan, "/etc/ld.so.cache");
  REQUIRE(cache.size() == 1);
  CHECK(cache[0]->is_file);
  CHECK(cache[0]->read_only);
  // With a rootfs nothing of the host view is taken.
  JobSpec spec = SpecOf({"/bin/true"});
  spec.rootfs = "/srv/rootfs";
  plan = PlanOf(spec);
  CHECK(OpsAt(plan, "/usr").empty());
  CHECK(OpsAt(plan, "/etc").empty());
  CHECK(OpsAt(plan, "/etc/passwd").empty());
  CHECK(OpsAt(plan, "/proc").size() == 1);
  CHECK(OpsAt(plan, "/dev/null").size() == 1);
}

TEST_CASE("The generated /etc names the job's user and host", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.hostname = "box";
  Plan plan = PlanOf(spec);
  auto passwd = OpsAt(plan, "/etc/passwd");
  REQUIRE(passwd.size() == 1);
  CHECK_THAT(passwd[0]->source, Contains("gaol:x:1000:1000:"));
  CHECK_THAT(passwd[0]->source, Contains("root:x:0:0:"));
  auto hosts = OpsAt(plan, "/etc/hosts");
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0]->kind == MountOpKind::kFile);
  CHECK_THAT(hosts[0]->source, Contains("127.0.1.1\tbox\n"));
  auto hostname = OpsAt(plan, "/etc/hostname");
  REQUIRE(hostname.size() == 1);
  CHECK(hostname[0]->source == "box\n");
  CHECK(OpsAt(plan, "/etc/resolv.conf").empty());  // no network, no resolver
  spec.network = Network::kHost;
  plan = PlanOf(spec);
  hosts = OpsAt(plan, "/etc/hosts");
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0]->kind == MountOpKind::kBind);
  CHECK(OpsAt(plan, "/etc/resolv.conf").size() == 1);
}

TEST_CASE("Sharing the caller's UTS namespace claims no host name of our own", "[plan]") {
  // The host name cannot be set in the caller's UTS namespace: /etc/hostname and $HOSTNAME
  // saying "gaol" while uname says otherwise would be wrong.
  JobSpec spec = SpecOf({"/bin/true"});
  spec.share.uts = true;
  Plan plan = PlanOf(spec);
  CHECK_FALSE(plan.set_hostname);
  CHECK(OpsAt(plan, "/etc/hostname").empty());
  for (const auto& kv : plan.envp) CHECK_FALSE(kv.starts_with("HOSTNAME="));
  auto hosts = OpsAt(plan, "/etc/hosts");
  REQUIRE(hosts.size() == 1);
  CHECK_THAT(hosts[0]->source, !Contains("gaol"));
}

TEST_CASE("Clone flags follow --share and --network", "[plan]") {
  constexpr std::uint64_t kAlways = CLONE_NEWUSER | CLONE_NEWNS | CLONE_PIDFD;
  JobSpec spec = SpecOf({"/bin/true"});
  Plan plan = PlanOf(spec);
  CHECK(plan.clone_flags ==
        (kAlways | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWNET));
  CHECK(plan.bring_up_lo);
  CHECK(plan.set_hostname);
  spec.share = {.ipc = true, .uts = true, .pid = true, .cgroup = true};
  spec.network = Network::kHost;
  plan = PlanOf(spec);
  CHECK(plan.clone_flags == kAlways);
  CHECK_FALSE(plan.bring_up_lo);
  CHECK_FALSE(plan.set_hostname);
  spec.share = {.cgroup = true};
  plan = PlanOf(spec);
  CHECK(plan.clone_flags == (kAlways | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC));
}

TEST_CASE("FormatIdMapLine", "[plan][idmap]") {
  CHECK(FormatIdMapLine(0, 1000, 1) == "0 1000 1\n");
  CHECK(FormatIdMapLine(1, 100000, 65536) == "1 100000 65536\n");
  CHECK(FormatIdMapLine(4294967294u, 0, 1) == "4294967294 0 1\n");
}

TEST_CASE("A single ID maps the caller to the uid/gid inside", "[plan][idmap]") {
  JobSpec spec = SpecOf({"/bin/true"});
  Plan plan = PlanOf(spec);
  CHECK(plan.uid == 1000);
  CHECK(plan.gid == 1000);
  CHECK(plan.id_map.uid_map == "1000 1000 1\n");
  CHECK(plan.id_map.gid_map == "1000 1000 1\n");
  CHECK_FALSE(plan.id_map.use_helpers);
  spec.uid = 0;
  spec.gid = 5;
  plan = PlanOf(spec);
  CHECK(plan.id_map.uid_map == "0 1000 1\n");
  CHECK(plan.id_map.gid_map == "5 1000 1\n");
}

TEST_CASE("AutoRanges lays the subordinate ranges over inside IDs around the caller's",
          "[plan][idmap]") {
  const std::vector<IdRange> one = {{0, 100000, 65536}};
  CHECK(AutoRanges(0, one) == std::vector<IdRange>{{1, 100000, 65536}});
  CHECK(AutoRanges(1000, one) == std::vector<IdRange>{{0, 100000, 1000}, {1001, 101000, 64536}});
  const std::vector<IdRange> two = {{0, 100000, 500}, {0, 200000, 1000}};
  CHECK(AutoRanges(1000, two) ==
        std::vector<IdRange>{{0, 100000, 500}, {500, 200000, 500}, {1001, 200500, 500}});
  CHECK(AutoRanges(0, two) == std::vector<IdRange>{{1, 100000, 500}, {501, 200000, 1000}});
  CHECK(AutoRanges(1000, {}).empty());
  // The caller's ID just past the first range.
  CHECK(AutoRanges(500, two) == std::vector<IdRange>{{0, 100000, 500}, {501, 200000, 1000}});
}

TEST_CASE("map_users auto passes the ranges to newuidmap", "[plan][idmap]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.uid = 0;
  spec.map_users.automatic = true;
  HostFacts facts = FixedHostFacts();
  facts.subuid = {{0, 100000, 65536}};
  Plan plan = PlanOf(spec, facts);
  CHECK(plan.id_map.use_helpers);
  CHECK(plan.id_map.newuidmap_args ==
        std::vector<std::string>{"0", "1000", "1", "1", "100000", "65536"});
  // The groups side still maps the caller's own group through newgidmap.
  CHECK(plan.id_map.newgidmap_args == std::vector<std::string>{"1000", "1000", "1"});
}

TEST_CASE("map_users auto without a subordinate range says where to add one", "[plan][idmap]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.map_users.automatic = true;
  auto plan = MakePlan(spec, FixedHostFacts());
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(),
             Contains("--map-users") && Contains("/etc/subuid") && Contains("1000"));
  spec.map_users = {};
  spec.map_groups.automatic = true;
  plan = MakePlan(spec, FixedHostFacts());
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(), Contains("--map-groups") && Contains("/etc/subgid"));
}

TEST_CASE("Overlapping ranges inside are an error", "[plan][idmap]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.uid = 0;
  spec.map_users.ranges = {{1, 100000, 100}, {50, 200000, 10}};
  auto plan = MakePlan(spec, FixedHostFacts());
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(),
             Contains("--map-users") && Contains("overlap") && Contains("50"));
  // Over the caller's own mapping (inside 0).
  spec.map_users.ranges = {{0, 100000, 10}};
  plan = MakePlan(spec, FixedHostFacts());
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(), Contains("ID 0 is mapped twice"));
  // Over an auto range.
  spec.map_users = {.automatic = true, .ranges = {{70000, 300000, 1}}};
  HostFacts facts = FixedHostFacts();
  facts.subuid = {{0, 100000, 65536}};
  CHECK(MakePlan(spec, facts));
  spec.map_users.ranges = {{65536, 300000, 1}};
  plan = MakePlan(spec, facts);
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(), Contains("65536"));
  // Adjacent is fine.
  spec.map_users = {.ranges = {{1, 100000, 100}, {101, 200000, 10}}};
  spec.map_groups.ranges = {{1, 100000, 10}};
  Plan ok = PlanOf(spec);
  CHECK(ok.id_map.newuidmap_args ==
        std::vector<std::string>{"0", "1000", "1", "1", "100000", "100", "101", "200000", "10"});
  CHECK(ok.id_map.newgidmap_args ==
        std::vector<std::string>{"1000", "1000", "1", "1", "100000", "10"});
}

TEST_CASE("PATH search happens in the plan", "[plan]") {
  JobSpec spec = SpecOf({"/opt/tool", "x"});
  CHECK(PlanOf(spec).exec_candidates == std::vector<std::string>{"/opt/tool"});
  spec.command = {"./a.out"};
  CHECK(PlanOf(spec).exec_candidates == std::vector<std::string>{"./a.out"});
  spec.command = {"sh"};
  CHECK(PlanOf(spec).exec_candidates ==
        std::vector<std::string>{"/usr/local/sbin/sh", "/usr/local/bin/sh", "/usr/sbin/sh",
                                 "/usr/bin/sh", "/sbin/sh", "/bin/sh"});
  spec.env["PATH"] = "/a:rel::./b:/c";
  CHECK(PlanOf(spec).exec_candidates == std::vector<std::string>{"/a/sh", "/c/sh"});
  // Without PATH in the job's environment the search uses the same default PATH.
  spec.clear_env = true;
  spec.env.clear();
  CHECK(PlanOf(spec).exec_candidates ==
        std::vector<std::string>{"/usr/local/sbin/sh", "/usr/local/bin/sh", "/usr/sbin/sh",
                                 "/usr/bin/sh", "/sbin/sh", "/bin/sh"});
  CHECK(PlanOf(spec).argv == std::vector<std::string>{"sh"});
}

TEST_CASE("The job gets the minimal environment unless clear_env", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  spec.hostname = "box";
  Plan plan = PlanOf(spec);
  auto minimal = MinimalEnv("box");
  REQUIRE(minimal.size() == plan.envp.size());
  for (const auto& [k, v] : minimal) CHECK(HasEnv(plan, k + "=" + v));
  CHECK(HasEnv(plan, "HOSTNAME=box"));
  CHECK(HasEnv(plan, "HOME=/tmp"));
  CHECK(std::is_sorted(plan.envp.begin(), plan.envp.end()));
  spec.env = {{"LANG", "C"}, {"JOB", "1"}};
  plan = PlanOf(spec);
  CHECK(HasEnv(plan, "LANG=C"));
  CHECK_FALSE(HasEnv(plan, "LANG=C.UTF-8"));
  CHECK(HasEnv(plan, "JOB=1"));
  CHECK(plan.envp.size() == minimal.size() + 1);
  spec.clear_env = true;
  CHECK(PlanOf(spec).envp == std::vector<std::string>{"JOB=1", "LANG=C"});
  spec.env.clear();
  CHECK(PlanOf(spec).envp.empty());
}

TEST_CASE("Core dumps are off unless asked for, other ulimits pass through", "[plan]") {
  JobSpec spec = SpecOf({"/bin/true"});
  Plan plan = PlanOf(spec);
  REQUIRE(plan.rlimits.size() == 1);
  CHECK(plan.rlimits[0].name == "core");
  CHECK(plan.rlimits[0].resource == RLIMIT_CORE);
  CHECK(plan.rlimits[0].soft == 0);
  CHECK(plan.rlimits[0].hard == 0);
  spec.ulimits = {{"core", {1024, RLIM_INFINITY}}, {"nofile", {64, 128}}};
  plan = PlanOf(spec);
  REQUIRE(plan.rlimits.size() == 2);
  CHECK(plan.rlimits[0].name == "core");
  CHECK(plan.rlimits[0].soft == 1024);
  CHECK(plan.rlimits[0].hard == RLIM_INFINITY);
  CHECK(plan.rlimits[1].name == "nofile");
  CHECK(plan.rlimits[1].resource == RLIMIT_NOFILE);
  CHECK(plan.rlimits[1].soft == 64);
  CHECK(plan.rlimits[1].hard == 128);
}

TEST_CASE("MakePlan validates the spec first", "[plan]") {
  JobSpec spec = SpecOf({});
  CHECK_FALSE(MakePlan(spec, FixedHostFacts()));
  spec = SpecOf({"/bin/true"});
  spec.mounts = {{.type = MountType::kTmpfs, .target = "/proc/x"}};
  auto plan = MakePlan(spec, FixedHostFacts());
  REQUIRE_FALSE(plan);
  CHECK_THAT(plan.error().Message(), Contains("mounts[0].target"));
}

}  // namespace
}  // namespace gaol
