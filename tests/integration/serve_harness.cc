#include "tests/integration/serve_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/harness.h"

namespace gaol::it {

ServeProcess::ServeProcess(const std::vector<std::string>& flags) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
  std::vector<std::string> args = {GaolBin(), "serve", "--listen", "127.0.0.1:0"};
  std::vector<std::string> wrap;
  for (const auto& f : flags) {
    if (f.starts_with("--listen=")) {
      args[3] = f.substr(9);
    } else if (f.starts_with("--wrap=")) {
      wrap.push_back(f.substr(7));
    } else {
      args.push_back(f);
    }
  }
  args.insert(args.begin(), wrap.begin(), wrap.end());
  pid_ = Spawn(args, -1, err[1]);
  close(err[1]);
  err_fd_ = err[0];
  fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  static const std::regex kListening(R"(listening on (\S+):(\d+) )");
  static const std::regex kUnix(R"(listening on unix:)");
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p = {err_fd_, POLLIN, 0};
    poll(&p, 1, 200);
    std::string seen = Stderr();
    std::smatch m;
    if (std::regex_search(seen, m, kListening)) {
      host_ = m[1];
      port_ = std::stoi(m[2]);
      return;
    }
    if (std::regex_search(seen, kUnix)) return;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("gaol serve exited at start: " + seen);
    }
  }
  throw std::runtime_error("gaol serve did not start: " + Stderr());
}

ServeProcess::~ServeProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (err_fd_ >= 0) close(err_fd_);
}

std::string ServeProcess::Stderr() {
  char buf[4096];
  for (ssize_t n; (n = read(err_fd_, buf, sizeof buf)) > 0;) err_.append(buf, n);
  return err_;
}

httplib::Client ServeProcess::Client(const std::string& token) const {
  httplib::Client client(host_, port_);
  client.set_read_timeout(120, 0);
  client.set_keep_alive(true);
  if (!token.empty()) client.set_bearer_token_auth(token);
  return client;
}

int ServeProcess::Stop(int timeout_seconds) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  Stderr();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

long ServeProcess::RssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

std::size_t ServeProcess::Fds() const {
  std::size_t n = 0;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

namespace {

Reply Parse(const httplib::Result& r) {
  Reply out;
  if (!r) return out;
  out.status = r->status;
  out.text = r->body;
  out.body = nlohmann::json::parse(r->body, nullptr, false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}

}  // namespace

Reply Post(httplib::Client& client, const std::string& path, const nlohmann::json& body) {
  return Parse(client.Post(path.c_str(), body.dump(), "application/json"));
}
Reply Get(httplib::Client& client, const std::string& path) {
  return Parse(client.Get(path.c_str()));
}
Reply Delete(httplib::Client& client, const std::string& path) {
  return Parse(client.Delete(path.c_str()));
}

std::size_t Entries(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

std::vector<std::string> LiveOrphans() {
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  return TakeLeftovers().children;
}

std::vector<std::string> ProcessesWith(const std::string& marker) {
  std::vector<std::string> found;
  std::string self = std::to_string(getpid());
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos || name == self) continue;
    std::ifstream in("/proc/" + name + "/cmdline");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string cmdline = ss.str();
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(marker) != std::string::npos) found.push_back(name + ": " + cmdline);
  }
  return found;
}

}  // namespace gaol::it
