// AppArmor, for real: run in the qemu VM tier (tests/vm/), whose kernel boots with AppArmor and
// whose init loads profiles/apparmor/gaol-job as root before the tests. This build machine's
// kernel has no AppArmor; there the bad-input test covers the clear refusal.
#include <catch2/catch.hpp>
#include <fstream>

#include "tests/integration/harness.h"

using gaol::it::RunGaol;

namespace {

const std::string kConfined = "apparmor=gaol-job";

gaol::it::GaolRun Confined(std::vector<std::string> command, std::vector<std::string> flags = {}) {
  std::vector<std::string> args = {"--security-opt", kConfined};
  args.insert(args.end(), flags.begin(), flags.end());
  args.push_back("--");
  args.insert(args.end(), command.begin(), command.end());
  return RunGaol(args);
}

}  // namespace

TEST_CASE("--security-opt apparmor=gaol-job runs the job in that profile, enforced", "[vm]") {
  auto run = Confined({"/bin/cat", "/proc/self/attr/current"});
  INFO(run.err);
  CHECK(run.exit_status == 0);
  CHECK(run.out == "gaol-job (enforce)\n");
}

TEST_CASE("without the flag the job is unconfined", "[vm]") {
  auto run = RunGaol({"--", "/bin/cat", "/proc/self/attr/current"});
  INFO(run.err);
  CHECK(run.exit_status == 0);
  CHECK(run.out == "unconfined\n");
}

TEST_CASE("gaol-job denies a write that gaol's mount plan allows, and allows /tmp", "[vm]") {
  // A writable volume: without the profile the job writes there; gaol-job allows writes only to
  // /tmp, /var/tmp, /dev/shm and the devices.
  std::string dir = gaol::it::MakeTempDir(0777);
  const std::vector<std::string> volume = {"-v", dir + ":/work"};
  auto plain = RunGaol({"-v", dir + ":/work", "--", "/bin/sh", "-c", "echo x >/work/plain"});
  INFO(plain.err);
  CHECK(plain.exit_status == 0);
  CHECK(std::ifstream(dir + "/plain").good());

  auto denied = Confined({"/bin/sh", "-c", "echo x >/work/confined"}, volume);
  INFO(denied.err << denied.out);
  CHECK(denied.exit_status != 0);
  CHECK(denied.exit_status != 125);  // the job ran; its write failed
  CHECK_FALSE(std::ifstream(dir + "/confined").good());

  auto scratch = Confined({"/bin/sh", "-c", "echo x >/tmp/f && cat /tmp/f"}, volume);
  INFO(scratch.err);
  CHECK(scratch.exit_status == 0);
  CHECK(scratch.out == "x\n");
  gaol::it::RemoveTree(dir);
}

TEST_CASE("a job in gaol-job cannot change its own AppArmor label", "[vm]") {
  auto run = Confined({"/bin/sh", "-c", "echo 'exec unconfined' >/proc/self/attr/apparmor/exec"});
  INFO(run.err);
  CHECK(run.exit_status != 0);
  CHECK(run.exit_status != 125);
  CHECK(run.err.find("ermission denied") != std::string::npos);
}

TEST_CASE("an AppArmor profile that is not loaded is one clear line, exit 125", "[vm]") {
  auto before = gaol::it::TakeLeftovers();
  auto run = RunGaol({"--security-opt", "apparmor=no-such-profile", "--", "/bin/true"});
  auto after = gaol::it::TakeLeftovers();
  INFO(run.err);
  CHECK(run.exit_status == 125);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  CHECK(run.err.starts_with("gaol: "));
  CHECK(run.err.find("AppArmor profile `no-such-profile`") != std::string::npos);
  CHECK(run.err.find("not loaded") != std::string::npos);
  CHECK(after.processes.empty());
  CHECK(after.children.empty());
  CHECK(after.mounts == before.mounts);
  CHECK(after.fds == before.fds);
}
