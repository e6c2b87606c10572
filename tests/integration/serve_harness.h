// gaol serve as a subprocess on a free loopback port (or a Unix socket), and an HTTP client to it.
#pragma once

#include <httplib.h>
#include <sys/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace gaol::it {

class ServeProcess {
 public:
  // gaol serve --listen 127.0.0.1:0 <flags>; waits for its "listening on" line. Flags
  // `--listen=ADDR` replace the address; `--wrap=ARG` (in order) run gaol under a command.
  explicit ServeProcess(const std::vector<std::string>& flags = {});
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  httplib::Client Client(const std::string& token = "") const;
  const std::string& Host() const { return host_; }
  int Port() const { return port_; }
  pid_t Pid() const { return pid_; }
  // SIGTERM, then waits (bounded) for the exit; returns the exit status (128+N if killed).
  int Stop(int timeout_seconds = 60);
  std::string Stderr();  // what it printed so far
  long RssKb() const;    // VmRSS of the server process
  std::size_t Fds() const;

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
  std::string err_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
};

// POST with a JSON body; the parsed reply (null when the body is not JSON) and the status.
struct Reply {
  int status = 0;
  nlohmann::json body;
  std::string text;
};
Reply Post(httplib::Client& client, const std::string& path, const nlohmann::json& body);
Reply Get(httplib::Client& client, const std::string& path);
Reply Delete(httplib::Client& client, const std::string& path);

// Entries of a directory, and of every directory in it (recursively).
std::size_t Entries(const std::string& dir);

// Processes left behind by servers this test started: the test process is a child subreaper
// (set when the first ServeProcess starts), so whatever a server leaves comes back to it. Zombies
// among them are reaped first: only live ones count.
std::vector<std::string> LiveOrphans();

// Processes (not zombies) whose command line contains `marker`.
std::vector<std::string> ProcessesWith(const std::string& marker);

}  // namespace gaol::it
