#include "sandbox/serve/server.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <system_error>

#include "sandbox/common/pidfd.h"
#include "sandbox/io/remove_tree.h"
#include "sandbox/serve/listen.h"
#include "sandbox/serve/runner.h"

extern char** environ;

namespace gaol::serve {

using nlohmann::json;

struct Server::Job {
  std::string id;
  bool async = false;
  RunRequest request;
  enum State { kQueued, kRunning, kDone } state = kQueued;
  bool cancel_requested = false;
  UniqueFd result_r, cancel_w, pidfd;
  pid_t runner = -1;
  // Why the job starts cold when the server chose so (the pool's answer): what the result's
  // `pool` says, whatever its runner thought.
  std::string pool_reason;
  std::string received;
  std::unique_ptr<std::array<char, 65536>> chunk;
  json result;
  std::size_t result_bytes = 0;  // its serialised size, while it is kept for GET
};

namespace {

constexpr std::uint64_t kWakeTag = 1, kForkServerTag = 2;
constexpr std::size_t kKeepFinished = 1000;  // finished async jobs kept for GET
// Pre-built sandboxes refused in a row (a plan the server does not make as the builders do)
// after which the server takes no more.
constexpr int kPoolRefusals = 3;

std::string NewId() {
  std::array<unsigned char, 8> bytes{};
  if (getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    static std::atomic<std::uint64_t> counter{0};
    std::uint64_t v = ++counter ^ static_cast<std::uint64_t>(getpid()) << 32;
    std::memcpy(bytes.data(), &v, bytes.size());
  }
  std::string id;
  for (auto b : bytes) id += fmt::format("{:02x}", b);
  return id;
}

const char* StateName(int state) {
  switch (state) {
    case 0:
      return "queued";
    case 1:
      return "running";
    default:
      return "done";
  }
}

json Cancelled(const char* why) {
  RunResult r;
  r.status = RunStatus::kCancelled;
  json out = ResultToJson(r);
  out["cancel_reason"] = why;
  return out;
}

json SetupError(const Error& e) {
  RunResult r;
  r.status = RunStatus::kSetupError;
  r.error = e;
  return ResultToJson(r);
}

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void ReplyError(httplib::Response& res, int status, const std::string& message) {
  Reply(res, status, {{"error", message}});
}

// The request's body is left unread: the connection cannot carry another request.
void CloseAfter(httplib::Response& res) { res.set_header("Connection", "close"); }

// Whether a request comes with a body (a length over 0, or any transfer coding).
bool HasBody(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  return req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0";
}

// Compares without an early exit, so the token cannot be guessed byte by byte from timings.
bool SameToken(const std::string& given, const std::string& want) {
  unsigned char diff = given.size() == want.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ want[i % (want.empty() ? 1 : want.size())]);
  }
  return diff == 0;
}

// `gaol check --json`, run as its own process: its probes fork, which a threaded process may not.
std::string CheckReport(const std::string& gaol) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return {};
  UniqueFd r(pipefd[0]), w(pipefd[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, w.Get(), 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  char* argv[] = {const_cast<char*>(gaol.c_str()), const_cast<char*>("check"),
                  const_cast<char*>("--json"), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, gaol.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  w.Reset();
  if (rc != 0) return {};
  std::string out;
  char buf[8192];
  for (ssize_t n; (n = read(r.Get(), buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

RunResult FiguresFromJson(const json& j) {
  RunResult r;
  r.status = RunStatusFromName(j.value("status", "setup_error"));
  auto number = [&](const char* key) {
    auto it = j.find(key);
    return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
  };
  if (auto e = j.find("error"); e != j.end() && e->is_object()) {
    r.error = Error{StepFromName(e->value("step", "validate")), 0, e->value("message", ""), "", ""};
  }
  r.wall_time_seconds = number("wall_time_seconds");
  r.cpu_time_seconds = number("cpu_time_seconds");
  r.peak_memory_bytes = static_cast<std::uint64_t>(number("peak_memory_bytes"));
  if (auto l = j.find("launch"); l != j.end() && l->is_object()) {
    r.launch_total_seconds = l->value("total_seconds", 0.0);
    if (auto p = l->find("prebuilt"); p != l->end() && p->is_object())
      r.prebuilt_build_seconds = p->value("build_seconds", 0.0);
    if (auto steps = l->find("steps"); steps != l->end() && steps->is_object()) {
      for (const auto& [name, seconds] : steps->items()) {
        if (seconds.is_number()) r.launch_steps[StepFromName(name)] = seconds.get<double>();
      }
    }
  }
  return r;
}

// cpp-httplib accepts on a socket bound by sandbox/serve/listen.cc.
class Server::Http : public httplib::Server {
 public:
  void Adopt(int fd) { svr_sock_ = fd; }
};

Server::Server(ServeOptions options, ServeObserver& observer)
    : options_(std::move(options)), observer_(observer), http_(std::make_unique<Http>()) {}

Server::~Server() {
  {
    // The threads running jobs here end with their jobs (Drain waited for them, or cancelled
    // them); one that does not within a minute holds `this`, which cannot go: gaol-serve ends.
    std::unique_lock lock(mu_);
    if (!threads_cv_.wait_for(lock, std::chrono::seconds(60), [&] { return threads_ == 0; })) {
      std::fprintf(stderr, "gaol serve: %u jobs still running at exit; ending\n", threads_);
      std::_Exit(70);
    }
  }
  stopping_ = true;
  Wake();
  if (supervisor_.joinable()) supervisor_.join();
}

Server::Submit Server::Enqueue(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard lock(mu_);
    if (draining_) return Submit::kDraining;
    if (running_ >= options_.max_concurrent) {
      if (queue_.size() >= options_.max_queue) return Submit::kQueueFull;
      queue_.push_back(job);
      jobs_[job->id] = job;
      observer_.SetQueued(static_cast<double>(queue_.size()));
      return Submit::kAccepted;
    }
    ++running_;
    job->state = Job::kRunning;
    jobs_[job->id] = job;
  }
  Dispatch(job);
  return Submit::kAccepted;
}

void Server::Dispatch(const std::shared_ptr<Job>& job) {
  observer_.OnStarted();
  // A pre-built sandbox when the pool has one and the job binds nothing (a bind source is opened
  // by the cold runner, beneath its allowed directory); RunWarm checks the rest of its shape.
  bool binds = std::any_of(job->request.spec.mounts.begin(), job->request.spec.mounts.end(),
                           [](const MountSpec& m) { return m.type == MountType::kBind; });
  if (!pool_shape_ || pool_off_) {
    job->pool_reason = "off";
  } else if (binds || !MayRunWarm(job->request.spec, *pool_shape_)) {
    job->pool_reason = "shape";  // no sandbox is taken (and wasted) for it
  } else {
    auto taken = fork_server_->Take();
    if (taken) observer_.SetPoolDepth(taken->depth);
    if (taken && taken->builder > 0) {
      RunHere(job, std::move(*taken));
      return;
    }
    job->pool_reason = taken ? taken->reason : "other";
  }
  LaunchCold(job);
}

void Server::RunHere(const std::shared_ptr<Job>& job, PoolSandbox taken) {
  int cancel_pipe[2] = {-1, -1};
  if (pipe2(cancel_pipe, O_CLOEXEC) != 0) {
    Complete(job, SetupError(Fail(Step::kOpenIo, "set up the job's cancel pipe", "").value()));
    return;
  }
  auto cancel_r = std::make_shared<UniqueFd>(cancel_pipe[0]);
  {
    std::lock_guard lock(mu_);
    job->cancel_w.Reset(cancel_pipe[1]);
    // A DELETE that came while the sandbox was being taken.
    if (job->cancel_requested) (void)!write(job->cancel_w.Get(), "x", 1);
    ++threads_;
  }
  auto handed = std::make_shared<PoolSandbox>(std::move(taken));
  // One thread per job run here: it supervises with RunWarm's own loop (the code `gaol run`
  // judges with), so that a job's supervision blocks nothing else.
  try {
    std::thread([this, job, handed, cancel_r] {
      RunAdopted(job, std::move(*handed), std::move(*cancel_r));
      std::lock_guard lock(mu_);
      --threads_;
      threads_cv_.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    // No thread for it (EAGAIN): the sandbox goes unused, the job starts cold.
    std::fprintf(stderr, "gaol serve: no thread for a job: %s\n", e.what());
    handed.reset();
    cancel_r.reset();
    {
      std::lock_guard lock(mu_);
      --threads_;
      job->cancel_w.Reset();
    }
    job->pool_reason = "other";
    LaunchCold(job);
  }
}

void Server::RunAdopted(const std::shared_ptr<Job>& job, PoolSandbox taken, UniqueFd cancel_r) {
  WarmSandboxPtr sandbox;
  {
    std::lock_guard lock(shape_mu_);
    auto adopted =
        AdoptWarmSandbox(*pool_shape_, warm_shape_, taken.handover, std::move(taken.fds));
    if (adopted) {
      sandbox = std::move(*adopted);
      refusals_ = 0;
    } else if (++refusals_ <= kPoolRefusals) {
      std::fprintf(stderr, "gaol serve: a pre-built sandbox was refused: %s\n",
                   adopted.error().Message().c_str());
      if (refusals_ == kPoolRefusals) {
        std::fprintf(stderr,
                     "gaol serve: %d pre-built sandboxes in a row refused: no more are taken, "
                     "every job starts cold\n",
                     kPoolRefusals);
        pool_off_ = true;
      }
    }
  }
  job->pool_reason = "failed";
  if (sandbox) {
    std::optional<json> answer;
    try {
      answer = RunOnWarm(job->request, *sandbox, cancel_r.Get());
    } catch (const std::exception& e) {
      answer = SetupError(Error{Step::kSupervise, 0, e.what(), {}, {}});
    }
    if (answer) {
      job->pool_reason.clear();
      cancel_r.Reset();
      job->request = {};  // its files, which a kept async result must not hold on to
      // The sandbox's lease goes after the answer: its end lets its pool runner end, and that
      // starts the next build, which is better not competing with the answer for the CPU.
      Complete(job, std::move(*answer));
      sandbox.reset();
      return;
    }
    // Its PID 1 died while it waited (its shape was the job's), or the job's shape is another.
    job->pool_reason = ProcessExited(WarmSandboxPidFd(*sandbox)) ? "failed" : "shape";
  }
  // Its sandbox is discarded first (PID 1 ends, its builder too): the cold start has the CPU.
  sandbox.reset();
  cancel_r.Reset();
  {
    std::lock_guard lock(mu_);
    job->cancel_w.Reset();
  }
  LaunchCold(job);
}

void Server::LaunchCold(const std::shared_ptr<Job>& job) {
  job->request.work_root = options_.work_root;
  job->request.job_name = "job-" + job->id;
  std::string text = RequestToJson(job->request).dump();
  job->request = {};  // the runner has its copy
  UniqueFd memfd(static_cast<int>(syscall(SYS_memfd_create, "gaol-request", MFD_CLOEXEC)));
  int result_pipe[2] = {-1, -1}, cancel_pipe[2] = {-1, -1};
  bool ok =
      memfd && write(memfd.Get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && pipe2(result_pipe, O_CLOEXEC) == 0;
  ok = ok && pipe2(cancel_pipe, O_CLOEXEC) == 0;
  UniqueFd result_w(result_pipe[1]), cancel_r(cancel_pipe[0]);
  {
    std::lock_guard lock(mu_);  // Cancel reads them from the HTTP threads
    job->result_r.Reset(result_pipe[0]);
    job->cancel_w.Reset(cancel_pipe[1]);
  }
  if (!ok) {
    Complete(job, SetupError(Fail(Step::kClone, "set up the job's pipes", "").value()));
    return;
  }
  auto runner = fork_server_->Launch(memfd.Get(), result_w.Get(), cancel_r.Get());
  if (!runner) {
    // The job in the fork server's hands when it died: reported, never lost.
    Complete(job, SetupError(runner.error()));
    return;
  }
  observer_.SetPoolDepth(runner->depth);
  {
    std::lock_guard lock(mu_);
    job->runner = runner->pid;
    job->pidfd = std::move(runner->pidfd);
    // A DELETE that came while the runner was being forked.
    if (job->cancel_requested) (void)!write(job->cancel_w.Get(), "x", 1);
    to_watch_.push_back(job);
  }
  Wake();
}

void Server::Complete(const std::shared_ptr<Job>& job, json result) {
  if (!job->pool_reason.empty() && result.contains("pool"))
    result["pool"] = {{"hit", false}, {"reason", job->pool_reason}};
  RunResult figures = FiguresFromJson(result);
  observer_.OnFinished(figures);
  if (auto pool = result.find("pool"); pool != result.end() && pool->is_object()) {
    observer_.OnPool(pool->value("hit", false) ? "hit" : pool->value("reason", "other"),
                     figures.prebuilt_build_seconds);
  }
  std::size_t bytes = job->async ? result.dump().size() : 0;
  std::shared_ptr<Job> next;
  {
    std::lock_guard lock(mu_);
    if (job->cancel_requested && result.value("status", "") == "cancelled") {
      result["cancel_reason"] = draining_ ? "the server is shutting down" : "DELETE /v1/jobs/{id}";
    }
    job->result = std::move(result);
    job->result_bytes = bytes;
    job->state = Job::kDone;
    job->result_r.Reset();
    job->cancel_w.Reset();
    job->pidfd.Reset();
    job->chunk.reset();
    job->received.clear();
    job->received.shrink_to_fit();
    Retire(*job);
    --running_;
    if (!queue_.empty() && !draining_) {
      next = queue_.front();
      queue_.pop_front();
      next->state = Job::kRunning;
      ++running_;
    }
    observer_.SetQueued(static_cast<double>(queue_.size()));
  }
  done_cv_.notify_all();
  if (next) Dispatch(next);
}

// A finished sync job is the waiting request's alone; a finished async one is kept for GET.
void Server::Retire(const Job& job) {
  if (!job.async) {
    jobs_.erase(job.id);
    return;
  }
  finished_order_.push_back(job.id);
  kept_bytes_ += job.result_bytes;
  // Bounded by count and by bytes (a result carries its output and collected files inline).
  while (finished_order_.size() > kKeepFinished ||
         (kept_bytes_ > options_.kept_results_bytes && finished_order_.size() > 1)) {
    Forget(finished_order_.front());
  }
}

void Server::Forget(const std::string& id) {
  auto it = jobs_.find(id);
  if (it != jobs_.end()) {
    kept_bytes_ -= it->second->result_bytes;
    jobs_.erase(it);
  }
  std::erase(finished_order_, id);
}

void Server::Cancel(const std::shared_ptr<Job>& job) {
  std::unique_lock lock(mu_);
  job->cancel_requested = true;
  if (job->state == Job::kQueued) {
    auto it = std::find(queue_.begin(), queue_.end(), job);
    if (it != queue_.end()) queue_.erase(it);
    job->state = Job::kDone;
    job->result = Cancelled(draining_ ? "the server is shutting down" : "DELETE /v1/jobs/{id}");
    job->result_bytes = job->result.dump().size();
    Retire(*job);
    observer_.SetQueued(static_cast<double>(queue_.size()));
    lock.unlock();
    done_cv_.notify_all();
    return;
  }
  // Running: the runner's supervisor kills the sandbox and reports `cancelled`.
  if (job->state == Job::kRunning && job->cancel_w) (void)!write(job->cancel_w.Get(), "x", 1);
}

void Server::Wake() {
  if (!wake_fd_) return;
  std::uint64_t one = 1;
  (void)!write(wake_fd_.Get(), &one, sizeof one);
}

void Server::SupervisorLoop(io_uring& ring) {
  std::uint64_t wake_value = 0;
  std::map<Job*, std::shared_ptr<Job>> watching;
  auto sqe = [&] {
    io_uring_sqe* s = io_uring_get_sqe(&ring);
    if (!s) {
      io_uring_submit(&ring);
      s = io_uring_get_sqe(&ring);
    }
    return s;
  };
  auto arm_wake = [&] {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, wake_fd_.Get(), &wake_value, sizeof wake_value, 0);
    io_uring_sqe_set_data64(s, kWakeTag);
  };
  auto arm_fork_server = [&] {
    io_uring_sqe* s = sqe();
    io_uring_prep_poll_add(s, fork_server_->PidFd(), POLLIN);
    io_uring_sqe_set_data64(s, kForkServerTag);
  };
  auto arm_read = [&](Job* job) {
    io_uring_sqe* s = sqe();
    io_uring_prep_read(s, job->result_r.Get(), job->chunk->data(), job->chunk->size(),
                       static_cast<__u64>(-1));
    io_uring_sqe_set_data(s, job);
  };
  arm_wake();
  arm_fork_server();
  while (!(stopping_ && watching.empty())) {
    io_uring_submit(&ring);
    io_uring_cqe* cqe;
    int rc = io_uring_wait_cqe(&ring, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) break;
    std::uint64_t tag = io_uring_cqe_get_data64(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&ring, cqe);
    if (tag == kWakeTag) {
      std::vector<std::shared_ptr<Job>> fresh;
      {
        std::lock_guard lock(mu_);
        fresh.swap(to_watch_);
      }
      for (auto& job : fresh) {
        job->chunk = std::make_unique<std::array<char, 65536>>();
        watching[job.get()] = job;
        arm_read(job.get());
      }
      arm_wake();
      continue;
    }
    if (tag == kForkServerTag) {
      if (stopping_) continue;
      // The fork server died: a new one, at once. Runners it forked keep running and report on
      // their own pipes; a job it was forking got a setup_error from Launch.
      // (A launch that found it dead may have restarted it already: then this only re-arms.)
      if (auto s = fork_server_->RestartIfDead(); !s) {
        std::fprintf(stderr, "gaol serve: %s\n", s.error().Message().c_str());
      } else {
        arm_fork_server();
      }
      continue;
    }
    auto* job = reinterpret_cast<Job*>(tag);
    auto it = watching.find(job);
    if (it == watching.end()) continue;
    if (res > 0) {
      job->received.append(job->chunk->data(), static_cast<std::size_t>(res));
      arm_read(job);
      continue;
    }
    std::shared_ptr<Job> owned = std::move(it->second);
    watching.erase(it);
    json result = json::parse(job->received, nullptr, false);
    if (res < 0 || result.is_discarded() || !result.is_object()) {
      result = SetupError(Error{Step::kSupervise, res < 0 ? -res : 0,
                                "the job's runner ended without a result", "", ""});
      // A runner killed (SIGKILL, the OOM killer) removed nothing: its sandbox died with it
      // (PR_SET_PDEATHSIG), its job directory is removed here.
      UniqueFd root(open(options_.work_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (root) io::RemoveTreeAt(root.Get(), "job-" + job->id);
    }
    Complete(owned, std::move(result));
  }
  io_uring_queue_exit(&ring);
  delete &ring;
}

json Server::Describe(const Job& job) const {
  json out = {{"id", job.id}, {"state", StateName(job.state)}};
  if (job.state == Job::kDone) out["result"] = job.result;
  return out;
}

bool Server::Authorized(const httplib::Request& req, httplib::Response& res) {
  if (options_.token.empty() || req.path == "/healthz") return true;
  std::string auth = req.get_header_value("Authorization");
  if (auth.starts_with("Bearer ") && SameToken(auth.substr(7), options_.token)) return true;
  observer_.OnRejected("unauthorized");
  res.set_header("WWW-Authenticate", "Bearer");
  CloseAfter(res);
  ReplyError(res, 401, "a bearer token is required (Authorization: Bearer TOKEN)");
  return false;
}

bool Server::ReadBody(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, std::string& body) {
  auto over = [&] {
    observer_.OnRejected("bad_request");
    CloseAfter(res);
    ReplyError(
        res, 413,
        fmt::format("the request body is over --max-body ({} bytes)", options_.max_body_bytes));
    return false;
  };
  if (req.is_multipart_form_data()) {
    observer_.OnRejected("bad_request");
    CloseAfter(res);
    ReplyError(res, 415, "the body is a JobSpec JSON object (application/json), not a form");
    return false;
  }
  // A declared length over the cap is refused unread (httplib would read and discard it all).
  if (req.has_header("Content-Length") &&
      req.get_header_value<std::uint64_t>("Content-Length") > options_.max_body_bytes) {
    return over();
  }
  bool too_big = false;
  bool read = reader([&](const char* data, std::size_t n) {
    if (body.size() + n > options_.max_body_bytes) {
      too_big = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_big) return over();
  if (!read) {
    // A connection cut for its deadline is counted as request_timeout already.
    if (!ConnectionGuard::Cut()) observer_.OnRejected("bad_request");
    CloseAfter(res);
    ReplyError(res, 400, "the request body could not be read (a malformed chunked encoding?)");
    return false;
  }
  ConnectionGuard::RequestRead();
  return true;
}

// POST /v1/run (waits for the result) and POST /v1/jobs (202 and a Location at once).
void Server::HandleSubmit(const httplib::Request& req, httplib::Response& res,
                          const httplib::ContentReader& reader, bool async) {
  std::string body;
  if (!ReadBody(req, res, reader, body)) return;
  auto request = ParseRunRequest(body, options_.policy);
  if (!request) {
    bool policy = request.error().context.starts_with("policy");
    observer_.OnRejected(policy ? "over_limits" : "bad_request");
    // What the operator did not allow is forbidden (403); what is malformed, a bad request (400).
    ReplyError(res, policy ? 403 : 400, request.error().Message());
    return;
  }
  if (!options_.cgroup_parent.empty()) request->spec.cgroup_parent = options_.cgroup_parent;
  auto job = std::make_shared<Job>();
  job->id = NewId();
  job->async = async;
  job->request = std::move(*request);
  switch (Enqueue(job)) {
    case Submit::kQueueFull:
      observer_.OnRejected("queue_full");
      res.set_header("Retry-After", "1");
      ReplyError(res, 429,
                 fmt::format("the queue is full ({} running, {} queued): retry later",
                             options_.max_concurrent, options_.max_queue));
      return;
    case Submit::kDraining:
      observer_.OnRejected("other");
      ReplyError(res, 503, "the server is shutting down");
      return;
    case Submit::kAccepted:
      break;
  }
  if (async) {
    std::lock_guard lock(mu_);
    res.set_header("Location", "/v1/jobs/" + job->id);
    Reply(res, 202, Describe(*job));
    return;
  }
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return job->state == Job::kDone; });
  json out = job->result;
  out["id"] = job->id;
  Reply(res, 200, out);
}

void Server::HandleGetJob(const std::string& id, httplib::Response& res) {
  std::lock_guard lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    return ReplyError(res, 404,
                      "no such job (finished jobs are kept until DELETE, up to 1000 of them and "
                      "--kept-results bytes)");
  }
  Reply(res, 200, Describe(*it->second));
}

// DELETE /v1/jobs/ID: a finished job is forgotten; a queued or running one is cancelled.
void Server::HandleDeleteJob(const std::string& id, httplib::Response& res) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard lock(mu_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return ReplyError(res, 404, "no such job");
    job = it->second;
    if (job->state == Job::kDone) {
      json out = Describe(*job);
      Forget(id);
      return Reply(res, 200, out);
    }
  }
  Cancel(job);
  std::unique_lock lock(mu_);
  // Wait for the kill to land (bounded), so the caller sees the job's end, not a promise.
  done_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return job->state == Job::kDone; });
  Reply(res, 200, Describe(*job));
}

void Server::HandleHealth(httplib::Response& res) {
  std::lock_guard lock(mu_);
  Reply(res, draining_ ? 503 : 200,
        {{"status", draining_ ? "draining" : "ok"},
         {"running", running_},
         {"queued", queue_.size()},
         {"fork_server_pid", fork_server_->Pid()},
         {"fork_server_restarts", fork_server_->Restarts()}});
}

void Server::Route() {
  auto& http = *http_;
  using Req = httplib::Request;
  using Res = httplib::Response;
  using Reader = httplib::ContentReader;
  http.set_pre_routing_handler([this](const Req& req, Res& res) {
    if (!Authorized(req, res)) return httplib::Server::HandlerResponse::Handled;
    // Only the two submit routes read a body, each as it arrives; any other body is refused
    // unread (httplib would read it whole, unbounded when chunked).
    bool submit = req.method == "POST" && (req.path == "/v1/run" || req.path == "/v1/jobs");
    if (submit) return httplib::Server::HandlerResponse::Unhandled;
    if (HasBody(req)) {
      observer_.OnRejected("bad_request");
      CloseAfter(res);
      ReplyError(res, req.method == "POST" ? 404 : 400,
                 req.method == "POST" ? "no such endpoint" : "this endpoint takes no request body");
      return httplib::Server::HandlerResponse::Handled;
    }
    ConnectionGuard::RequestRead();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.set_post_routing_handler([](const Req&, Res&) { ConnectionGuard::ResponseReady(); });
  http.Post("/v1/run", [this](const Req& req, Res& res, const Reader& reader) {
    HandleSubmit(req, res, reader, false);
  });
  http.Post("/v1/jobs", [this](const Req& req, Res& res, const Reader& reader) {
    HandleSubmit(req, res, reader, true);
  });
  http.Get(R"(/v1/jobs/([0-9a-f]+))",
           [this](const Req& req, Res& res) { HandleGetJob(req.matches[1], res); });
  http.Delete(R"(/v1/jobs/([0-9a-f]+))",
              [this](const Req& req, Res& res) { HandleDeleteJob(req.matches[1], res); });
  http.Get("/metrics", [this](const Req&, Res& res) {
    res.set_content(observer_.Exposition(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz", [this](const Req&, Res& res) { HandleHealth(res); });
  http.Get("/v1/check", [this](const Req&, Res& res) {
    std::string report = CheckReport(options_.gaol);
    if (report.empty()) return ReplyError(res, 500, "`gaol check --json` gave no report");
    res.set_content(report, "application/json");
  });
  http.set_error_handler([](const Req&, Res& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) return ReplyError(res, 413, "the request body is over --max-body");
    if (res.status == 404) return ReplyError(res, 404, "no such endpoint");
    ReplyError(res, res.status, fmt::format("HTTP {}", res.status));
  });
}

Status Server::Bind() {
  const std::string& listen = options_.listen;
  if (listen == "systemd") {
    auto adopted = AdoptSystemdSocket();
    if (!adopted) return tl::unexpected(adopted.error());
    http_->Adopt(adopted->first);
    bound_ = adopted->second;
    return {};
  }
  if (listen.starts_with("unix:")) {
    auto fd = ListenUnix(listen.substr(5));
    if (!fd) return tl::unexpected(fd.error());
    http_->Adopt(*fd);
    bound_ = listen;
    return {};
  }
  auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  auto bound = ListenTcp(host, std::atoi(listen.c_str() + colon + 1));
  if (!bound) return tl::unexpected(bound.error());
  http_->Adopt(bound->first);
  bound_ = fmt::format("{}:{}", listen.substr(0, colon), bound->second);
  return {};
}

Status Server::Start(ForkServer& fork_server) {
  fork_server_ = &fork_server;
  if (fork_server.Pool() > 0 && !options_.pool_shape.empty()) {
    json value = json::parse(options_.pool_shape, nullptr, false);
    auto shape =
        value.is_discarded() ? Invalid("the pool's shape", "JSON") : RequestFromJson(value);
    if (!shape) return tl::unexpected(shape.error());
    pool_shape_ = PoolShape(*shape);
  }
  wake_fd_.Reset(eventfd(0, EFD_CLOEXEC));
  if (!wake_fd_) return Fail(Step::kValidate, "eventfd", "");
  auto& http = *http_;
  // Sync requests hold a thread while their job runs: enough threads for every running and
  // queued job, plus a few for status, metrics and rejections.
  std::size_t threads = options_.max_concurrent + options_.max_queue + 8;
  ConnectionLimits limits = options_.connections;
  if (limits.per_client == 0) limits.per_client = options_.max_concurrent + options_.max_queue;
  guard_ = std::make_unique<ConnectionGuard>(
      limits, [this](std::string_view reason) { observer_.OnRejected(reason); });
  http.new_task_queue = [this, threads] { return guard_->NewTaskQueue(threads); };
  http.set_payload_max_length(options_.max_body_bytes);
  http.set_keep_alive_max_count(1000);
  http.set_tcp_nodelay(true);
  Route();
  if (auto bound = Bind(); !bound) return bound;
  auto* ring = new io_uring;
  if (int rc = io_uring_queue_init(256, ring, 0); rc < 0) {
    delete ring;
    return Fail(Step::kSupervise, "io_uring_queue_init (is kernel.io_uring_disabled set?)",
                "256 entries", -rc);
  }
  supervisor_ = std::thread([this, ring] { SupervisorLoop(*ring); });
  return {};
}

void Server::Serve() {
  {
    std::lock_guard lock(mu_);
    if (serve_refused_) return;
    serve_started_ = true;
  }
  http_->listen_after_bind();
  serve_done_ = true;
}

void Server::StopHttp() {
  {
    std::lock_guard lock(mu_);
    serve_refused_ = true;
    if (!serve_started_) return;
  }
  // A SIGTERM right after start can land between Serve() and the listen loop's first line, when
  // stop() would do nothing and the loop would then run for ever: stop once it is running.
  bool stopped = false;
  while (!serve_done_) {
    if (!stopped && http_->is_running()) {
      http_->stop();
      stopped = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void Server::Drain() {
  std::vector<std::shared_ptr<Job>> queued, running;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    queued.assign(queue_.begin(), queue_.end());
  }
  for (auto& job : queued) Cancel(job);
  {
    std::unique_lock lock(mu_);
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.drain_seconds);
    done_cv_.wait_until(lock, deadline, [&] { return running_ == 0; });
  }
  // Past the deadline: every job still running is cancelled (its sandbox killed, its leaf gone).
  std::vector<std::shared_ptr<Job>> left;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, job] : jobs_) {
      if (job->state == Job::kRunning) left.push_back(job);
    }
  }
  for (auto& job : left) Cancel(job);
  {
    std::unique_lock lock(mu_);
    done_cv_.wait_for(lock, std::chrono::seconds(10), [&] { return running_ == 0; });
  }
  StopHttp();
  stopping_ = true;
  Wake();
  if (supervisor_.joinable()) supervisor_.join();
}

}  // namespace gaol::serve
