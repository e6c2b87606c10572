// Limits the supervisor enforces: wall time and output.
#include <catch2/catch.hpp>

#include "tests/integration/harness.h"

using gaol::it::RunProbe;

TEST_CASE("--wall-time-limit kills a sleeper", "[limits]") {
  auto run = RunProbe({"--wall-time-limit", "300ms"}, {"sleep", "30"});
  CHECK(run.exit_status == 128 + 9);
  CHECK(run.result["status"] == "wall_time_limit");
  CHECK(run.result["enforcement"]["wall_time_limit"] == "supervisor");
  CHECK(run.result["wall_time_seconds"] >= 0.3);
  CHECK(run.result["wall_time_seconds"] < 5.0);
}

TEST_CASE("a job within its wall-time limit is ok", "[limits]") {
  auto run = RunProbe({"--wall-time-limit", "20s"}, {"exit", "0"});
  CHECK(run.exit_status == 0);
  CHECK(run.result["status"] == "ok");
}

TEST_CASE("--output-limit truncates and stops the job", "[limits]") {
  auto run = RunProbe({"--output-limit", "1000"}, {"spew", "10000000"});
  CHECK(run.result["status"] == "output_limit");
  CHECK(run.result["output_truncated"] == true);
  CHECK(run.result["stdout_bytes"] == 1000);
  CHECK(run.out.size() == 1000);
  CHECK(run.exit_status == 128 + 9);
}

TEST_CASE("output under the limit passes through whole", "[limits]") {
  auto run = RunProbe({"--output-limit", "1m"}, {"spew", "100000"});
  CHECK(run.result["status"] == "ok");
  CHECK(run.out.size() == 100000);
  CHECK(run.result["output_truncated"] == false);
}
