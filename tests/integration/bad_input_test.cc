// Bad input: one clear line naming what was wrong, exit 125, and nothing left behind.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/integration/harness.h"

using gaol::it::RunGaol;

namespace {

struct BadCase {
  std::vector<std::string> args;
  std::string named;  // the line must name this
};

void CheckRejected(const BadCase& c) {
  auto before = gaol::it::TakeLeftovers();
  auto run = RunGaol(c.args);
  auto after = gaol::it::TakeLeftovers();
  INFO("args: " << nlohmann::json(c.args).dump() << "\nstderr: " << run.err);
  CHECK(run.exit_status == 125);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  CHECK(run.err.starts_with("gaol: "));
  CHECK(run.err.find(c.named) != std::string::npos);
  CHECK(after.processes.empty());
  CHECK(after.children.empty());
  CHECK(after.mounts == before.mounts);
  CHECK(after.fds == before.fds);
}

}  // namespace

TEST_CASE("bad flags are rejected before anything is created", "[bad_input]") {
  const std::vector<BadCase> cases = {
      {{"--no-such-flag", "--", "/bin/true"}, "--no-such-flag"},
      {{"--network", "bridge", "--", "/bin/true"}, "--network"},
      {{"--share", "mnt", "--", "/bin/true"}, "--share"},
      {{"--uid", "-1", "--", "/bin/true"}, "--uid"},
      {{"--uid", "4294967295", "--", "/bin/true"}, "--uid"},
      {{"--gid", "abc", "--", "/bin/true"}, "--gid"},
      {{"--map-users", "1:2", "--", "/bin/true"}, "--map-users"},
      {{"--map-users", "0:100000:10,5:200000:10", "--", "/bin/true"}, "--map-users"},
      {{"-v", "/tmp", "--", "/bin/true"}, "--volume"},
      {{"-v", "relative:/x", "--", "/bin/true"}, "mounts[0].source"},
      {{"-v", "/tmp:/x:rx", "--", "/bin/true"}, "--volume"},
      {{"-v", "/no/such/dir:/x", "--", "/bin/true"}, "/no/such/dir"},
      {{"--bind", "/tmp", "/proc/x", "--", "/bin/true"}, "/proc"},
      {{"--tmpfs", "/x:size=lots", "--", "/bin/true"}, "--tmpfs"},
      {{"--tmpfs", "/", "--", "/bin/true"}, "target"},
      {{"--tmpfs", "/a/../b", "--", "/bin/true"}, "target"},
      {{"--rootfs", "/no/such/root", "--", "/bin/true"}, "--rootfs"},
      {{"--rootfs", "/etc/passwd", "--", "/bin/true"}, "--rootfs"},
      {{"-w", "relative", "--", "/bin/true"}, "workdir"},
      {{"--hostname", "bad name", "--", "/bin/true"}, "hostname"},
      {{"--wall-time-limit", "soon", "--", "/bin/true"}, "--wall-time-limit"},
      {{"--wall-time-limit", "0", "--", "/bin/true"}, "--wall-time-limit"},
      {{"--output-limit", "-5", "--", "/bin/true"}, "--output-limit"},
      {{"--ulimit", "nofiles=5", "--", "/bin/true"}, "--ulimit"},
      {{"--ulimit", "nofile=10:5", "--", "/bin/true"}, "ulimits.nofile"},
      {{"-e", "=x", "--", "/bin/true"}, "--env"},
      {{"--env-file", "/no/such/file", "--", "/bin/true"}, "--env-file"},
      {{"--stdin", "/no/such/input", "--", "/bin/true"}, "--stdin"},
      {{"--stdin", "/tmp", "--", "/bin/true"}, "--stdin `/tmp` is a directory"},
      {{"--stdin", "/dev/zero", "--", "/bin/true"}, "a device other than /dev/null"},
      {{"--stdout", "/dev/zero", "--", "/bin/true"}, "--stdout `/dev/zero`"},
      {{"--ulimit", "nofile=5:99999999999", "--", "/bin/true"}, "ulimits.nofile"},
      {{"--ulimit", "as=1", "--", "/bin/true"}, "ulimits.as"},
      {{"--ulimit", "stack=4096", "--", "/bin/true"}, "ulimits.stack"},
      {{"--result", "/no/such/dir/r.json", "--", "/bin/true"}, "--result"},
      {{"--result", "/tmp", "--", "/bin/true"}, "--result `/tmp`"},
      {{"--spec", "/no/such/spec.json"}, "--spec"},
      {{}, "command"},
      {{"--result-fd", "99", "--", "/bin/true"}, "--result-fd"},
      {{"--cap-add", "NET_FLY", "--", "/bin/true"}, "NET_FLY"},
      {{"--device-read-bps", "/dev/null:1mb", "--", "/bin/true"}, "block device"},
      {{"--memory", "lots", "--", "/bin/true"}, "--memory"},
      {{"--cpus", "0", "--", "/bin/true"}, "--cpus"},
      {{"--pids-limit", "0", "--", "/bin/true"}, "--pids-limit"},
      {{"--time-limit", "-1", "--", "/bin/true"}, "--time-limit"},
      {{"--cpuset-cpus", "3-1", "--", "/bin/true"}, "cpuset_cpus"},
      {{"--cgroup-parent", "/tmp", "--", "/bin/true"}, "--cgroup-parent"},
      {{"--security-opt", "seccomp=nosuch", "--", "/bin/true"}, "security.seccomp"},
      {{"--security-opt", "seccomp=/no/such/profile.json", "--", "/bin/true"}, "seccomp"},
      {{"--security-opt", "label=disable", "--", "/bin/true"}, "--security-opt"},
      {{"--security-opt", "no-new-privileges=false", "--", "/bin/true"}, "no-new-privileges"},
      {{"--security-opt", "apparmor=gaol-job", "--", "/bin/true"}, "AppArmor"},
      {{"--landlock", "maybe", "--", "/bin/true"}, "--landlock"},
  };
  for (const auto& c : cases) CheckRejected(c);
}

TEST_CASE("bad spec fields are rejected naming the field", "[bad_input]") {
  std::string dir = gaol::it::MakeTempDir();
  const std::vector<std::pair<std::string, std::string>> specs = {
      {R"({"command": "/bin/true"})", "spec field `command`"},
      {R"({"command": ["/bin/true"], "limits": {"wall_time_limit_seconds": "2s"}})",
       "limits.wall_time_limit_seconds"},
      {R"({"command": ["/bin/true"], "limits": {"memory_typo": 5}})", "limits.memory_typo"},
      {R"({"command": ["/bin/true"], "mounts": [{"type": "bind", "target": "/x"}]})",
       "mounts[0].source"},
      {R"({"command": ["/bin/true"], "mounts": [{"type": "overlay", "target": "/x"}]})",
       "mounts[0].type"},
      {R"({"command": ["/bin/true"], "network": "bridge"})", "network"},
      {R"({"command": ["/bin/true"], "uid": -3})", "uid"},
      {R"({"command": ["/bin/true"], "schema": "gaol.spec/v9"})", "schema"},
      {R"({"command": ["/bin/true"], "bogus": true})", "bogus"},
      {R"({"command": ["/bin/echo", "a\u0000b"]})", "command[1]"},
      {R"({"command": ["/bin/true"],)", "valid JSON"},
      {R"({"command": ["/bin/true"], "security": {"seccomp": 5}})", "security.seccomp"},
      {R"({"command": ["/bin/true"], "security": {"landlock": "yes"}})", "security.landlock"},
  };
  for (const auto& [text, named] : specs) {
    std::ofstream(dir + "/spec.json") << text;
    CheckRejected({{"--spec", dir + "/spec.json"}, named});
  }
  gaol::it::RemoveTree(dir);
}

TEST_CASE("a malformed seccomp profile file is rejected naming its field", "[bad_input]") {
  std::string dir = gaol::it::MakeTempDir();
  const std::vector<std::pair<std::string, std::string>> profiles = {
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]})",
       "`syscalls[0].action`"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"],
          "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
       "`syscalls[0].args[0].index`"},
      {R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})", "allows execve"},
      {R"({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"]})",
       "native architecture"},
      {"not json", "valid JSON"},
  };
  for (const auto& [text, named] : profiles) {
    std::ofstream(dir + "/profile.json") << text;
    CheckRejected(
        {{"--security-opt", "seccomp=" + dir + "/profile.json", "--", "/bin/true"}, named});
  }
  gaol::it::RemoveTree(dir);
}

TEST_CASE("a set-up step failing in the sandbox leaves nothing behind", "[bad_input]") {
  auto before = gaol::it::TakeLeftovers();
  // The workdir cannot be created inside the read-only /usr bind: the mounts step fails.
  auto run = RunGaol({"-w", "/usr/no-such-dir-gaol", "--", "/bin/true"});
  auto after = gaol::it::TakeLeftovers();
  INFO(run.err);
  CHECK(run.exit_status == 125);
  CHECK(run.result["status"] == "setup_error");
  CHECK(run.result["error"]["step"] == "mounts");
  CHECK(run.result["error"]["errno"] == "EROFS");
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  CHECK(run.err.find("/usr/no-such-dir-gaol") != std::string::npos);
  CHECK(after.processes.empty());
  CHECK(after.children.empty());
  CHECK(after.mounts == before.mounts);
}
