// `gaol check` on the real host, as the unprivileged user the tests run as.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace {

std::pair<int, std::string> Capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  std::array<char, 4096> buf;
  for (std::size_t n; (n = fread(buf.data(), 1, buf.size(), pipe)) > 0;) out.append(buf.data(), n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace

TEST_CASE("gaol check --json reports this host", "[check]") {
  auto [status, out] = Capture(gaol::it::GaolBin() + " check --json");
  REQUIRE(status == 0);  // the integration tier only runs where user namespaces work
  auto report = nlohmann::json::parse(out);
  CHECK(report["schema"] == "gaol.check/v1");
  CHECK(report["can_run"] == true);
  std::map<std::string, std::string> states;
  for (const auto& item : report["items"]) states[item["name"]] = item["state"];
  CHECK(states["user_namespaces"] == "ok");
  CHECK(states["seccomp"] == "ok");
  CHECK(states["io_uring"] == "ok");
  for (const char* name : {"newuidmap", "subuid", "cgroup2", "cgroup_controllers", "systemd_user",
                           "landlock", "apparmor"}) {
    INFO(name);
    CHECK(states.count(name) == 1);
  }
}

TEST_CASE("gaol check prints one line per item and the fix for each gap", "[check]") {
  auto [status, out] = Capture(gaol::it::GaolBin() + " check");
  REQUIRE(status == 0);
  CHECK(out.find("user_namespaces") != std::string::npos);
  CHECK(out.find("io_uring") != std::string::npos);
  if (out.find("\nwarn") != std::string::npos) CHECK(out.find("fix: ") != std::string::npos);
}
