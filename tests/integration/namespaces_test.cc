// What the job sees of its namespaces, as reported by the probe from inside.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/integration/harness.h"

using gaol::it::RunProbe;

TEST_CASE("default isolation: ids, pids, hostname, network", "[namespaces]") {
  auto run = RunProbe({}, {"report"});
  REQUIRE(run.exit_status == 0);
  REQUIRE(run.result["status"] == "ok");
  auto p = run.Probe();
  REQUIRE(p.is_object());
  std::string me = std::to_string(getuid());
  SECTION("the caller's own uid and gid inside, mapped one to one, setgroups denied") {
    CHECK(p["uid"] == getuid());
    CHECK(p["gid"] == getgid());
    CHECK(p["uid_map"] == nlohmann::json::array({me + " " + me + " 1"}));
    CHECK(p["setgroups"] == nlohmann::json::array({"deny"}));
    CHECK(p["groups"].empty());
  }
  SECTION("the job is pid 2 under gaol's PID 1, and no host process is visible") {
    CHECK(p["pid"] == 2);
    CHECK(p["ppid"] == 1);
    CHECK(p["pids"] == nlohmann::json::array({1, 2}));
  }
  SECTION("hostname gaol, only lo, up") {
    CHECK(p["hostname"] == "gaol");
    REQUIRE(p["interfaces"].size() == 1);
    CHECK(p["interfaces"][0]["name"] == "lo");
    CHECK(p["interfaces"][0]["up"] == true);
  }
  SECTION("a new session without a controlling terminal, no capabilities, no_new_privs") {
    CHECK(p["sid"] == 1);  // PID 1's session: the job has no terminal to push input into
    CHECK(p["controlling_tty"] == false);
    for (const char* set : {"cap_eff", "cap_prm", "cap_bnd", "cap_inh", "cap_amb"}) {
      INFO(set);
      CHECK(p[set] == "0000000000000000");
    }
    CHECK(p["no_new_privs"] == 1);
  }
}

TEST_CASE("--uid and --gid choose the ids inside", "[namespaces]") {
  auto run = RunProbe({"--uid", "0", "--gid", "0"}, {"report"});
  REQUIRE(run.exit_status == 0);
  auto p = run.Probe();
  CHECK(p["uid"] == 0);
  CHECK(p["gid"] == 0);
  CHECK(p["uid_map"] == nlohmann::json::array({"0 " + std::to_string(getuid()) + " 1"}));
}

TEST_CASE("--hostname sets the UTS name", "[namespaces]") {
  auto run = RunProbe({"--hostname", "judge-7"}, {"report"});
  REQUIRE(run.exit_status == 0);
  CHECK(run.Probe()["hostname"] == "judge-7");
}

TEST_CASE("--network host keeps the host's interfaces", "[namespaces]") {
  std::ifstream dev("/proc/net/dev");
  std::string line;
  int host_interfaces = -2;  // two header lines
  while (std::getline(dev, line)) ++host_interfaces;
  auto run = RunProbe({"--network", "host"}, {"report"});
  REQUIRE(run.exit_status == 0);
  CHECK(static_cast<int>(run.Probe()["interfaces"].size()) == host_interfaces);
}

TEST_CASE("--share pid sees the host's processes", "[namespaces]") {
  auto run = RunProbe({"--share", "pid"}, {"report"});
  REQUIRE(run.exit_status == 0);
  auto p = run.Probe();
  CHECK(p["pid"] != 2);
  CHECK(p["pids"].size() > 2);
}

TEST_CASE("--map-users auto maps the caller's subordinate range, or says what is missing",
          "[namespaces]") {
  auto run = RunProbe({"--map-users", "auto", "--map-groups", "auto"}, {"report"});
  std::ifstream subuid("/etc/subuid");
  std::string all((std::istreambuf_iterator<char>(subuid)), std::istreambuf_iterator<char>());
  bool has_range = all.find(std::to_string(getuid()) + ":") != std::string::npos ||
                   all.find("nobody:") != std::string::npos;
  if (has_range) {
    REQUIRE(run.exit_status == 0);
    auto p = run.Probe();
    CHECK(p["uid_map"].size() >= 2);
    CHECK(p["gid_map"].size() >= 2);
  } else {
    CHECK(run.exit_status == 125);
    CHECK(run.err.find("/etc/subuid") != std::string::npos);
  }
}

TEST_CASE("capabilities: none kept by default, even for uid 0; --cap-add keeps one",
          "[namespaces]") {
  SECTION("uid 0 inside gets nothing for being root (SECBIT_NOROOT)") {
    auto p = RunProbe({"--uid", "0"}, {"report"}).Probe();
    CHECK(p["uid"] == 0);
    CHECK(p["cap_eff"] == "0000000000000000");
    CHECK(p["cap_bnd"] == "0000000000000000");
  }
  SECTION("--cap-add NET_BIND_SERVICE is kept across exec by a non-root uid, and nothing else") {
    auto p = RunProbe({"--cap-add", "NET_BIND_SERVICE"}, {"report"}).Probe();
    for (const char* set : {"cap_eff", "cap_prm", "cap_bnd", "cap_inh", "cap_amb"}) {
      INFO(set);
      CHECK(p[set] == "0000000000000400");  // bit 10
    }
  }
  SECTION("--cap-drop takes back what --cap-add gave") {
    auto p = RunProbe({"--cap-add", "net_raw", "--cap-add", "CAP_CHOWN", "--cap-drop", "chown"},
                      {"report"})
                 .Probe();
    CHECK(p["cap_eff"] == "0000000000002000");  // bit 13: NET_RAW
  }
}

// gaol makes the network namespace beside PID 1 (launch.cc, HandOverNetwork), not with clone3: a
// namespace that cannot be made is still one clear line naming the step, and status 125. Here a
// user namespace whose limit of network namespaces is 0 (set by its own root) runs gaol.
TEST_CASE("a network namespace that cannot be made is one clear set-up error", "[namespaces]") {
  int err[2];
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  std::string script = "echo 0 > /proc/sys/user/max_net_namespaces && '" + gaol::it::GaolBin() +
                       "' run -- /bin/true; echo \"gaol=$?\" >&2; '" + gaol::it::GaolBin() +
                       "' run --network host -- /bin/true; echo \"host=$?\" >&2";
  pid_t pid = gaol::it::Spawn({"unshare", "-Ur", "/bin/sh", "-c", script}, -1, err[1]);
  close(err[1]);
  std::string said = gaol::it::ReadToEnd(err[0]);
  close(err[0]);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  INFO(said);
  CHECK(said.find("gaol: network: make the network namespace (unshare CLONE_NEWNET): No space "
                  "left on device") != std::string::npos);
  CHECK(said.find("gaol=125") != std::string::npos);
  // Sharing the host's network needs no namespace of its own.
  CHECK(said.find("host=0") != std::string::npos);
  // One line from gaol, nothing more.
  CHECK(std::count(said.begin(), said.end(), '\n') == 3);
}
