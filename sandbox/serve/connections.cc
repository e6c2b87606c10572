#include "sandbox/serve/connections.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

// The socket httplib's listen loop accepted last on this thread; its task queue takes it next.
thread_local int t_accepted = -1;

}  // namespace

// gaol-serve's accept(), which cpp-httplib's (a shared library) resolves to: the accepted socket
// is recorded for the guard and is close-on-exec (httplib's is not, and `GET /v1/check` spawns).
extern "C" int accept(int fd, sockaddr* __restrict addr, socklen_t* __restrict len) {
  int conn = accept4(fd, addr, len, SOCK_CLOEXEC);
  if (conn >= 0) t_accepted = conn;
  return conn;
}

namespace gaol::serve {

using Clock = std::chrono::steady_clock;

struct ConnectionGuard::Connection {
  ConnectionGuard* guard = nullptr;
  int watch_fd = -1;  // a dup of httplib's socket: shut down here, closed when the task ends
  std::string client;
  bool armed = false;  // under guard->mu_; armed when a thread takes the connection
  bool cut = false;    // the watchdog shut it down
  Clock::time_point deadline;
};

namespace {

thread_local ConnectionGuard::Connection* t_current = nullptr;

// The address a connection comes from; a Unix socket's client is its uid.
std::string ClientOf(int fd) {
  sockaddr_storage addr = {};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return "?";
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, text, sizeof text);
    return text;
  }
  if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, text, sizeof text);
    return text;
  }
  ucred cred = {};
  socklen_t cred_len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0) {
    return fmt::format("uid {}", cred.uid);
  }
  return "?";
}

}  // namespace

class ConnectionGuard::Queue : public httplib::TaskQueue {
 public:
  Queue(ConnectionGuard& guard, std::size_t threads) : guard_(guard), pool_(threads) {}

  void enqueue(std::function<void()> fn) override {
    int fd = t_accepted;
    t_accepted = -1;
    if (fd < 0) return pool_.enqueue(std::move(fn));
    auto conn = guard_.Admit(fd);
    if (!conn) {
      close(fd);  // fn, which would have served and closed it, is dropped unrun
      return;
    }
    pool_.enqueue([this, conn, fn = std::move(fn)] {
      t_current = conn.get();
      // The deadline starts now: time spent waiting for a free thread is the server's, not the
      // client's.
      ResponseReady();
      fn();
      t_current = nullptr;
      guard_.Release(conn);
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  ConnectionGuard& guard_;
  httplib::ThreadPool pool_;
};

ConnectionGuard::ConnectionGuard(ConnectionLimits limits,
                                 std::function<void(std::string_view)> on_reject)
    : limits_(limits), on_reject_(std::move(on_reject)), watchdog_([this] { Watch(); }) {}

ConnectionGuard::~ConnectionGuard() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  watchdog_.join();
}

httplib::TaskQueue* ConnectionGuard::NewTaskQueue(std::size_t threads) {
  return new Queue(*this, threads);
}

std::shared_ptr<ConnectionGuard::Connection> ConnectionGuard::Admit(int fd) {
  std::string client = ClientOf(fd);
  {
    std::unique_lock lock(mu_);
    unsigned& count = per_client_[client];
    if (count < limits_.per_client) {
      ++count;
      auto conn = std::make_shared<Connection>();
      conn->guard = this;
      conn->watch_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
      conn->client = std::move(client);
      open_[conn.get()] = conn;
      return conn;
    }
    if (count == 0) per_client_.erase(client);
  }
  // Answered at once, on a socket that has room for it (nothing was ever written to it).
  std::string body = fmt::format(
      "{{\"error\":\"{} connections from this client are open (--max-client-connections): close "
      "one and retry\"}}\n",
      limits_.per_client);
  std::string reply = fmt::format(
      "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: "
      "{}\r\nConnection: close\r\nRetry-After: 1\r\n\r\n{}",
      body.size(), body);
  (void)!send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  on_reject_("client_connections");
  return nullptr;
}

void ConnectionGuard::Release(const std::shared_ptr<Connection>& conn) {
  std::lock_guard lock(mu_);
  if (conn->watch_fd >= 0) close(conn->watch_fd);
  conn->watch_fd = -1;
  open_.erase(conn.get());
  auto it = per_client_.find(conn->client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

void ConnectionGuard::RequestRead() {
  if (!t_current) return;
  std::lock_guard lock(t_current->guard->mu_);
  t_current->armed = false;
}

bool ConnectionGuard::Cut() {
  if (!t_current) return false;
  std::lock_guard lock(t_current->guard->mu_);
  return t_current->cut;
}

void ConnectionGuard::ResponseReady() {
  if (!t_current) return;
  ConnectionGuard& guard = *t_current->guard;
  std::lock_guard lock(guard.mu_);
  t_current->armed = true;
  t_current->deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(guard.limits_.request_seconds));
}

void ConnectionGuard::Watch() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(250));
    auto now = Clock::now();
    int expired = 0;
    for (auto& [key, conn] : open_) {
      if (!conn->armed || now < conn->deadline) continue;
      // The serving thread's read (or write) returns at once; it closes its socket as usual.
      if (conn->watch_fd >= 0) shutdown(conn->watch_fd, SHUT_RDWR);
      conn->armed = false;
      conn->cut = true;
      ++expired;
    }
    lock.unlock();
    for (int i = 0; i < expired; ++i) on_reject_("request_timeout");
    lock.lock();
  }
}

}  // namespace gaol::serve
