// The job's file system: the host view, binds, tmpfs, /proc, /dev, pivot_root and chroot.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "tests/integration/harness.h"

using gaol::it::RunProbe;

namespace {

bool HasMountAt(const nlohmann::json& probe, const std::string& target,
                const std::string& fstype = "") {
  for (const auto& m : probe["mounts"]) {
    if (m["target"] == target && (fstype.empty() || m["fstype"] == fstype)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("the root is read-only and minimal", "[rootfs]") {
  auto run = RunProbe({}, {"report"});
  REQUIRE(run.exit_status == 0);
  auto p = run.Probe();
  CHECK(p["root_writable"] == false);
  CHECK(p["root_writable_errno"] == "EROFS");
  SECTION("/dev holds only the minimal set") {
    std::set<std::string> dev(p["dev"].begin(), p["dev"].end());
    CHECK(dev == std::set<std::string>{"fd", "full", "null", "ptmx", "pts", "random", "shm",
                                       "stderr", "stdin", "stdout", "tty", "urandom", "zero"});
  }
  SECTION("a fresh /proc, /tmp on tmpfs, the old root gone") {
    CHECK(HasMountAt(p, "/proc", "proc"));
    CHECK(HasMountAt(p, "/tmp", "tmpfs"));
    CHECK(HasMountAt(p, "/", "tmpfs"));
    for (const auto& m : p["mounts"]) {
      // Nothing of the host is mounted except what the plan binds.
      std::string target = m["target"];
      bool planned = target == "/" || target.starts_with("/usr") || target.starts_with("/etc") ||
                     target.starts_with("/dev") || target.starts_with("/proc") ||
                     target == "/tmp" || target == "/probe";
      CHECK(planned);
    }
  }
  SECTION("the minimal environment, fds 0-2 only") {
    CHECK(p["env"].size() == 4);
    CHECK(p["env"]["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    CHECK(p["fds"] == nlohmann::json::array({0, 1, 2}));
    CHECK(p["cwd"] == "/");
  }
}

TEST_CASE("the old root is unreachable", "[rootfs]") {
  std::string dir = gaol::it::MakeTempDir();
  std::ofstream(dir + "/marker") << "host";
  auto run = RunProbe({}, {"stat", dir + "/marker"});
  CHECK(run.Probe()["exists"] == false);
  auto chrooted = RunProbe({"--chroot"}, {"stat", dir + "/marker"});
  CHECK(chrooted.Probe()["exists"] == false);
  gaol::it::RemoveTree(dir);
}

TEST_CASE("--chroot runs the job in the same root", "[rootfs]") {
  auto run = RunProbe({"--chroot"}, {"report"});
  REQUIRE(run.exit_status == 0);
  auto p = run.Probe();
  CHECK(p["pid"] == 2);
  CHECK(p["root_writable"] == false);
  CHECK(HasMountAt(p, "/proc", "proc"));
}

TEST_CASE("binds: read-only rejects writes, writable reaches the host", "[rootfs]") {
  std::string dir = gaol::it::MakeTempDir(0755);
  SECTION("--ro-bind") {
    auto run = RunProbe({"--ro-bind", dir, "/data"}, {"write", "/data/out"});
    CHECK(run.Probe()["ok"] == false);
    CHECK(run.Probe()["errno"] == "EROFS");
    struct stat st;
    CHECK(stat((dir + "/out").c_str(), &st) != 0);
  }
  SECTION("-v SRC:DST:ro keeps nosuid and nodev") {
    auto run = RunProbe({"-v", dir + ":/data:ro"}, {"report"});
    auto p = run.Probe();
    bool found = false;
    for (const auto& m : p["mounts"]) {
      if (m["target"] != "/data") continue;
      found = true;
      std::string options = m["options"];
      CHECK(options.starts_with("ro,"));
      CHECK(options.find("nosuid") != std::string::npos);
      CHECK(options.find("nodev") != std::string::npos);
    }
    CHECK(found);
  }
  SECTION("--bind and -v SRC:DST") {
    auto run = RunProbe({"--bind", dir, "/data"}, {"write", "/data/out", "5"});
    CHECK(run.Probe()["ok"] == true);
    struct stat st;
    REQUIRE(stat((dir + "/out").c_str(), &st) == 0);
    CHECK(st.st_size == 5);
  }
  gaol::it::RemoveTree(dir);
}

TEST_CASE("--tmpfs is writable and its size is enforced", "[rootfs]") {
  auto run = RunProbe({"--tmpfs", "/scratch:size=1m"}, {"write", "/scratch/f", "3000000"});
  auto p = run.Probe();
  CHECK(p["ok"] == false);
  CHECK(p["errno"] == "ENOSPC");
  CHECK(p["written"] <= 1048576);
  CHECK(p["written"] >= 1000000);
}

TEST_CASE("--workdir is created and entered", "[rootfs]") {
  auto run = RunProbe({"--tmpfs", "/work", "-w", "/work/sub"}, {"report"});
  REQUIRE(run.exit_status == 0);
  CHECK(run.Probe()["cwd"] == "/work/sub");
}

TEST_CASE("--rootfs DIR becomes the root", "[rootfs]") {
  std::string dir = gaol::it::MakeTempDir(0755);
  for (const char* sub : {"/proc", "/dev", "/tmp", "/probe"}) mkdir((dir + sub).c_str(), 0755);
  std::ofstream(dir + "/only-in-rootfs") << "x";
  auto run = RunProbe({"--rootfs", dir}, {"stat", "/only-in-rootfs"});
  REQUIRE(run.exit_status == 0);
  CHECK(run.Probe()["exists"] == true);
  auto usr = RunProbe({"--rootfs", dir}, {"stat", "/usr"});
  CHECK(usr.Probe()["exists"] == false);
  gaol::it::RemoveTree(dir);
}
