// gaol-serve: `gaol serve` (gaol execs this binary, so the HTTP server, Prometheus and their
// libraries never load on `gaol run`'s start path). Wires metrics/' JobMetrics into the server as
// its observer; also the fork server's entry point (--fork-server-fd, internal).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <thread>

#include "metrics/job_metrics.h"
#include "sandbox/cgroup/cgroup.h"
#include "sandbox/common/self.h"
#include "sandbox/serve/fork_server.h"
#include "sandbox/serve/request.h"
#include "sandbox/serve/server.h"
#include "sandbox/serve/work_root.h"
#include "sandbox/spec/units.h"

namespace {

using gaol::Error;

class PrometheusObserver : public gaol::serve::ServeObserver {
 public:
  PrometheusObserver() : registry_(std::make_shared<prometheus::Registry>()), metrics_(registry_) {}
  void OnStarted() override { metrics_.OnStarted(); }
  void OnFinished(const gaol::RunResult& r) override { metrics_.OnFinished(r); }
  void OnRejected(std::string_view reason) override { metrics_.OnRejected(reason); }
  void SetQueued(double jobs) override { metrics_.SetQueued(jobs); }
  void OnPool(std::string_view outcome, std::optional<double> build_seconds) override {
    metrics_.OnPool(outcome, build_seconds);
  }
  void SetPoolDepth(double sandboxes) override { metrics_.SetPoolDepth(sandboxes); }
  std::string Exposition() override { return gaol::metrics::TextExposition(*registry_); }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  gaol::metrics::JobMetrics metrics_;
};

// Each waiting sandbox holds a runner, a PID 1 and its namespaces: far more is a typo.
constexpr unsigned kMaxPool = 256;

int Usage(const std::string& message) {
  std::fprintf(stderr, "gaol serve: %s\n", message.c_str());
  return 125;
}

// Whether HOST:PORT names a loopback host (127.0.0.0/8, ::1, localhost).
bool LoopbackHost(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

}  // namespace

int main(int argc, char** argv) {
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  if (argc == 7 && std::string(argv[1]) == "--fork-server-fd" && std::string(argv[3]) == "--pool" &&
      std::string(argv[5]) == "--nofile") {
    // The open-file limit gaol-serve was started with (the server raised its own, which jobs
    // run here must not inherit).
    rlimit nofile = {};
    getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = std::min<rlim_t>(std::strtoull(argv[6], nullptr, 10), nofile.rlim_max);
    setrlimit(RLIMIT_NOFILE, &nofile);
    auto pool = static_cast<unsigned>(std::atoi(argv[4]));
    std::string shape;
    if (pool > 0) {
      // The pool's shape, in a memfd at fd 4 (ForkServer::Start).
      char buf[65536];
      ssize_t n;
      lseek(4, 0, SEEK_SET);
      while ((n = read(4, buf, sizeof buf)) > 0) shape.append(buf, static_cast<std::size_t>(n));
      close(4);
    }
    return gaol::serve::ForkServerMain(std::atoi(argv[2]), pool, std::move(shape));
  }
  CLI::App app{
      "gaol serve: the HTTP JSON API for judges (POST /v1/run, /v1/jobs, GET /metrics, ...)",
      "gaol serve"};
  std::string listen = "127.0.0.1:8480", max_body = "32m", limits_file, token_file, work_dir,
              drain = "30s", request_timeout = "30s", kept_results = "256m";
  unsigned per_client = 0;
  unsigned max_concurrent = std::max(1u, std::thread::hardware_concurrency());
  unsigned max_queue = 64;
  std::optional<unsigned> pool;
  std::string options_cgroup_parent;
  app.add_option("--listen", listen,
                 "HOST:PORT (port 0: any free one), unix:PATH, or systemd (the one socket a "
                 "systemd socket unit passes)")
      ->type_name("ADDRESS")
      ->capture_default_str();
  app.add_option("--max-concurrent", max_concurrent, "Jobs running at once [the number of CPUs]")
      ->type_name("N");
  app.add_option("--max-queue", max_queue, "Jobs waiting for a slot; more get 429")
      ->type_name("N")
      ->capture_default_str();
  app.add_option(
         "--pool", pool,
         "Sandboxes kept built ahead, one job each, for requests of the plainest shape "
         "(the --limits-file defaults; no binds, named workdir or other profile); 0-256, 0: "
         "every job starts cold [max-concurrent]")
      ->type_name("N")
      ->check(CLI::Range(0u, kMaxPool).description(""));
  app.add_option("--max-body", max_body, "Largest request body; larger gets 413")
      ->type_name("SIZE")
      ->capture_default_str();
  app.add_option("--limits-file", limits_file,
                 "Operator defaults, ceilings and allowances (gaol.limits/v1 JSON)")
      ->type_name("FILE");
  app.add_option(
         "--token-file", token_file,
         "Require `Authorization: Bearer TOKEN` (the file's first line) on all but /healthz")
      ->type_name("FILE");
  app.add_option("--cgroup-parent", options_cgroup_parent,
                 "A delegated cgroup v2 directory for every job's leaf [gaol run's search]")
      ->type_name("DIR");
  app.add_option("--work-dir", work_dir, "Where job directories are made [$TMPDIR or /tmp]")
      ->type_name("DIR");
  app.add_option("--drain-timeout", drain,
                 "On SIGTERM, how long running jobs may finish before they are cancelled")
      ->type_name("DURATION")
      ->capture_default_str();
  app.add_option("--kept-results", kept_results,
                 "Finished async results kept for GET until DELETE, in all (the oldest go first; "
                 "at most 1000)")
      ->type_name("SIZE")
      ->capture_default_str();
  app.add_option("--request-timeout", request_timeout,
                 "How long a client may take to send a whole request (and to read a response)")
      ->type_name("DURATION")
      ->capture_default_str();
  app.add_option("--max-client-connections", per_client,
                 "Connections one client address (one uid on unix:) may hold open; more get 429 "
                 "[max-concurrent + max-queue]")
      ->type_name("N");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Usage(std::string(e.what()) + " (see gaol serve --help)");
  }
  gaol::serve::ServeOptions options;
  options.listen = listen;
  options.cgroup_parent = options_cgroup_parent;
  if (!options.cgroup_parent.empty() && access(options.cgroup_parent.c_str(), W_OK) != 0) {
    return Usage("--cgroup-parent `" + options.cgroup_parent +
                 "`: expected a writable cgroup v2 directory (" + std::strerror(errno) + ")");
  }
  options.max_concurrent = max_concurrent;
  options.max_queue = max_queue;
  if (max_concurrent == 0) return Usage("--max-concurrent `0`: expected at least 1");
  auto body = gaol::ParseSize(max_body);
  if (!body || *body == 0)
    return Usage("--max-body `" + max_body + "`: expected a size (64k, 32m)");
  options.max_body_bytes = *body;
  auto drain_seconds = gaol::ParseDuration(drain);
  if (!drain_seconds) return Usage("--drain-timeout `" + drain + "`: expected a duration (30s)");
  options.drain_seconds = *drain_seconds;
  auto kept = gaol::ParseSize(kept_results);
  if (!kept) return Usage("--kept-results `" + kept_results + "`: expected a size (256m)");
  options.kept_results_bytes = *kept;
  auto request_seconds = gaol::ParseDuration(request_timeout);
  if (!request_seconds || *request_seconds <= 0) {
    return Usage("--request-timeout `" + request_timeout + "`: expected a duration (30s)");
  }
  options.connections.request_seconds = *request_seconds;
  if (app.count("--max-client-connections") > 0 && per_client == 0) {
    return Usage("--max-client-connections `0`: expected at least 1");
  }
  options.connections.per_client = per_client;
  if (listen == "systemd") {
    // Checked when the server binds (Server::Start): the socket systemd passed, and what it is.
  } else if (!listen.starts_with("unix:")) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos || colon == 0 ||
        listen.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
        colon + 1 == listen.size() || std::atoi(listen.c_str() + colon + 1) > 65535) {
      return Usage("--listen `" + listen + "`: expected HOST:PORT, unix:PATH or systemd");
    }
  } else if (listen.size() == 5) {
    return Usage("--listen `unix:`: expected unix:PATH");
  }
  if (!limits_file.empty()) {
    auto policy = gaol::serve::LoadPolicy(limits_file);
    if (!policy) return Usage(policy.error().Message());
    options.policy = std::move(*policy);
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    std::getline(in, options.token);
    while (!options.token.empty() && std::isspace(static_cast<unsigned char>(options.token.back())))
      options.token.pop_back();
    if (!in && options.token.empty()) {
      return Usage("--token-file `" + token_file + "`: expected a readable file");
    }
    if (options.token.size() < 16) {
      return Usage("--token-file `" + token_file + "`: expected a token of 16 characters or more");
    }
  }
  if (work_dir.empty()) work_dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  int reaped = 0;
  auto work_root = gaol::serve::WorkRoot::Create(work_dir, &reaped);
  if (!work_root) {
    return Usage("--work-dir `" + work_dir + "`: expected a writable directory (" +
                 std::strerror(work_root.error().err) + ")");
  }
  if (reaped > 0) {
    std::fprintf(stderr, "gaol serve: removed %d work root(s) of servers no longer running\n",
                 reaped);
  }
  options.work_root = work_root->Path();
  options.exe = gaol::SelfPath("gaol-serve");
  options.gaol = gaol::FindGaolBinary();
  // Under systemd with Delegate=yes gaol serve is its service cgroup's only process: it moves into
  // a leaf of its own there, and every job's leaf goes beside it with the service's controllers.
  // Before the fork server, which would share the cgroup.
  std::optional<gaol::cgroup::Adopted> adopted;
  if (options.cgroup_parent.empty()) {
    if (auto own = gaol::cgroup::AdoptOwnCgroup(); !own) {
      std::fprintf(stderr, "gaol serve: warning: jobs' cgroups not under its own cgroup: %s\n",
                   own.error().Message().c_str());
    } else if (*own) {
      adopted = std::move(**own);
      options.cgroup_parent = adopted->path;
    }
  }
  auto release_cgroup = [&] {
    if (adopted) gaol::cgroup::ReleaseOwnCgroup(*adopted);
    adopted.reset();
  };

  // SIGTERM and SIGINT drain; blocked before any thread, so only sigwait below sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Runners orphaned by a fork server crash come back to the server, whose SIGCHLD is ignored:
  // the kernel reaps them.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  signal(SIGCHLD, SIG_IGN);

  // The pool's shape: the plainest request under the operator's policy. Its sandboxes serve every
  // request whose plan differs from it only in what a job brings at the last moment.
  unsigned pool_size = pool.value_or(max_concurrent);
  std::string shape;
  if (pool_size > 0) {
    auto request = gaol::serve::ParseRunRequest(R"({"command": ["/bin/true"]})", options.policy);
    if (!request) {
      std::fprintf(stderr, "gaol serve: no pre-built sandboxes: %s\n",
                   request.error().Message().c_str());
      pool_size = 0;
    } else {
      request->work_root = options.work_root;
      request->job_name = "pool";
      // As every request's (Server::HandleSubmit): the leaves go there.
      if (!options.cgroup_parent.empty()) request->spec.cgroup_parent = options.cgroup_parent;
      shape = gaol::serve::RequestToJson(*request).dump();
    }
  }
  options.pool_shape = shape;
  // The fork server first: before any thread exists.
  gaol::serve::ForkServer fork_server(options.exe, pool_size, shape);
  if (auto s = fork_server.Start(); !s) {
    release_cgroup();
    return Usage(s.error().Message());
  }
  // A job on a pre-built sandbox holds a score of descriptors in this process while it runs (its
  // sandbox's channels, its pipes and memfds, its supervisor's ring): the soft open-file limit
  // goes up to the hard one here; the fork server and what it starts keep the one gaol-serve was
  // started with (--nofile).
  if (rlimit nofile = {};
      getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  PrometheusObserver observer;
  int status = 0;
  {
    gaol::serve::Server server(options, observer);
    if (auto s = server.Start(fork_server); !s) {
      fork_server.Stop();
      release_cgroup();
      return Usage(s.error().Message());
    }
    std::string bound = server.BoundAddress();
    if (options.token.empty() && !bound.starts_with("unix:") && !LoopbackHost(bound)) {
      std::fprintf(stderr,
                   "gaol serve: warning: %s is not a loopback address and no --token-file is "
                   "set: anyone who reaches it may run jobs here\n",
                   bound.c_str());
    }
    std::fprintf(stderr, "gaol serve: listening on %s (%u concurrent, queue %u, pool %u%s%s)\n",
                 server.BoundAddress().c_str(), options.max_concurrent, options.max_queue,
                 pool_size, options.token.empty() ? "" : ", token required",
                 adopted ? (", jobs' cgroups in its own " + adopted->path).c_str() : "");
    std::thread http([&] { server.Serve(); });
    int sig = 0;
    sigwait(&stop, &sig);
    std::fprintf(stderr, "gaol serve: %s: draining\n", sigabbrev_np(sig));
    server.Drain();
    http.join();
  }
  fork_server.Stop();
  // The cgroup as it was: whoever starts gaol serve there again (a supervisor other than systemd)
  // can move it in.
  release_cgroup();
  if (listen.starts_with("unix:")) unlink(listen.c_str() + 5);
  std::fprintf(stderr, "gaol serve: stopped\n");
  return status;
}
