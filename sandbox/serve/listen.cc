// The server's listening socket: bound here (TCP, Unix) or taken from systemd, then handed to
// cpp-httplib, which only accepts on it.
#include "sandbox/serve/listen.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace gaol::serve {

Result<int> ListenUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(Step::kValidate, "socket", path);
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    close(fd);
    return Invalid(fmt::format("--listen `unix:{}`", path), "a socket path under 108 bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  unlink(path.c_str());  // a stale socket from an earlier run
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 512) != 0) {
    int err = errno;
    close(fd);
    return Fail(Step::kValidate, "bind", path, err);
  }
  return fd;
}

// TCP bound here too: cpp-httplib 0.11 listens with a backlog of 5, and a burst of clients
// connecting at once (a judge's workers after a restart) would see refused or reset connections.
Result<std::pair<int, int>> ListenTcp(const std::string& host, int port) {
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return Invalid(fmt::format("--listen host `{}`", host),
                   fmt::format("an address ({})", gai_strerror(rc)));
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // Small JSON replies must not wait for Nagle and the client's delayed ACK (40 ms a request).
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = fd >= 0 && bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, 512) == 0;
  int err = errno;
  freeaddrinfo(found);
  if (!ok) {
    if (fd >= 0) close(fd);
    return Fail(Step::kValidate, "bind", fmt::format("{}:{}", host, port), err);
  }
  sockaddr_storage bound = {};
  socklen_t len = sizeof bound;
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  return std::pair{fd,
                   static_cast<int>(ntohs(bound.ss_family == AF_INET6
                                              ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                              : reinterpret_cast<sockaddr_in*>(&bound)->sin_port))};
}

// --listen systemd: the one listening socket a socket unit passes, by sd_listen_fds(3)'s
// protocol (LISTEN_PID is this process, LISTEN_FDS=1, the socket at descriptor 3), checked for
// what it is before it is used. Returns the address it listens on.
Result<std::pair<int, std::string>> AdoptSystemdSocket() {
  auto refuse = [](const std::string& expected) { return Invalid("--listen `systemd`", expected); };
  const char* pid = getenv("LISTEN_PID");
  const char* fds = getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr) {
    return refuse("a socket passed by systemd (LISTEN_PID and LISTEN_FDS are not set)");
  }
  if (std::string(pid) != std::to_string(getpid())) {
    return refuse(fmt::format("LISTEN_PID to be this process, {} (it is {})", getpid(), pid));
  }
  if (std::string(fds) != "1") {
    return refuse(fmt::format("exactly one socket, LISTEN_FDS=1 (it is {})", fds));
  }
  constexpr int kFd = 3;  // SD_LISTEN_FDS_START
  struct stat st = {};
  int type = 0, listening = 0, domain = 0;
  socklen_t len = sizeof(int);
  bool ok = fstat(kFd, &st) == 0 && S_ISSOCK(st.st_mode) &&
            getsockopt(kFd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
            getsockopt(kFd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0 &&
            getsockopt(kFd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && type == SOCK_STREAM &&
            listening == 1 && (domain == AF_INET || domain == AF_INET6 || domain == AF_UNIX);
  if (!ok) return refuse("descriptor 3 to be a listening TCP or Unix stream socket");
  fcntl(kFd, F_SETFD, FD_CLOEXEC);
  for (const char* name : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) unsetenv(name);
  int one = 1;
  if (domain != AF_UNIX) setsockopt(kFd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_storage addr = {};
  socklen_t addr_len = sizeof addr;
  getsockname(kFd, reinterpret_cast<sockaddr*>(&addr), &addr_len);
  char host[INET6_ADDRSTRLEN] = "";
  if (domain == AF_UNIX) {
    return std::pair{kFd, "unix:" + std::string(reinterpret_cast<sockaddr_un*>(&addr)->sun_path)};
  }
  if (domain == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::pair{kFd, fmt::format("{}:{}", host, ntohs(in->sin_port))};
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  return std::pair{kFd, fmt::format("[{}]:{}", host, ntohs(in6->sin6_port))};
}

}  // namespace gaol::serve
