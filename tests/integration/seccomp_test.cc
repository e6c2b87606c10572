// seccomp as users meet it: the built-in profiles on ordinary jobs, a profile users already have
// (Podman's, read in place from the shared test data), unconfined, and a violation's report.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

#include "tests/integration/harness.h"

using gaol::it::RunGaol;

namespace {

std::string AttackDir() {
  const char* dir = std::getenv("GAOL_ATTACK_DIR");
  if (!dir) FAIL("GAOL_ATTACK_DIR is unset: run through run-unprivileged.sh");
  return dir;
}

gaol::it::GaolRun Attack(const std::string& profile, const std::string& mode) {
  return RunGaol({"--security-opt", "seccomp=" + profile, "--ro-bind", AttackDir(), "/attack", "--",
                  "/attack/gaol-attack", mode});
}

}  // namespace

TEST_CASE("the default profile is on without asking, and ordinary jobs run under it", "[seccomp]") {
  auto run = RunGaol({"--", "/bin/sh", "-c", "ls / >/dev/null && cat /etc/hostname && echo ok"});
  INFO(run.err);
  CHECK(run.exit_status == 0);
  CHECK(run.out.find("ok") != std::string::npos);
  CHECK(run.result["seccomp"]["profile"] == "default");
  CHECK(run.result["seccomp"]["syscall"].is_null());
  CHECK(run.result["launch"]["steps"].contains("seccomp"));
}

TEST_CASE("strict kills a refused call and names it", "[seccomp]") {
  auto run = Attack("strict", "keyctl");
  INFO(run.err);
  CHECK(run.exit_status == 159);  // 128 + SIGSYS, as docker run
  CHECK(run.result["status"] == "seccomp_violation");
  CHECK(run.result["seccomp"]["syscall"] == "keyctl");
  CHECK(run.result["seccomp"]["arch"] == "x86_64");
  CHECK(run.result["signal_name"] == "SIGSYS");
}

TEST_CASE("a call of another architecture is killed and named with its architecture", "[seccomp]") {
  for (const char* profile : {"default", "strict"}) {
    auto run = Attack(profile, "i386");
    INFO(profile << ": " << run.err);
    CHECK(run.result["status"] == "seccomp_violation");
    CHECK(run.result["seccomp"]["arch"] == "x86");
  }
  auto x32 = Attack("strict", "x32");
  CHECK(x32.result["status"] == "seccomp_violation");
  CHECK(x32.result["seccomp"]["arch"] == "x32");
}

TEST_CASE("Podman's default profile, read from its file, runs a job as in Podman", "[seccomp]") {
  std::string path = GAOL_PODMAN_SECCOMP;
  auto run = RunGaol({"--security-opt", "seccomp=" + path, "--", "/bin/sh", "-c", "echo ok"});
  INFO(run.err);
  CHECK(run.exit_status == 0);
  CHECK(run.out == "ok\n");
  CHECK(run.result["seccomp"]["profile"] == path);
  // Podman allows keyctl (the attacker exits 1 when its call worked), and kills nothing.
  auto keyctl = Attack(path, "keyctl");
  CHECK(keyctl.result["status"] == "nonzero_exit");
  CHECK(keyctl.result["exit_code"] == 1);
}

TEST_CASE("Docker's default profile, read from its file, runs a job as in Docker", "[seccomp]") {
  std::string path = GAOL_DOCKER_SECCOMP;
  auto run = RunGaol({"--security-opt", "seccomp=" + path, "--", "/bin/sh", "-c", "echo ok"});
  INFO(run.err);
  CHECK(run.exit_status == 0);
  CHECK(run.out == "ok\n");
  CHECK(run.result["seccomp"]["profile"] == path);
  // Docker refuses keyctl with EPERM: the attacker reports itself contained, nothing is killed.
  auto keyctl = Attack(path, "keyctl");
  CHECK(keyctl.result["status"] == "ok");
  CHECK(keyctl.Probe()["contained"] == true);
}

TEST_CASE("unconfined loads no filter", "[seccomp]") {
  auto run = RunGaol({"--security-opt", "seccomp=unconfined", "--", "/bin/true"});
  CHECK(run.exit_status == 0);
  CHECK(run.result["seccomp"].is_null());
  auto keyctl = Attack("unconfined", "keyctl");
  CHECK(keyctl.result["status"] != "seccomp_violation");
}

TEST_CASE("a profile that refuses write cannot stall the start: the job reports nothing past it",
          "[seccomp]") {
  std::string dir = gaol::it::MakeTempDir();
  std::string profile = dir + "/no-write.json";
  std::ofstream(profile) << R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["write", "writev"], "action": "SCMP_ACT_KILL_PROCESS"}]})";
  auto echo = RunGaol({"--security-opt", "seccomp=" + profile, "--", "/bin/echo", "hi"});
  INFO(echo.err);
  CHECK(echo.result["status"] == "seccomp_violation");
  CHECK(echo.result["seccomp"]["syscall"] == "write");
  // An exec failure past the filter is reported by PID 1, which the filter does not bind.
  auto missing = RunGaol({"--security-opt", "seccomp=" + profile, "--", "/no/such/command"});
  CHECK(missing.exit_status == 127);
  CHECK(missing.result["error"]["step"] == "exec");
  gaol::it::RemoveTree(dir);
}
