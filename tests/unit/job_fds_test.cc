// What may reach the job as a descriptor: io::CheckJobStdio and io::OpenRegularBeneath in the
// parent, and the last check PID 1 makes on its own descriptor table (CheckFdsInChild), each
// against real descriptors. The PID 1 check runs in a forked child, which closes what the test
// process holds first.
#include "sandbox/io/job_fds.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "sandbox/child/child_init.h"
#include "sandbox/io/remove_tree.h"
#include "sandbox/launch/child_report.h"
#include "sandbox/run.h"

namespace {

std::string TempDir() {
  char path[] = "/tmp/gaol-unit-XXXXXX";
  REQUIRE(mkdtemp(path) != nullptr);
  return path;
}

// Runs CheckFdsInChild in a child whose descriptors are only 0-2 (stdin `in`, or /dev/null when
// -1), the report socket at kReportFd and, when `extra` >= 0, a copy of it at fd 7: what PID 1
// holds before the job starts. Returns the failure's detail, as the parent receives it over the
// socket; "" when the check passed.
std::string CheckInChild(int in, int extra = -1) {
  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    int lifted[3] = {fcntl(pair[1], F_DUPFD, 20), fcntl(in >= 0 ? in : null, F_DUPFD, 20),
                     extra >= 0 ? fcntl(extra, F_DUPFD, 20) : -1};
    dup2(lifted[1], 0);
    dup2(null, 1);
    dup2(null, 2);
    dup2(lifted[0], gaol::kReportFd);
    if (lifted[2] >= 0) dup2(lifted[2], 7);
    close_range(4, 6, 0);
    close_range(8, ~0U, 0);
    gaol::ChildReport report;
    if (gaol::CheckFdsInChild(report)) _exit(0);
    gaol::SendReport(report);
    _exit(1);
  }
  close(pair[1]);
  gaol::ChildReport report;
  ssize_t n = read(pair[0], &report, sizeof report);
  close(pair[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 0) return "";
  REQUIRE(n == static_cast<ssize_t>(sizeof report));
  CHECK(report.step == static_cast<std::uint32_t>(gaol::Step::kFds));
  return report.detail;
}

}  // namespace

TEST_CASE("io: a job's stdio is a file, a pipe, a terminal or /dev/null, never a directory",
          "[io]") {
  std::string dir = TempDir();
  std::ofstream(dir + "/f") << "x";
  int file = open((dir + "/f").c_str(), O_RDONLY | O_CLOEXEC);
  int directory = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int zero = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  int pipes[2], sockets[2];
  REQUIRE(pipe2(pipes, O_CLOEXEC) == 0);
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) == 0);
  CHECK(gaol::io::CheckJobStdio(file, "--stdin", dir + "/f"));
  CHECK(gaol::io::CheckJobStdio(null, "--stdin", "/dev/null"));
  CHECK(gaol::io::CheckJobStdio(pipes[0], "--stdin", ""));
  auto refused = gaol::io::CheckJobStdio(directory, "--stdin", dir);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().Message() == "--stdin `" + dir +
                                         "` is a directory; expected a regular file, a pipe, a "
                                         "terminal or /dev/null");
  CHECK_THAT(gaol::io::CheckJobStdio(sockets[0], "--stdin", "").error().Message(),
             Catch::StartsWith("--stdin is a socket"));
  CHECK_THAT(gaol::io::CheckJobStdio(zero, "--stdin", "/dev/zero").error().Message(),
             Catch::Contains("a device other than /dev/null or a terminal"));
  for (int fd : {file, directory, null, zero, pipes[0], pipes[1], sockets[0], sockets[1]})
    close(fd);
  std::filesystem::remove_all(dir);
}

TEST_CASE("io: OpenRegularBeneath stays beneath, follows no link and never blocks on a FIFO",
          "[io]") {
  std::string dir = TempDir();
  std::ofstream(dir + "/f") << "x";
  mkdir((dir + "/d").c_str(), 0755);
  REQUIRE(mkfifo((dir + "/fifo").c_str(), 0644) == 0);
  REQUIRE(symlink("/etc/passwd", (dir + "/abs").c_str()) == 0);
  REQUIRE(symlink("f", (dir + "/rel").c_str()) == 0);
  int root = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(root >= 0);
  auto open_one = [&](const char* path) {
    return gaol::io::OpenRegularBeneath(root, path, O_RDONLY, "collect");
  };
  CHECK(open_one("f"));
  // Each of these would hang (the FIFO), leave the directory or hand over a directory.
  for (const char* bad : {"d", "fifo", "abs", "rel", "../etc/passwd", "/etc/passwd", "d/../../f"}) {
    INFO(bad);
    CHECK_FALSE(open_one(bad));
  }
  CHECK_THAT(open_one("fifo").error().Message(), Catch::Contains("is not a regular file"));
  close(root);
  std::filesystem::remove_all(dir);
}

TEST_CASE("PID 1's last check: no descriptor but 0-2 and the report socket, 0-2 no directory",
          "[io]") {
  std::string dir = TempDir();
  CHECK(CheckInChild(-1) == "");
  int directory = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(directory >= 0);
  CHECK_THAT(CheckInChild(directory),
             Catch::Contains("the job's fd 0 (mode 040000) is not a regular file"));
  CHECK_THAT(CheckInChild(-1, directory),
             Catch::Contains("descriptor 7 (mode 040000) is open before the job starts"));
  close(directory);
  std::filesystem::remove_all(dir);
}

TEST_CASE("io: RemoveTreeAt removes any modes, follows no link out, and holds few fds", "[io]") {
  std::string outside = TempDir();
  std::ofstream(outside + "/keep") << "x";
  std::string dir = TempDir();
  std::string deep = dir + "/t";
  mkdir(deep.c_str(), 0755);
  for (int i = 0; i < 300; ++i) {
    deep += "/d";
    REQUIRE(mkdir(deep.c_str(), 0755) == 0);
  }
  std::ofstream(deep + "/f") << "x";
  REQUIRE(symlink(outside.c_str(), (dir + "/t/link").c_str()) == 0);
  REQUIRE(mkdir((dir + "/t/locked").c_str(), 0755) == 0);
  std::ofstream(dir + "/t/locked/f") << "x";
  REQUIRE(chmod((dir + "/t/locked").c_str(), 0) == 0);
  REQUIRE(chmod((dir + "/t/d").c_str(), 0500) == 0);
  int root = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(root >= 0);
  // 300 levels under an open-file limit of 64: a recursive walk holding fds per level would fail.
  rlimit old = {}, low = {64, 64};
  getrlimit(RLIMIT_NOFILE, &old);
  low.rlim_max = old.rlim_max;
  setrlimit(RLIMIT_NOFILE, &low);
  bool removed = gaol::io::RemoveTreeAt(root, "t");
  setrlimit(RLIMIT_NOFILE, &old);
  CHECK(removed);
  struct stat st = {};
  CHECK(fstatat(root, "t", &st, AT_SYMLINK_NOFOLLOW) != 0);
  CHECK(stat((outside + "/keep").c_str(), &st) == 0);
  close(root);
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(outside);
}

TEST_CASE("hints: a clone3 refused for its cgroup leaf is not blamed on user namespaces", "[io]") {
  gaol::Error leaf{gaol::Step::kClone,
                   EACCES,
                   "clone3 into the job's cgroup leaf (CLONE_INTO_CGROUP)",
                   "the cgroup parent",
                   {}};
  CHECK_THAT(gaol::HintFor(leaf), Catch::Contains("--cgroup-parent must be beneath a subtree"));
  CHECK_THAT(gaol::HintFor(leaf), !Catch::Contains("user namespaces"));
  gaol::Error userns{gaol::Step::kClone, EPERM, "clone3", "new user, ... namespaces", {}};
  CHECK_THAT(gaol::HintFor(userns), Catch::Contains("unprivileged user namespaces"));
}
