// gaol check against a fake host (a temp dir standing in for /proc/sys, /etc, mountinfo, /sys)
// and once against the real one.
#include "sandbox/check/check.h"

#include <pwd.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>

namespace gaol::check {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kStranger = 4242;  // no passwd entry, owns nothing

constexpr const char* kUnifiedMountinfo =
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

// This build machine's layout: v1 controllers plus cgroup2 at /sys/fs/cgroup/unified.
constexpr const char* kHybridMountinfo =
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

constexpr const char* kNoCgroupMountinfo =
    "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
    "23 22 0:5 / /proc rw,nosuid - proc proc rw\n";

// A fake host under a mkdtemp directory; by default everything is fine.
class FakeHost {
 public:
  FakeHost() {
    char tmpl[] = "/tmp/gaol-check-test-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    root_ = dir;
    Write("proc/sys/user/max_user_namespaces", "15000\n");
    Write("proc/sys/kernel/io_uring_disabled", "0\n");
    Write("proc/sys/kernel/io_uring_group", "-1\n");
    Write("proc/sys/kernel/seccomp/actions_avail",
          "kill_process kill_thread trap errno user_notif trace log allow\n");
    Write("proc/self/mountinfo", kUnifiedMountinfo);
    Write("proc/self/cgroup", "0::/user.slice\n");
    Write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n");
    Write("sys/fs/cgroup/user.slice/cgroup.controllers", "cpuset cpu io memory pids\n");
    Write("sys/module/apparmor/parameters/enabled", "Y\n");
    Write("etc/subuid", "");
    Write("etc/subgid", "");
    fs::create_directories(root_ / "usr/bin");
  }
  ~FakeHost() {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  void Write(const std::string& rel, const std::string& text) {
    const fs::path path = root_ / rel;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  void Remove(const std::string& rel) { fs::remove_all(root_ / rel); }

  HostPaths Paths() const {
    HostPaths p;
    p.proc_sys = (root_ / "proc/sys").string();
    p.etc = (root_ / "etc").string();
    p.proc_self = (root_ / "proc/self").string();
    p.mounts = (root_ / "proc/self/mountinfo").string();
    p.sys = (root_ / "sys").string();
    p.run = (root_ / "run").string();
    p.fs_root = root_.string();
    p.bin_dirs = {(root_ / "usr/bin").string()};
    return p;
  }

  Item Inspect(const std::string& name, uid_t uid = ::getuid()) const {
    const Report report = InspectHost(uid, Paths());
    const Item* item = report.Find(name);
    REQUIRE(item != nullptr);
    return *item;
  }

 private:
  fs::path root_;
};

std::string OwnName() {
  const passwd* pw = ::getpwuid(::getuid());
  REQUIRE(pw != nullptr);
  return pw->pw_name;
}

// An independent answer to "can `uid` enter a user namespace?" (only root can ask for another uid).
bool CanUnshareUser(uid_t uid = ::getuid()) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (uid != ::getuid() && (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)) {
      ::_exit(2);
    }
    ::_exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

const char* const kAllNames[] = {
    "user_namespaces",    "newuidmap",    "newgidmap", "subuid",   "subgid",   "cgroup2",
    "cgroup_controllers", "systemd_user", "seccomp",   "landlock", "apparmor", "io_uring"};

TEST_CASE("user namespaces disabled by user.max_user_namespaces=0", "[unit][check]") {
  FakeHost host;
  host.Write("proc/sys/user/max_user_namespaces", "0\n");
  const Report report = InspectHost(::getuid(), host.Paths());
  const Item* item = report.Find("user_namespaces");
  REQUIRE(item != nullptr);
  CHECK(item->state == State::kMissing);
  CHECK_THAT(item->fix, Catch::Contains("sysctl -w user.max_user_namespaces=15000"));
  CHECK_THAT(item->detail, Catch::Contains("max_user_namespaces is 0"));
  CHECK_FALSE(report.CanRun());
  CHECK_THAT(FormatText(report), Catch::Contains("gaol cannot run here"));
}

TEST_CASE("user namespaces disabled by Debian's unprivileged_userns_clone=0", "[unit][check]") {
  FakeHost host;
  host.Write("proc/sys/kernel/unprivileged_userns_clone", "0\n");
  const Item item = host.Inspect("user_namespaces");
  CHECK(item.state == State::kMissing);
  CHECK(item.fix == "sysctl -w kernel.unprivileged_userns_clone=1");
}

TEST_CASE("Ubuntu's AppArmor restriction of user namespaces", "[unit][check]") {
  FakeHost host;
  host.Write("proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n");
  for (uid_t uid : {static_cast<uid_t>(0), ::getuid(), kStranger}) {
    CAPTURE(uid);
    const Item item = host.Inspect("user_namespaces", uid);
    if (item.state == State::kOk) {
      // The real probe got through: only an AppArmor profile can explain that, and it says so.
      CHECK(uid != 0);
      CHECK_THAT(item.detail, Catch::Contains("AppArmor profile"));
      CHECK(item.fix.empty());
    } else {
      CHECK_THAT(item.fix, Catch::Contains("apparmor_parser -r /etc/apparmor.d/gaol-userns"));
      CHECK_THAT(item.fix,
                 Catch::Contains("sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"));
    }
  }
}

TEST_CASE("with fine sysctls the real unshare test is the verdict", "[unit][check]") {
  FakeHost host;
  const Item item = host.Inspect("user_namespaces");
  CHECK((item.state == State::kOk) == CanUnshareUser());
  if (::getuid() == 0) CHECK_THAT(item.detail, Catch::Contains("the caller is root"));
  // Root asking for another user: the probe runs with that user's ids.
  const uid_t other = ::geteuid() == 0 ? kStranger : ::getuid();
  const Item for_other = host.Inspect("user_namespaces", other);
  CHECK((for_other.state == State::kOk) == CanUnshareUser(other));
  if (other != ::getuid()) CHECK_THAT(for_other.detail, Catch::Contains("as uid 4242"));
}

TEST_CASE("subuid and subgid entries for the caller", "[unit][check]") {
  FakeHost host;
  SECTION("by name") {
    host.Write("etc/subuid", "# comment\nalice:100000:65536\n" + OwnName() + ":300000:65536\n");
    host.Write("etc/subgid", OwnName() + ":300000:1000\n");
    const Item uid_item = host.Inspect("subuid");
    CHECK(uid_item.state == State::kOk);
    CHECK_THAT(uid_item.detail, Catch::Contains("300000-365535 (65536 ids)"));
    CHECK(uid_item.fix.empty());
    const Item gid_item = host.Inspect("subgid");
    CHECK(gid_item.state == State::kOk);
    CHECK_THAT(gid_item.detail, Catch::Contains("300000-300999"));
  }
  SECTION("by number") {
    host.Write("etc/subuid", "4242:200000:65536\n");
    const Item item = host.Inspect("subuid", kStranger);
    CHECK(item.state == State::kOk);
    CHECK_THAT(item.detail, Catch::Contains("200000-265535"));
    CHECK(host.Inspect("subgid", kStranger).state == State::kWarn);
  }
  SECTION("absent: the fix takes a range nobody has") {
    host.Write("etc/subuid", "alice:100000:65536\n");
    host.Write("etc/subgid", "alice:100000:65536\n");
    const Item item = host.Inspect("subuid");
    CHECK(item.state == State::kWarn);
    CHECK(item.fix ==
          "usermod --add-subuids 165536-231071 --add-subgids 165536-231071 " + OwnName());
    CHECK(host.Inspect("subuid", kStranger).state == State::kWarn);
  }
  SECTION("no files at all") {
    host.Remove("etc/subuid");
    host.Remove("etc/subgid");
    const Item item = host.Inspect("subgid");
    CHECK(item.state == State::kWarn);
    CHECK_THAT(item.detail, Catch::Contains("subgid absent"));
    CHECK_THAT(item.fix,
               Catch::Contains("--add-subuids 100000-165535 --add-subgids 100000-165535"));
  }
}

TEST_CASE("newuidmap and newgidmap", "[unit][check]") {
  FakeHost host;
  Item item = host.Inspect("newuidmap");
  CHECK(item.state == State::kWarn);
  CHECK(item.fix == "apt-get install uidmap");
  host.Write("usr/bin/newgidmap", "#!/bin/sh\n");  // neither setuid root nor capable
  item = host.Inspect("newgidmap");
  CHECK(item.state == State::kWarn);
  CHECK_THAT(item.fix, Catch::Contains("setcap cap_setgid+ep"));
}

TEST_CASE("cgroup2 unified with the controllers delegated", "[unit][check]") {
  FakeHost host;
  const Report report = InspectHost(::getuid(), host.Paths());
  const Item* cgroup = report.Find("cgroup2");
  REQUIRE(cgroup != nullptr);
  CHECK(cgroup->state == State::kOk);
  CHECK_THAT(cgroup->detail, Catch::Contains("cgroup2 at /sys/fs/cgroup (unified)"));
  CHECK_THAT(cgroup->detail, Catch::Contains("own cgroup /user.slice"));
  const Item* controllers = report.Find("cgroup_controllers");
  REQUIRE(controllers != nullptr);
  CHECK(controllers->state == State::kOk);
  CHECK_THAT(controllers->detail, Catch::Contains("cpuset cpu io memory pids"));
  CHECK_THAT(controllers->detail, Catch::Contains("user.slice/cgroup.controllers"));
}

TEST_CASE("cgroup2 unified but not delegated, controllers missing, systemd", "[unit][check]") {
  FakeHost host;
  host.Write("run/systemd/system/.keep", "");
  host.Write("sys/fs/cgroup/user.slice/cgroup.controllers", "cpuset io\n");
  const Item cgroup = host.Inspect("cgroup2", kStranger);
  CHECK(cgroup.state == State::kWarn);
  CHECK_THAT(cgroup.detail, Catch::Contains("not writable"));
  CHECK_THAT(cgroup.fix, Catch::Contains("systemd-run --user --scope -p Delegate=yes"));
  const Item controllers = host.Inspect("cgroup_controllers", kStranger);
  CHECK(controllers.state == State::kWarn);
  CHECK_THAT(controllers.detail, Catch::Contains("missing cpu, memory, pids"));
  CHECK_THAT(controllers.fix, Catch::Contains("/etc/systemd/system/user@.service.d/delegate.conf"));
  CHECK_THAT(controllers.fix, Catch::Contains("[Service]\\nDelegate=cpu cpuset io memory pids"));
}

TEST_CASE("cgroup2 hybrid, as on the build machine", "[unit][check]") {
  FakeHost host;
  host.Write("proc/self/mountinfo", kHybridMountinfo);
  host.Write("proc/self/cgroup", "9:name=systemd:/\n4:memory:/x\n0::/\n");
  host.Write("sys/fs/cgroup/unified/cgroup.controllers", "hugetlb\n");
  SECTION("own cgroup at the root") {
    const Item cgroup = host.Inspect("cgroup2");
    CHECK(cgroup.state == State::kOk);
    CHECK_THAT(cgroup.detail, Catch::Contains("cgroup2 at /sys/fs/cgroup/unified (hybrid"));
    CHECK_THAT(cgroup.detail, Catch::Contains("v1 controllers: cpu memory pids"));
  }
  SECTION("own cgroup lacks cgroup.controllers: the mount root's counts") {
    host.Write("proc/self/cgroup", "0::/job\n");
    host.Write("sys/fs/cgroup/unified/job/cgroup.procs", "");
    const Item controllers = host.Inspect("cgroup_controllers");
    CHECK_THAT(controllers.detail, Catch::Contains("unified/cgroup.controllers"));
  }
  const Item controllers = host.Inspect("cgroup_controllers");
  CHECK(controllers.state == State::kWarn);
  CHECK_THAT(controllers.detail, Catch::Contains("controllers: hugetlb"));
  CHECK_THAT(controllers.fix, Catch::Contains("systemd.unified_cgroup_hierarchy=1"));
}

TEST_CASE("no cgroup2 mounted", "[unit][check]") {
  FakeHost host;
  host.Write("proc/self/mountinfo", kNoCgroupMountinfo);
  const Item cgroup = host.Inspect("cgroup2");
  CHECK(cgroup.state == State::kMissing);
  CHECK_THAT(cgroup.detail, Catch::Contains("no cgroup2 mount"));
  CHECK_FALSE(cgroup.fix.empty());
  CHECK(host.Inspect("cgroup_controllers").state == State::kMissing);
}

TEST_CASE("mount points with escapes in mountinfo", "[unit][check]") {
  FakeHost host;
  host.Write("proc/self/mountinfo", "30 22 0:26 / /mnt/cg\\040v2 rw - cgroup2 cgroup2 rw\n");
  host.Write("proc/self/cgroup", "0::/\n");
  host.Write("mnt/cg v2/cgroup.controllers", "cpu memory pids\n");
  CHECK_THAT(host.Inspect("cgroup2").detail, Catch::Contains("cgroup2 at /mnt/cg v2 (unified)"));
  CHECK(host.Inspect("cgroup_controllers").state == State::kOk);
}

TEST_CASE("io_uring disabled by kernel.io_uring_disabled=2", "[unit][check]") {
  FakeHost host;
  host.Write("proc/sys/kernel/io_uring_disabled", "2\n");
  const Item item = host.Inspect("io_uring");
  CHECK(item.state == State::kMissing);
  CHECK(item.fix == "sysctl -w kernel.io_uring_disabled=0");
  CHECK_THAT(item.detail, Catch::Contains("io_uring_disabled is 2"));
}

TEST_CASE("seccomp lacking actions and AppArmor absent", "[unit][check]") {
  FakeHost host;
  host.Write("proc/sys/kernel/seccomp/actions_avail", "kill_thread errno allow\n");
  host.Remove("sys/module/apparmor");
  const Item seccomp = host.Inspect("seccomp");
  CHECK(seccomp.state == State::kWarn);
  CHECK_THAT(seccomp.detail, Catch::Contains("lacking kill_process, trap"));
  const Item apparmor = host.Inspect("apparmor");
  CHECK(apparmor.state == State::kWarn);
  CHECK_THAT(apparmor.detail, Catch::Contains("Landlock is used"));
  CHECK_THAT(apparmor.detail, Catch::Contains("enabled absent"));
}

TEST_CASE("ToJson shape", "[unit][check]") {
  Report report;
  report.items = {
      {"user_namespaces", State::kOk, "works", ""},
      {"landlock", State::kWarn, "off", "boot with lsm=landlock"},
      {"io_uring", State::kMissing, "disabled", "sysctl -w kernel.io_uring_disabled=0"}};
  nlohmann::json json = ToJson(report);
  CHECK(json["schema"] == "gaol.check/v1");
  CHECK(json["can_run"] == true);
  REQUIRE(json["items"].size() == 3);
  CHECK(json["items"][0] ==
        nlohmann::json{
            {"name", "user_namespaces"}, {"state", "ok"}, {"detail", "works"}, {"fix", ""}});
  CHECK(json["items"][1]["state"] == "warn");
  CHECK(json["items"][2]["state"] == "missing");
  CHECK(json["items"][2]["fix"] == "sysctl -w kernel.io_uring_disabled=0");

  report.items[0].state = State::kMissing;
  CHECK(ToJson(report)["can_run"] == false);
  report.items.erase(report.items.begin());
  CHECK(ToJson(report)["can_run"] == false);  // no verdict on user namespaces: cannot run
}

TEST_CASE("FormatText lists every item and fixes only under gaps", "[unit][check]") {
  FakeHost host;
  host.Write("proc/sys/kernel/io_uring_disabled", "2\n");
  const Report report = InspectHost(::getuid(), host.Paths());
  const std::string text = FormatText(report);
  for (const char* name : kAllNames) CHECK_THAT(text, Catch::Contains(name));
  CHECK_THAT(text, Catch::Contains("missing  io_uring"));
  CHECK_THAT(text, Catch::Contains("\n         fix: sysctl -w kernel.io_uring_disabled=0\n"));
  size_t fixes = 0;
  for (size_t pos = 0; (pos = text.find("fix: ", pos)) != std::string::npos; ++pos) ++fixes;
  size_t gaps = 0;
  for (const auto& item : report.items) gaps += item.state != State::kOk;
  CHECK(fixes == gaps);
}

TEST_CASE("the real host", "[unit][check]") {
  const Report report = InspectHost(::getuid());
  INFO(FormatText(report));
  REQUIRE(report.items.size() == std::size(kAllNames));
  for (const char* name : kAllNames) {
    const Item* item = report.Find(name);
    REQUIRE(item != nullptr);
    CHECK_FALSE(item->detail.empty());
    CHECK(item->fix.empty() == (item->state == State::kOk));
  }
  CHECK(report.Find("seccomp")->state == State::kOk);
  CHECK((report.Find("user_namespaces")->state != State::kMissing) == CanUnshareUser());
  CHECK(report.CanRun() == CanUnshareUser());
  const Item* landlock = report.Find("landlock");
  if (landlock->state == State::kOk)
    CHECK_THAT(landlock->detail, Catch::StartsWith("Landlock ABI "));
}

}  // namespace
}  // namespace gaol::check
