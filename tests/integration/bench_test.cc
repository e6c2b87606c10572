// `gaol bench start --quick`, `gaol bench enforce --quick` and a short gaol-micro-bench pass on
// this host, as an unprivileged uid: every row present and sane, the reports valid, and `gaol bench
// compare` judging each kind.
#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <map>

#include "tests/integration/harness.h"

namespace gaol::it {
namespace {

// gaol ARGS (not `gaol run`): exit status, stdout, stderr.
struct Ran {
  int status = -1;
  std::string out, err;
};

Ran Gaol(const std::vector<std::string>& args) {
  std::string dir = MakeTempDir();
  std::vector<std::string> argv = {GaolBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  int out = open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  int err = open((dir + "/err").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  pid_t pid = Spawn(argv, out, err);
  close(out);
  close(err);
  int status = 0;
  waitpid(pid, &status, 0);
  Ran r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, ReadText(dir + "/out"),
        ReadText(dir + "/err")};
  RemoveTree(dir);
  return r;
}

}  // namespace

TEST_CASE("bench: gaol bench start --quick measures every row, or says why not", "[bench]") {
  std::string dir = MakeTempDir();
  std::string path = dir + "/start.json";
  Ran run = Gaol({"bench", "start", "--quick", "--json", path, "--plot", dir + "/plots",
                  "--metrics-textfile", dir + "/bench.prom"});
  INFO(run.err);
  REQUIRE(run.status == 0);
  // The CDF, drawn by gnuplot: an SVG with a curve per measured row, named in its key.
  std::string svg = ReadText(dir + "/plots/start-latency.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("bwrap --unshare-all") != std::string::npos);
  CHECK(svg.find("gaol: full default (+ Landlock)") != std::string::npos);
  // The figures as Prometheus gauges, in a textfile promtool accepts.
  std::string prom = ReadText(dir + "/bench.prom");
  CHECK(prom.find(
            "gaol_bench_start_ratio_to_floor{row=\"bwrap --unshare-all (ro /, /proc, /dev)\"}") !=
        std::string::npos);
  CHECK(prom.find("gaol_bench_start_latency_seconds{percentile=\"p99\",row=\"fork+exec /bin/true "
                  "(floor)\"}") != std::string::npos);
  CHECK(std::system(("promtool check metrics < " + dir + "/bench.prom >/dev/null 2>&1").c_str()) ==
        0);
  CHECK(run.out.find("fork+exec /bin/true (floor)") != std::string::npos);
  auto report = nlohmann::json::parse(ReadText(path));
  CHECK(report["schema"] == "gaol.bench/v1");
  CHECK(report["rounds"] == 30);
  CHECK_FALSE(report["host"]["kernel"].get<std::string>().empty());
  CHECK(report["host"]["aslr"] != "unknown");
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : report["rows"]) rows[row["name"]] = row;
  for (const char* name :
       {"fork+exec /bin/true (floor)", "unshare -Ur (user ns)",
        "unshare -Urmipuf -C --mount-proc (6 ns)", "bwrap --unshare-all (ro /, /proc, /dev)",
        "crun run (rootless bundle, busybox)", "gaol: user + mount ns", "gaol: + pid ns",
        "gaol: + ipc, uts ns", "gaol: + cgroup ns", "gaol: + net ns (all 7)", "gaol: + cgroup leaf",
        "gaol: + seccomp default", "gaol: full default (+ Landlock)",
        "gaol: full default, warm (pre-built)"}) {
    INFO(name);
    REQUIRE(rows.count(name));
  }
  double floor = rows["fork+exec /bin/true (floor)"]["seconds"]["p50"];
  CHECK(floor > 0);
  for (const auto& [name, row] : rows) {
    INFO(name);
    if (!row["skipped"].is_null()) {
      CHECK_FALSE(row["skipped"].get<std::string>().empty());
      continue;
    }
    const auto& s = row["seconds"];
    CHECK(s["n"] == 30);
    CHECK(s["min"] <= s["p50"]);
    CHECK(s["p50"] <= s["p90"]);
    CHECK(s["p90"] <= s["p99"]);
    CHECK(s["p99"] <= s["max"]);
    CHECK(s["p50"].get<double>() >= floor);
    CHECK(row["ratio_to_floor"].get<double>() >= 1.0);
  }
  // What this host must run: the floor, unshare, bwrap and every gaol level but the leaf.
  for (const char* name : {"unshare -Ur (user ns)", "bwrap --unshare-all (ro /, /proc, /dev)",
                           "gaol: + net ns (all 7)", "gaol: full default (+ Landlock)",
                           "gaol: full default, warm (pre-built)"}) {
    INFO(name);
    CHECK(rows[name]["skipped"].is_null());
  }
  CHECK(rows["gaol: + cgroup leaf"]["skipped"] ==
        "no delegated cgroup given (--cgroup-parent DIR)");

  // compare: a report against itself is no regression; a doctored slower one is.
  Ran same = Gaol({"bench", "compare", path, path});
  CHECK(same.status == 0);
  CHECK(same.out.find("ok") != std::string::npos);
  for (auto& row : report["rows"]) {
    if (row["name"] == "gaol: full default (+ Landlock)") {
      row["ratio_to_floor"] = row["ratio_to_floor"].get<double>() * 1.5;
    }
  }
  std::ofstream(dir + "/slower.json") << report.dump();
  Ran slower = Gaol({"bench", "compare", path, dir + "/slower.json"});
  CHECK(slower.status == 1);
  CHECK(slower.out.find("REGRESSION") != std::string::npos);
  Ran bad = Gaol({"bench", "compare", path, dir + "/missing.json"});
  CHECK(bad.status == 125);
  CHECK(bad.err.find("missing.json") != std::string::npos);
  Ran bad_flag = Gaol({"bench", "start", "--rounds", "0"});
  CHECK(bad_flag.status == 125);
  CHECK(bad_flag.err.find("--rounds") != std::string::npos);
  RemoveTree(dir);
}

}  // namespace gaol::it

namespace gaol::it {

TEST_CASE("bench: gaol bench serve --quick measures each concurrency beside its floor", "[bench]") {
  std::string dir = MakeTempDir();
  std::string path = dir + "/serve.json";
  Ran run = Gaol({"bench", "serve", "--quick", "--concurrency", "1,2", "--json", path, "--plot",
                  dir + "/plots", "--metrics-textfile", dir + "/bench.prom"});
  INFO(run.err);
  REQUIRE(run.status == 0);
  auto report = nlohmann::json::parse(ReadText(path));
  CHECK(report["schema"] == "gaol.bench/v1");
  CHECK(report["kind"] == "serve");
  CHECK(report["rounds"] == 3);
  CHECK(report["requests"] == 5);
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : report["rows"]) rows[row["name"]] = row;
  REQUIRE(rows.size() == 6);
  for (const char* name :
       {"fork+exec /bin/true, 1 at once (floor)", "POST /v1/run /bin/true, 1 client",
        "POST /v1/run /bin/true, 1 client, pool disabled", "fork+exec /bin/true, 2 at once (floor)",
        "POST /v1/run /bin/true, 2 clients", "POST /v1/run /bin/true, 2 clients, pool disabled"}) {
    INFO(name);
    REQUIRE(rows.count(name));
    const auto& row = rows[name];
    const auto& s = row["seconds"];
    // Every request answered ok and timed: 3 rounds x 5 requests x the clients.
    CHECK(s["n"] == 15 * row["concurrency"].get<int>());
    CHECK(s["min"] > 0);
    CHECK(s["min"] <= s["p50"]);
    CHECK(s["p50"] <= s["p99"]);
    CHECK(row["per_second"] > 0);
    if (row["tool"] != "floor") {
      // A job in a fresh sandbox costs more than a bare fork+exec, whatever the machine.
      CHECK(row["ratio_p50"] > 1.0);
      CHECK(row["ratio_throughput"] > 0);
      CHECK(row["ratio_throughput"] < 1.0);
    } else {
      CHECK(row["ratio_p50"].is_null());
    }
  }
  CHECK(ReadText(dir + "/plots/serve-latency.svg").find("POST /v1/run /bin/true, 2 clients") !=
        std::string::npos);
  std::string prom = ReadText(dir + "/bench.prom");
  CHECK(prom.find("gaol_bench_serve_ratio_to_floor{figure=\"throughput\",row=\"POST /v1/run "
                  "/bin/true, 1 client\"}") != std::string::npos);
  CHECK(std::system(("promtool check metrics < " + dir + "/bench.prom >/dev/null 2>&1").c_str()) ==
        0);
  // The server is gone with the run: nothing of it or its jobs left.
  CHECK(TakeLeftovers().processes.empty());

  // compare: against itself no regression; a doctored slower throughput is one.
  CHECK(Gaol({"bench", "compare", path, path}).status == 0);
  for (auto& row : report["rows"]) {
    if (row["tool"] == "serve") row["ratio_throughput"] = row["ratio_throughput"].get<double>() / 2;
  }
  std::ofstream(dir + "/slower.json") << report.dump();
  Ran slower = Gaol({"bench", "compare", path, dir + "/slower.json"});
  CHECK(slower.status == 1);
  CHECK(slower.out.find("floor rate/rate") != std::string::npos);
  CHECK(slower.out.find("REGRESSION") != std::string::npos);
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--concurrency", "0"}, {"--concurrency", "1,x"}, {"--requests", "0"}}) {
    std::vector<std::string> args = {"bench", "serve"};
    args.insert(args.end(), bad.begin(), bad.end());
    Ran refused = Gaol(args);
    INFO(bad[0] << " " << bad[1]);
    CHECK(refused.status == 125);
    CHECK(refused.err.find(bad[0]) != std::string::npos);
  }
  RemoveTree(dir);
}

TEST_CASE("bench: gaol bench enforce --quick names every limit's mechanism", "[bench]") {
  std::string dir = MakeTempDir();
  std::string path = dir + "/enforce.json";
  Ran run = Gaol({"bench", "enforce", "--quick", "--json", path, "--plot", dir,
                  "--metrics-textfile", dir + "/enforce.prom"});
  INFO(run.err);
  REQUIRE(run.status == 0);
  std::string svg = ReadText(dir + "/enforce.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("memory 64 MiB: hog [rlimit]") != std::string::npos);
  CHECK(ReadText(dir + "/enforce.prom")
            .find("gaol_bench_enforce_measured{mechanism=\"supervisor\",row=\"output limit 1 MiB: "
                  "writer\"} 1048576") != std::string::npos);
  auto report = nlohmann::json::parse(ReadText(path));
  CHECK(report["schema"] == "gaol.bench/v1");
  CHECK(report["kind"] == "enforce");
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : report["rows"]) rows[row["name"]] = row;
  REQUIRE(rows.size() == 10);
  for (const auto& [name, row] : rows) {
    INFO(name << ": " << row.dump());
    REQUIRE(row["skipped"].is_null());
    std::string mechanism = row["mechanism"];
    CHECK((mechanism == "cgroup" || mechanism == "rlimit" || mechanism == "supervisor" ||
           mechanism == "none"));
    CHECK(row["measured"]["n"] == 2);
    CHECK_FALSE(row["statuses"].get<std::string>().empty());
  }
  // This host has no delegated controller: memory, pids and the CPU-time limit fall back to
  // rlimits, CPU bandwidth is not enforced, and the table says so.
  CHECK(rows["memory 64 MiB: hog"]["mechanism"] == "rlimit");
  CHECK(rows["memory 64 MiB: hog"]["measured"]["max"] <= 64.0);
  CHECK(rows["cpus 0.5: spinner"]["mechanism"] == "none");
  CHECK(rows["time limit 1 s: spinner"]["statuses"] == "time_limit x2");
  CHECK(rows["wall-time limit 0.5 s: sleeper"]["mechanism"] == "supervisor");
  // The output cap is exact: what is kept is the limit, to the byte.
  CHECK(rows["output limit 1 MiB: writer"]["measured"]["max"] == 1048576.0);
  CHECK(rows["output limit 1 MiB: writer"]["measured"]["min"] == 1048576.0);
  CHECK(run.out.find("mechanism") != std::string::npos);

  // compare: against itself no regression; a doctored worse error or another mechanism is one.
  Ran same = Gaol({"bench", "compare", path, path});
  CHECK(same.status == 0);
  CHECK(same.out.find("of the limit") != std::string::npos);
  auto doctored = report;
  for (auto& row : doctored["rows"]) {
    if (row["name"] == "output limit 1 MiB: writer") row["error_worst"] = 0.2 * 1048576;
    if (row["name"] == "memory 64 MiB: hog") row["mechanism"] = "none";
  }
  std::ofstream(dir + "/worse.json") << doctored.dump();
  Ran worse = Gaol({"bench", "compare", path, dir + "/worse.json"});
  CHECK(worse.status == 1);
  CHECK(worse.out.find("mechanism rlimit -> none  REGRESSION") != std::string::npos);
  CHECK(worse.out.find("+20.00 pts  REGRESSION") != std::string::npos);
  Ran bad = Gaol({"bench", "enforce", "--repeat", "0"});
  CHECK(bad.status == 125);
  bad = Gaol({"bench", "enforce", "--metrics-textfile", dir + "/x.txt"});
  CHECK(bad.status == 125);
  CHECK(bad.err.find("--metrics-textfile") != std::string::npos);
  RemoveTree(dir);
}

// gaol-micro-bench (beside gaol) over `filter`, once and briefly (a check that each benchmark runs
// here, not a figure), with `env` (VAR=VALUE) added; its JSON written to `path`, its runs by name.
std::map<std::string, nlohmann::json> RunMicro(const std::string& dir, const std::string& path,
                                               const std::string& filter,
                                               const std::vector<std::string>& env = {}) {
  std::string micro = GaolBin().substr(0, GaolBin().rfind('/')) + "/gaol-micro-bench";
  REQUIRE(access(micro.c_str(), X_OK) == 0);
  std::vector<std::string> argv = {"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {micro, "--benchmark_filter=" + filter, "--benchmark_min_time=0.01",
                           "--benchmark_out=" + path, "--benchmark_out_format=json"});
  int out = open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = Spawn(argv, out, out);
  close(out);
  int status = 0;
  waitpid(pid, &status, 0);
  INFO(ReadText(dir + "/out"));
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto doc = nlohmann::json::parse(ReadText(path));
  std::map<std::string, nlohmann::json> runs;
  for (const auto& b : doc["benchmarks"]) runs[b["run_name"]] = b;
  return runs;
}

TEST_CASE("bench: gaol-micro-bench times each launch step and compare judges its JSON", "[bench]") {
  std::string dir = MakeTempDir();
  std::string path = dir + "/micro.json";
  auto runs = RunMicro(dir, path, "^(floor|clone3|id_map|rootfs|cgroup|launch)");
  auto doc = nlohmann::json::parse(ReadText(path));
  // Everything but the cgroup leaf runs on this host as an unprivileged user.
  for (const char* name :
       {"floor/fork_exec_true/real_time", "clone3/none/real_time", "clone3/user/real_time",
        "clone3/user_net/real_time", "clone3/all_seven/real_time", "id_map/single/manual_time",
        "rootfs/mounts_and_pivot_root/manual_time", "launch/true_default/real_time"}) {
    INFO(name);
    REQUIRE(runs.count(name) == 1);
    CHECK_FALSE(runs[name].value("error_occurred", false));
    CHECK(runs[name]["real_time"].get<double>() > 0);
  }
  // Skipped with the reason, where the host (here: the caller) lacks the feature.
  const auto& leaf = runs["cgroup/leaf_create_remove/real_time"];
  CHECK(leaf["error_occurred"] == true);
  CHECK(leaf["error_message"].get<std::string>().find("GAOL_BENCH_CGROUP_PARENT") !=
        std::string::npos);
  // The mount benchmark and the whole launch carry the child's own step timings.
  CHECK(runs["rootfs/mounts_and_pivot_root/manual_time"]["mounts_us_p50"].get<double>() > 0);
  const auto& launch = runs["launch/true_default/real_time"];
  for (const char* step : {"step_clone_us", "step_id_map_us", "step_mounts_us",
                           "step_pivot_root_us", "step_seccomp_us", "step_landlock_us"}) {
    INFO(step);
    REQUIRE(launch.contains(step));
    CHECK(launch[step].get<double>() > 0);
  }
  // The steps happen within the launch they were timed in.
  CHECK(launch["step_clone_us"].get<double>() * 1e3 < launch["real_time"].get<double>());

  // compare: against itself no regression; a launch doctored 50 % slower is one.
  Ran same = Gaol({"bench", "compare", path, path});
  INFO(same.err);
  CHECK(same.status == 0);
  CHECK(same.out.find("skipped: no delegated cgroup") != std::string::npos);
  for (auto& b : doc["benchmarks"]) {
    if (b["run_name"] == "launch/true_default/real_time") {
      b["real_time"] = b["real_time"].get<double>() * 1.5;
    }
  }
  std::ofstream(dir + "/slower.json") << doc.dump();
  Ran slower = Gaol({"bench", "compare", path, dir + "/slower.json"});
  CHECK(slower.status == 1);
  CHECK(slower.out.find("launch/true_default/real_time /floor") != std::string::npos);
  CHECK(slower.out.find("REGRESSION") != std::string::npos);
  RemoveTree(dir);
}

// [bench-cgroup]: run as root through run-unprivileged.sh, which delegates a cgroup v2 subtree
// to uid 65534: the rows and benchmarks that need a leaf are measured, not skipped.
TEST_CASE("bench: with a delegated cgroup the leaf row and the cgroup benchmarks are measured",
          "[bench-cgroup]") {
  const char* parent = std::getenv("GAOL_CGROUP_PARENT");
  if (!parent) FAIL("GAOL_CGROUP_PARENT is unset: run through run-unprivileged.sh as root");
  std::string dir = MakeTempDir();
  std::string path = dir + "/start.json";
  Ran run = Gaol({"bench", "start", "--quick", "--cgroup-parent", parent, "--json", path});
  INFO(run.err);
  REQUIRE(run.status == 0);
  auto report = nlohmann::json::parse(ReadText(path));
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : report["rows"]) rows[row["name"]] = row;
  const auto& leaf = rows["gaol: + cgroup leaf"];
  INFO(leaf.dump());
  REQUIRE(leaf["skipped"].is_null());
  CHECK(leaf["seconds"]["n"] == 30);
  CHECK(leaf["seconds"]["p50"] >= rows["fork+exec /bin/true (floor)"]["seconds"]["p50"]);
  for (const char* name : {"gaol: + cgroup leaf", "gaol: full default (+ Landlock)"}) {
    auto command = rows[name]["command"].get<std::vector<std::string>>();
    CHECK(std::find(command.begin(), command.end(), std::string(parent)) != command.end());
  }

  auto runs = RunMicro(dir, dir + "/micro.json", "^(floor|cgroup|launch)",
                       {std::string("GAOL_BENCH_CGROUP_PARENT=") + parent});
  for (const char* name :
       {"cgroup/leaf_create_remove/real_time", "cgroup/clone3_all_seven_into_new_leaf/manual_time",
        "launch/true_default/real_time"}) {
    INFO(name << ": " << runs[name].dump());
    REQUIRE(runs.count(name) == 1);
    CHECK_FALSE(runs[name].value("error_occurred", false));
    CHECK(runs[name]["real_time"].get<double>() > 0);
  }
  CHECK(runs["cgroup/clone3_all_seven_into_new_leaf/manual_time"]["call_us_p50"] > 0);
  // The whole launch went through the leaf: its own steps were timed.
  CHECK(runs["launch/true_default/real_time"]["step_cgroup_us"] > 0);
  CHECK(runs["launch/true_default/real_time"]["step_cleanup_us"] > 0);
  // Limits need the memory and pids controllers: measured where the parent gives them, skipped
  // with that reason where not (this host's cgroup2 has only hugetlb).
  std::string controllers = ReadText(std::string(parent) + "/cgroup.controllers");
  const auto& limits = runs["cgroup/leaf_create_remove_with_limits/real_time"];
  INFO(controllers << limits.dump());
  if (controllers.find("memory") != std::string::npos &&
      controllers.find("pids") != std::string::npos) {
    CHECK_FALSE(limits.value("error_occurred", false));
  } else {
    CHECK(limits["error_message"].get<std::string>().find("controller to its children") !=
          std::string::npos);
  }
  // Every leaf made was removed.
  DIR* d = opendir(parent);
  REQUIRE(d != nullptr);
  std::vector<std::string> left;
  while (dirent* e = readdir(d)) {
    if (std::string(e->d_name).starts_with("gaol-job-")) left.push_back(e->d_name);
  }
  closedir(d);
  CHECK(left.empty());
  RemoveTree(dir);
}

}  // namespace gaol::it
