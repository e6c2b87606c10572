// The pure parts of asking systemd for a scope: finding the user bus without connecting, the unit
// name, and the note naming controllers systemd did not delegate. The D-Bus exchange itself is
// tested for real in the VM tier (tests/integration/systemd_test.cc).
#include "sandbox/cgroup/systemd_scope.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <string>

namespace gaol::cgroup {
namespace {

using Catch::Matchers::Contains;

TEST_CASE("UserBusAddress: the session address wins, else an existing $XDG_RUNTIME_DIR/bus",
          "[systemd]") {
  CHECK(UserBusAddress("unix:path=/run/user/7/bus", nullptr) == "unix:path=/run/user/7/bus");
  CHECK(UserBusAddress("unix:path=/x", "/nonexistent") == "unix:path=/x");
  CHECK(UserBusAddress(nullptr, nullptr).empty());
  CHECK(UserBusAddress("", nullptr).empty());
  CHECK(UserBusAddress(nullptr, "").empty());
  CHECK(UserBusAddress(nullptr, "relative/dir").empty());
  CHECK(UserBusAddress(nullptr, "/nonexistent/gaol-runtime").empty());

  char dir[] = "/tmp/gaol-bus-XXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/bus";
  // A file that is not a socket is not a bus.
  REQUIRE(close(creat(path.c_str(), 0600)) == 0);
  CHECK(UserBusAddress(nullptr, dir).empty());
  unlink(path.c_str());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  CHECK(UserBusAddress(nullptr, dir) == "unix:path=" + path);
  close(fd);
  unlink(path.c_str());
  rmdir(dir);
}

TEST_CASE("ScopeUnitName is gaol-PID-RANDOM.scope, a valid unit name", "[systemd]") {
  CHECK(ScopeUnitName(42, 0xabcdef) == "gaol-42-00abcdef.scope");
  CHECK(ScopeUnitName(4194304, 0xffffffffu) == "gaol-4194304-ffffffff.scope");
  std::string name = ScopeUnitName(1, 2);
  CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string::npos);
}

TEST_CASE("MissingControllersNote names what systemd did not delegate and the drop-in",
          "[systemd]") {
  const std::string scope =
      "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/"
      "gaol-1-00000001.scope";
  CHECK(MissingControllersNote(scope, {"cpu", "cpuset", "io", "memory", "pids"}).empty());
  CHECK(
      MissingControllersNote(scope, {"cpu", "cpuset", "io", "memory", "pids", "hugetlb"}).empty());
  std::string note = MissingControllersNote(scope, {"memory", "pids"});
  CHECK_THAT(note, Contains("only memory, pids") && Contains("cpu, cpuset, io not delegated") &&
                       Contains(scope) &&
                       Contains("/etc/systemd/system/user@.service.d/delegate.conf") &&
                       Contains("Delegate=cpu cpuset io memory pids") &&
                       Contains("systemctl daemon-reload") && Contains("log in again"));
  CHECK_THAT(MissingControllersNote(scope, {}), Contains("only no controller"));
}

TEST_CASE("Without a user bus, no scope is asked for, at once", "[systemd]") {
  const char* saved_address = std::getenv("DBUS_SESSION_BUS_ADDRESS");
  const char* saved_runtime = std::getenv("XDG_RUNTIME_DIR");
  std::string address = saved_address ? saved_address : "";
  std::string runtime = saved_runtime ? saved_runtime : "";
  unsetenv("DBUS_SESSION_BUS_ADDRESS");
  setenv("XDG_RUNTIME_DIR", "/nonexistent/gaol-runtime", 1);
  auto start = std::chrono::steady_clock::now();
  auto scope = MoveIntoSystemdScope();
  auto manager = UserManagerCgroup();
  auto took = std::chrono::steady_clock::now() - start;
  if (saved_address) setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);
  if (saved_runtime) {
    setenv("XDG_RUNTIME_DIR", runtime.c_str(), 1);
  } else {
    unsetenv("XDG_RUNTIME_DIR");
  }
  REQUIRE(scope);
  CHECK_FALSE(*scope);
  REQUIRE(manager);
  CHECK_FALSE(*manager);
  CHECK(took < std::chrono::milliseconds(5));
}

TEST_CASE("A bus address that answers nothing is an error, quickly", "[systemd]") {
  const char* saved = std::getenv("DBUS_SESSION_BUS_ADDRESS");
  std::string address = saved ? saved : "";
  setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/gaol-test/bus", 1);
  auto start = std::chrono::steady_clock::now();
  auto scope = MoveIntoSystemdScope();
  auto took = std::chrono::steady_clock::now() - start;
  if (saved) {
    setenv("DBUS_SESSION_BUS_ADDRESS", address.c_str(), 1);
  } else {
    unsetenv("DBUS_SESSION_BUS_ADDRESS");
  }
  REQUIRE_FALSE(scope);
  CHECK(scope.error().step == Step::kScope);
  CHECK_THAT(scope.error().Message(), Contains("user bus"));
  CHECK(took < std::chrono::seconds(1));
}

}  // namespace
}  // namespace gaol::cgroup
