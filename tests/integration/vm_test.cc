// The cgroup controllers, enforced for real: run in the qemu VM tier (tests/vm/), as uid 1000 in
// a subtree delegated with memory, pids and cpu. This build machine's kernel has none of them
// delegated, so these tests run only there.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "tests/integration/harness.h"

using gaol::it::RunProbe;

namespace {

std::string Parent() {
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  if (!parent) FAIL("GAOL_CGROUP_PARENT is unset: the [vm] tier runs in tests/vm/run-vm-tests.sh");
  return parent;
}

}  // namespace

TEST_CASE("a memory hog over --memory 64m is memory_limit, its peak at most the limit", "[vm]") {
  auto run = RunProbe({"--cgroup-parent", Parent(), "--memory", "64m"}, {"hog", "200000000"});
  INFO(run.err);
  CHECK(run.result["status"] == "memory_limit");
  CHECK(run.result["oom_killed"] == true);
  CHECK(run.result["enforcement"]["memory"] == "cgroup");
  CHECK(run.result["peak_memory_bytes"] <= 64 * 1024 * 1024);
  CHECK(run.result["peak_memory_bytes"] > 32 * 1024 * 1024);
}

TEST_CASE("a fork bomb under --pids-limit 16 is contained", "[vm]") {
  auto run = RunProbe({"--cgroup-parent", Parent(), "--pids-limit", "16"}, {"fork", "200"});
  INFO(run.err);
  auto p = run.Probe();
  CHECK(run.result["status"] == "pids_limit");
  CHECK(run.result["enforcement"]["pids"] == "cgroup");
  // PID 1 and the job are two of the 16.
  CHECK(p["forked"] == 14);
  CHECK(p["errno"] == "EAGAIN");
  CHECK(run.result["pids_peak"] == 16);
}

TEST_CASE("a spinner under --cpus 0.5 gets half a CPU", "[vm]") {
  auto run = RunProbe({"--cgroup-parent", Parent(), "--cpus", "0.5", "--wall-time-limit", "2s"},
                      {"spin", "30"});
  INFO(run.err);
  CHECK(run.result["status"] == "wall_time_limit");
  CHECK(run.result["enforcement"]["cpu"] == "cgroup");
  double share =
      run.result["cpu_time_seconds"].get<double>() / run.result["wall_time_seconds"].get<double>();
  CHECK(share >= 0.45);
  CHECK(share <= 0.55);
}

TEST_CASE("--device-write-bps throttles direct writes to a block device", "[vm]") {
  // The VM's init made /data an ext2 on /dev/vda, writable by this uid.
  std::vector<std::string> write = {"-v",      "/data:/data",  "--",
                                    "/bin/dd", "if=/dev/zero", "of=/data/f",
                                    "bs=1M",   "count=4",      "oflag=direct"};
  std::vector<std::string> free_args = {"--cgroup-parent", Parent()};
  free_args.insert(free_args.end(), write.begin(), write.end());
  auto free = gaol::it::RunGaol(free_args);
  INFO(free.err);
  REQUIRE(free.exit_status == 0);
  double free_rate = 4.0 / free.result["wall_time_seconds"].get<double>();
  std::vector<std::string> limited_args = {"--cgroup-parent", Parent(), "--device-write-bps",
                                           "/dev/vda:1mb"};
  limited_args.insert(limited_args.end(), write.begin(), write.end());
  auto limited = gaol::it::RunGaol(limited_args);
  INFO(limited.err << " free rate " << free_rate << " MiB/s");
  REQUIRE(limited.exit_status == 0);
  CHECK(limited.result["enforcement"]["io"] == "cgroup");
  double rate = 4.0 / limited.result["wall_time_seconds"].get<double>();
  CHECK(rate <= 1.3);
  CHECK(rate >= 0.7);
  CHECK(free_rate > 2.0);  // the control: unthrottled, the same writes go faster
}
