// `gaol serve`: the HTTP JSON API of DESIGN.md for judges. HTTP threads (cpp-httplib) check and
// queue requests; jobs go to the fork server, which forks one runner per job; one supervisor
// thread on io_uring watches every running job's result pipe and the fork server itself.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "sandbox/run.h"
#include "sandbox/serve/connections.h"
#include "sandbox/serve/fork_server.h"
#include "sandbox/serve/request.h"

struct io_uring;
namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace gaol::serve {

// What the server reports to whoever keeps metrics (metrics/ implements it with prometheus-cpp;
// this library does not link Prometheus).
class ServeObserver : public LaunchObserver {
 public:
  virtual void OnRejected(std::string_view /*reason*/) {}
  virtual void SetQueued(double /*jobs*/) {}
  // The pool: "hit" or why the job started cold (JobMetrics::OnPool), and its depth.
  virtual void OnPool(std::string_view /*outcome*/, std::optional<double> /*build_seconds*/) {}
  virtual void SetPoolDepth(double /*sandboxes*/) {}
  virtual std::string Exposition() { return "# no metrics\n"; }
};

struct ServeOptions {
  std::string listen = "127.0.0.1:8480";  // HOST:PORT, unix:PATH or systemd
  unsigned max_concurrent = 1;
  unsigned max_queue = 64;
  std::uint64_t max_body_bytes = 32 << 20;
  std::string token;          // empty: no token required
  std::string work_root;      // the server's own directory for job directories
  std::string exe;            // gaol-serve itself, for the fork server
  std::string gaol;           // the gaol binary, for GET /v1/check
  std::string cgroup_parent;  // every job's leaf goes here (--cgroup-parent); empty: gaol's search
  std::string pool_shape;     // the pool's shape (a runner request, RequestToJson), with --pool
  double drain_seconds = 30;
  std::uint64_t kept_results_bytes = 256 << 20;  // finished async results kept for GET, in all
  ConnectionLimits connections;
  Policy policy = Policy::BuiltIn();
};

// The RunResult figures the metrics need, from the runner's result JSON.
RunResult FiguresFromJson(const nlohmann::json& result);

class Server {
 public:
  Server(ServeOptions options, ServeObserver& observer);
  ~Server();

  // Binds the listening socket and starts the supervisor; the fork server must already run.
  Status Start(ForkServer& fork_server);
  // Serves until Drain() is called from another thread (blocks).
  void Serve();
  // Stop accepting, cancel what is queued, let running jobs finish for drain_seconds (then
  // cancel them), stop the HTTP threads.
  void Drain();
  std::string BoundAddress() const { return bound_; }

  struct Job;

 private:
  class Http;
  enum class Submit { kAccepted, kQueueFull, kDraining };
  Submit Enqueue(const std::shared_ptr<Job>& job);
  void Dispatch(const std::shared_ptr<Job>& job);
  // A job on one of the pool's sandboxes, run by a thread of this server's (RunAdopted); a job
  // whose shape is not the sandbox's goes on to LaunchCold.
  void RunHere(const std::shared_ptr<Job>& job, PoolSandbox taken);
  void RunAdopted(const std::shared_ptr<Job>& job, PoolSandbox taken, UniqueFd cancel_r);
  // A runner forked for the job, which builds its sandbox (gaol run's path).
  void LaunchCold(const std::shared_ptr<Job>& job);
  void Complete(const std::shared_ptr<Job>& job, nlohmann::json result);
  void SupervisorLoop(io_uring& ring);  // owns and frees the ring
  void Wake();
  void StopHttp();  // ends Serve(), whenever it started
  void Cancel(const std::shared_ptr<Job>& job);
  void Retire(const Job& job);
  void Forget(const std::string& id);  // a finished job, under mu_
  nlohmann::json Describe(const Job& job) const;
  // The routes, one handler each; Authorized runs before every route (false: answered 401).
  void Route();
  Status Bind();  // options_.listen: unix:PATH or HOST:PORT (port 0: any)
  bool Authorized(const httplib::Request& req, httplib::Response& res);
  void HandleSubmit(const httplib::Request& req, httplib::Response& res,
                    const httplib::ContentReader& reader, bool async);
  // The request body, read as it arrives: at most --max-body bytes, JSON whatever its content type
  // (a multipart form is 415). False: the error is answered.
  bool ReadBody(const httplib::Request& req, httplib::Response& res,
                const httplib::ContentReader& reader, std::string& body);
  void HandleGetJob(const std::string& id, httplib::Response& res);
  void HandleDeleteJob(const std::string& id, httplib::Response& res);
  void HandleHealth(httplib::Response& res);

  ServeOptions options_;
  ServeObserver& observer_;
  ForkServer* fork_server_ = nullptr;
  std::unique_ptr<Http> http_;
  std::unique_ptr<ConnectionGuard> guard_;
  std::string bound_;

  mutable std::mutex mu_;
  std::condition_variable done_cv_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // unfinished jobs, finished async ones
  std::deque<std::string> finished_order_;            // finished async ids, oldest first
  std::uint64_t kept_bytes_ = 0;                      // their results' serialised sizes
  std::deque<std::shared_ptr<Job>> queue_;
  unsigned running_ = 0;
  bool draining_ = false;
  std::vector<std::shared_ptr<Job>> to_watch_;  // dispatched, not yet armed in the ring
  UniqueFd wake_fd_;                            // eventfd: the supervisor has news
  std::atomic<bool> stopping_{false};
  std::thread supervisor_;
  unsigned threads_ = 0;  // under mu_: jobs running on this server's threads (RunHere)
  std::condition_variable threads_cv_;
  std::optional<JobSpec> pool_shape_;  // with a pool: the spec its sandboxes are built for
  std::mutex shape_mu_;
  std::shared_ptr<const WarmShape> warm_shape_;  // under shape_mu_: its facts and plan, here
  int refusals_ = 0;                             // under shape_mu_: sandboxes refused in a row
  std::atomic<bool> pool_off_{false};            // after kPoolRefusals of them
  // Serve()'s life, for Drain: cpp-httplib's stop() is a no-op until its listen loop has set
  // is_running, so a stop that comes first must wait for it (or for Serve never to start).
  bool serve_refused_ = false;  // under mu_: Drain came first, Serve returns at once
  bool serve_started_ = false;  // under mu_
  std::atomic<bool> serve_done_{false};
};

}  // namespace gaol::serve
