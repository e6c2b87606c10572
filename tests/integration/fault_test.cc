// Faults from outside: gaol SIGKILLed at random moments of its set-up and run. Whatever moment
// the kill lands on, nothing of the sandbox may run on unsupervised.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <random>
#include <thread>

#include "tests/integration/harness.h"
#include "tests/integration/serve_harness.h"

namespace gaol::it {
namespace {

// How many kills: GAOL_FAULT_KILLS, or a CI-sized default.
int Kills() {
  const char* v = std::getenv("GAOL_FAULT_KILLS");
  return v ? std::atoi(v) : 300;
}

}  // namespace

TEST_CASE("SIGKILL of gaol run at any moment of set-up leaves no sandbox running", "[fault]") {
  std::string marker = "4242." + std::to_string(getpid());
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  // Set-up takes 2-5 ms here: kills spread over 0-8 ms land before, during and after it.
  std::uniform_int_distribution<int> delay_us(0, 8000);
  int kills = Kills();
  int survivors = 0;
  for (int i = 0; i < kills; ++i) {
    pid_t pid = Spawn({GaolBin(), "run", "--", "/bin/sleep", marker}, -1, -1);
    REQUIRE(pid > 0);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    // Every 50 kills (and at the end): what is left must go within a moment, or it never will.
    if (i % 50 == 49 || i == kills - 1) {
      std::vector<std::string> left;
      for (int t = 0; t < 100; ++t) {
        left = ProcessesWith(marker);
        if (left.empty()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      survivors += static_cast<int>(left.size());
      for (const auto& p : left) {
        UNSCOPED_INFO("survivor: " << p);
        kill(std::stoi(p), SIGKILL);
      }
    }
  }
  INFO(kills << " kills");
  CHECK(survivors == 0);
  WARN("kill-during-setup: " << kills << " kills, " << survivors << " sandboxes survived");
}

}  // namespace gaol::it

namespace gaol::it {

// A full disk under --result: gaol says so and exits 125, and the file keeps what it held (no
// 0-byte or half result). The small file system is a tmpfs in a user namespace of the test's own.
TEST_CASE("--result on a full disk: exit 125, the old file intact, no temporary left", "[fault]") {
  std::string dir = MakeTempDir(0755);
  std::string script = "mount -t tmpfs -o size=64k tmpfs '" + dir + "' && echo old > '" + dir +
                       "/r.json' && { dd if=/dev/zero of='" + dir +
                       "/fill' bs=4k 2>/dev/null; true; } && '" + GaolBin() + "' run --result '" +
                       dir + "/r.json' -- /bin/true; echo rc=$?; cat '" + dir +
                       "/r.json'; ls -a '" + dir + "'";
  int out[2];
  REQUIRE(pipe(out) == 0);
  pid_t pid = Spawn({"unshare", "-Urm", "/bin/sh", "-c", script}, out[1], out[1]);
  close(out[1]);
  std::string text = ReadToEnd(out[0]);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  INFO(text);
  CHECK_THAT(text, Catch::Contains("gaol: could not write the result: No space left on device"));
  CHECK_THAT(text, Catch::Contains("rc=125\nold\n.\n..\nfill\nr.json\n"));
  RemoveTree(dir);
}

}  // namespace gaol::it

namespace gaol::it {

// The job's output to a full disk: counted, not delivered, and never silent. A tmpfs of 64 KiB in
// a user namespace of the test's own; the job writes 1 MB.
TEST_CASE("output to a full disk is recorded in the result and warned about", "[fault]") {
  std::string dir = MakeTempDir(0755);
  std::string script = "mount -t tmpfs -o size=64k tmpfs '" + dir + "' && '" + GaolBin() +
                       "' run --result - --stdout '" + dir +
                       "/out' -- /bin/sh -c 'head -c 1000000 /dev/zero'";
  int out[2], err[2];
  REQUIRE(pipe(out) == 0);
  REQUIRE(pipe(err) == 0);
  pid_t pid = Spawn({"unshare", "-Urm", "/bin/sh", "-c", script}, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  std::string text = ReadToEnd(out[0]);
  std::string warnings = ReadToEnd(err[0]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  INFO(text << warnings);
  auto result = nlohmann::json::parse(text, nullptr, false);
  REQUIRE(result.is_object());
  CHECK(result["stdout_bytes"] == 1000000);
  CHECK(result["output_error"]["stdout"]["errno"] == "ENOSPC");
  CHECK(result["output_error"]["stderr"].is_null());
  CHECK_THAT(warnings, Catch::Contains("stdout: writing the job's output failed (ENOSPC"));
  RemoveTree(dir);
}

// A caller that stops reading gaol's stdout delays the job's output, never its limits.
TEST_CASE("a stalled reader of gaol's output does not delay the wall-time limit", "[fault]") {
  bool stalled = false;
  auto run = RunGaol({"--wall-time-limit", "1s", "--", "/bin/sh", "-c", "exec cat /dev/zero"},
                     [&](pid_t, const std::string&) {
                       if (stalled) return;
                       stalled = true;
                       std::this_thread::sleep_for(std::chrono::seconds(4));
                     });
  CHECK(run.result["status"] == "wall_time_limit");
  // Killed on time although nothing was read for 4 s: the kill is not queued behind a write.
  CHECK(run.result["wall_time_seconds"].get<double>() < 2.5);
  CHECK(run.result["wall_time_kill_latency_seconds"].get<double>() < 1.0);
  CHECK(run.result["output_error"].is_null());
}

}  // namespace gaol::it
