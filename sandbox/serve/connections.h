// Bounds on gaol serve's HTTP connections that cpp-httplib 0.11 does not have: a deadline for each
// request to arrive whole (its per-read timeout lets a client that sends a byte every few seconds
// hold a thread for ever) and a cap on the connections one client holds at once.
//
// httplib hands each accepted socket to its task queue inside an opaque closure; the guard is that
// task queue. It learns the socket from gaol-serve's own accept() (connections.cc), which httplib's
// listen loop calls on the same thread just before it enqueues the connection.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace gaol::serve {

struct ConnectionLimits {
  double request_seconds = 30;  // from a connection's (or last response's) start to a whole request
  // Connections open at once from one address (or one uid on unix:); 0: the server's choice,
  // max_concurrent + max_queue, so one client can fill the queue but not the threads kept for
  // everyone else.
  unsigned per_client = 0;
};

class ConnectionGuard {
 public:
  // on_reject(reason): "client_connections" or "request_timeout", for the metrics.
  ConnectionGuard(ConnectionLimits limits, std::function<void(std::string_view)> on_reject);
  ~ConnectionGuard();
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;

  // httplib's task queue for the server (new_task_queue), `threads` workers.
  httplib::TaskQueue* NewTaskQueue(std::size_t threads);

  // On the thread that serves the connection, from the handlers: the request has arrived whole
  // (no deadline while its handler runs), and its response is about to be written (the deadline
  // for writing it and for the next request on the connection starts). A response to a request
  // whose body was left unread says `Connection: close`; what the client sends after it anyway is
  // not HTTP and ends the connection (httplib answers 400 and closes).
  static void RequestRead();
  static void ResponseReady();
  // Whether this thread's connection was shut down for being past its deadline.
  static bool Cut();

  struct Connection;

 private:
  class Queue;
  std::shared_ptr<Connection> Admit(int fd);  // nullptr: over the client's cap (answered 429)
  void Release(const std::shared_ptr<Connection>& c);
  void Watch();

  ConnectionLimits limits_;
  std::function<void(std::string_view)> on_reject_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<Connection*, std::shared_ptr<Connection>> open_;
  std::map<std::string, unsigned> per_client_;
  std::thread watchdog_;
};

}  // namespace gaol::serve
