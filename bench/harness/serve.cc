#include "bench/harness/serve.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <barrier>
#include <memory>
#include <regex>
#include <thread>

#include "sandbox/common/unique_fd.h"

extern char** environ;

namespace gaol::bench {
namespace {

using nlohmann::json;

constexpr const char* kJob = R"({"command": ["/bin/true"]})";

std::uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// `gaol serve` as a child on a free loopback port, stopped (SIGTERM, then SIGKILL) when done.
class Server {
 public:
  ~Server() { Stop(); }

  Status Start(const std::vector<std::string>& command) {
    int err[2];
    if (pipe2(err, O_CLOEXEC) != 0) return Fail(Step::kOpenIo, "pipe2", "gaol serve's stderr");
    UniqueFd read_end(err[0]), write_end(err[1]);
    std::vector<char*> argv;
    for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, write_end.Get(), 2);
    int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return Fail(Step::kClone, "start", command[0], rc);
    write_end.Reset();
    // "listening on HOST:PORT ..." within 30 s, or whatever it said before exiting.
    static const std::regex kListening(R"(listening on (\S+):(\d+) )");
    std::string said;
    std::uint64_t deadline = NowNs() + 30'000'000'000ULL;
    while (NowNs() < deadline) {
      pollfd p = {read_end.Get(), POLLIN, 0};
      poll(&p, 1, 200);
      char buf[4096];
      ssize_t n = read(read_end.Get(), buf, sizeof buf);
      if (n > 0) said.append(buf, static_cast<std::size_t>(n));
      std::smatch m;
      if (std::regex_search(said, m, kListening)) {
        host_ = m[1];
        port_ = std::stoi(m[2]);
        err_ = std::move(read_end);  // kept open: a server writing to a closed pipe would fail
        return {};
      }
      if (n == 0) break;
    }
    Stop();
    return Invalid("gaol serve",
                   fmt::format("a server listening on loopback (it said: {})",
                               said.empty() ? "nothing" : said.substr(0, said.find('\n'))));
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      usleep(10'000);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  const std::string& Host() const { return host_; }
  int Port() const { return port_; }

 private:
  pid_t pid_ = -1;
  UniqueFd err_;
  std::string host_;
  int port_ = 0;
};

// One operation of a row, timed by the caller; an error message on failure.
using Operation = std::function<std::string(std::size_t client)>;

std::string PostRun(httplib::Client& client) {
  auto res = client.Post("/v1/run", kJob, "application/json");
  if (!res) return fmt::format("POST /v1/run: {}", httplib::to_string(res.error()));
  if (res->status != 200) return fmt::format("POST /v1/run: HTTP {}: {}", res->status, res->body);
  auto body = json::parse(res->body, nullptr, false);
  if (body.is_discarded() || body.value("status", "") != "ok") {
    return "POST /v1/run: a result other than ok: " + res->body.substr(0, 300);
  }
  return "";
}

std::string ForkExec() {
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/true", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fmt::format("posix_spawn /bin/true: {}", std::strerror(rc));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status == 0 ? "" : fmt::format("/bin/true: wait status {}", status);
}

// `clients` threads, each `requests` operations one after another, released together. Every
// operation's time goes to `samples`; the batch's wall time is returned (0 on a failure, in `err`).
double Batch(unsigned clients, std::size_t requests, const Operation& op,
             std::vector<double>* samples, std::string* err) {
  std::vector<std::vector<double>> times(clients);
  std::vector<std::string> errors(clients);
  std::barrier go(static_cast<std::ptrdiff_t>(clients) + 1);
  std::vector<std::thread> threads;
  for (unsigned c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      go.arrive_and_wait();
      for (std::size_t i = 0; i < requests && errors[c].empty(); ++i) {
        std::uint64_t t0 = NowNs();
        errors[c] = op(c);
        times[c].push_back(static_cast<double>(NowNs() - t0) / 1e9);
      }
    });
  }
  go.arrive_and_wait();
  std::uint64_t t0 = NowNs();
  for (auto& t : threads) t.join();
  double wall = static_cast<double>(NowNs() - t0) / 1e9;
  for (unsigned c = 0; c < clients; ++c) {
    if (!errors[c].empty()) {
      *err = errors[c];
      return 0;
    }
    if (samples) samples->insert(samples->end(), times[c].begin(), times[c].end());
  }
  return wall;
}

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
std::string Ms(double seconds) { return fmt::format("{:.2f}", seconds * 1e3); }
std::string Times(const std::optional<double>& r) { return r ? fmt::format("{:.2f}", *r) : "-"; }

}  // namespace

Result<ServeReport> RunServe(const ServeOptions& o) {
  ServeReport report;
  report.host = DescribeHost();
  report.rounds = o.rounds;
  report.requests = o.requests;
  unsigned most = 1;
  for (unsigned c : o.concurrency) most = std::max(most, c);
  // As many slots as the most clients: a row measures the server's cost per job, not its queue.
  report.server = {
      o.gaol,       "serve",   "--listen", "127.0.0.1:0", "--max-concurrent", std::to_string(most),
      "--work-dir", o.work_dir};
  if (!o.cgroup_parent.empty()) {
    report.server.insert(report.server.end(), {"--cgroup-parent", o.cgroup_parent});
  }
  Server server, cold_server;
  if (auto s = server.Start(report.server); !s) return tl::unexpected(s.error());
  // The same server with its pool off: every job built on its request's path, as before the pool.
  std::vector<std::string> cold_command = report.server;
  cold_command.insert(cold_command.end(), {"--pool", "0"});
  if (auto s = cold_server.Start(cold_command); !s) return tl::unexpected(s.error());
  for (unsigned c : o.concurrency) {
    ServeRow floor;
    floor.name = fmt::format("fork+exec /bin/true, {} at once (floor)", c);
    floor.tool = "floor";
    floor.concurrency = c;
    ServeRow serve;
    serve.name = fmt::format("POST /v1/run /bin/true, {} client{}", c, c == 1 ? "" : "s");
    serve.tool = "serve";
    serve.concurrency = c;
    ServeRow cold = serve;
    cold.name += ", pool disabled";
    cold.tool = "serve-cold";
    report.rows.push_back(std::move(floor));
    report.rows.push_back(std::move(serve));
    report.rows.push_back(std::move(cold));
  }
  // One kept-alive connection per client of each serve row, as a judge's workers hold theirs.
  std::vector<std::vector<std::unique_ptr<httplib::Client>>> clients(report.rows.size());
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    if (report.rows[i].tool == "floor") continue;
    const Server& to = report.rows[i].tool == "serve" ? server : cold_server;
    for (unsigned c = 0; c < report.rows[i].concurrency; ++c) {
      auto client = std::make_unique<httplib::Client>(to.Host(), to.Port());
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);  // else each request waits for a delayed ACK (40 ms)
      client->set_read_timeout(60, 0);
      clients[i].push_back(std::move(client));
    }
  }
  std::vector<double> busy(report.rows.size(), 0);
  std::vector<std::size_t> done(report.rows.size(), 0);
  constexpr std::size_t kWarmup = 1;
  std::size_t total = o.rounds + kWarmup;
  for (std::size_t round = 0; round < total; ++round) {
    for (std::size_t i : RoundOrder(report.rows.size(), round)) {
      ServeRow& row = report.rows[i];
      Operation op = row.tool != "floor"
                         ? Operation([&, i](std::size_t c) { return PostRun(*clients[i][c]); })
                         : Operation([](std::size_t) { return ForkExec(); });
      std::string err;
      bool measured = round >= kWarmup;
      double wall = Batch(row.concurrency, o.requests, op, measured ? &row.samples : nullptr, &err);
      if (!err.empty()) return Invalid(row.name, "every request answered ok (" + err + ")");
      if (measured) {
        busy[i] += wall;
        done[i] += row.concurrency * o.requests;
      }
    }
    if (o.progress) ShowProgress(round + 1, total);
  }
  server.Stop();
  cold_server.Stop();
  for (std::size_t i = 0; i < report.rows.size(); ++i) {
    ServeRow& row = report.rows[i];
    row.seconds = Summarise(row.samples);
    row.per_second = busy[i] > 0 ? static_cast<double>(done[i]) / busy[i] : 0;
  }
  for (ServeRow& row : report.rows) {
    if (row.tool == "floor") continue;
    for (const ServeRow& floor : report.rows) {
      if (floor.tool != "floor" || floor.concurrency != row.concurrency) continue;
      row.ratio_p50 = Ratio(row.seconds.p50, floor.seconds.p50);
      row.ratio_p99 = Ratio(row.seconds.p99, floor.seconds.p99);
      row.ratio_throughput = Ratio(row.per_second, floor.per_second);
    }
  }
  return report;
}

json ToJson(const ServeReport& r) {
  json rows = json::array();
  for (const auto& row : r.rows) {
    rows.push_back({{"name", row.name},
                    {"tool", row.tool},
                    {"concurrency", row.concurrency},
                    {"seconds", ToJson(row.seconds)},
                    {"samples_seconds", row.samples},
                    {"per_second", row.per_second},
                    {"ratio_p50", Optional(row.ratio_p50)},
                    {"ratio_p99", Optional(row.ratio_p99)},
                    {"ratio_throughput", Optional(row.ratio_throughput)},
                    {"skipped", row.skipped.empty() ? json(nullptr) : json(row.skipped)}});
  }
  return {{"schema", kBenchSchema},
          {"kind", "serve"},
          {"host", ToJson(r.host)},
          {"rounds", r.rounds},
          {"requests", r.requests},
          {"server", r.server},
          {"rows", rows}};
}

Result<ServeReport> ServeReportFromJson(const json& j) {
  ServeReport r;
  try {
    if (j.at("schema") != kBenchSchema) return Invalid("report `schema`", kBenchSchema);
    if (j.at("kind") != "serve") return Invalid("report `kind`", "\"serve\"");
    r.host = HostFromJson(j.at("host"));
    r.rounds = j.at("rounds");
    r.requests = j.at("requests");
    r.server = j.at("server").get<std::vector<std::string>>();
    for (const json& row : j.at("rows")) {
      ServeRow out;
      out.name = row.at("name");
      out.tool = row.at("tool");
      out.concurrency = row.at("concurrency");
      out.seconds = SummaryFromJson(row.at("seconds"));
      out.samples = row.value("samples_seconds", std::vector<double>{});
      out.per_second = row.at("per_second");
      for (auto [key, field] : {std::pair{"ratio_p50", &out.ratio_p50},
                                {"ratio_p99", &out.ratio_p99},
                                {"ratio_throughput", &out.ratio_throughput}}) {
        if (!row.at(key).is_null()) *field = row.at(key).get<double>();
      }
      if (!row.at("skipped").is_null()) out.skipped = row.at("skipped");
      r.rows.push_back(std::move(out));
    }
  } catch (const json::exception& e) {
    return Invalid("gaol.bench/v1 report", fmt::format("every field of the schema ({})", e.what()));
  }
  return r;
}

std::string FormatTable(const ServeReport& r) {
  std::string out = fmt::format("{:<50} {:>7} {:>7} {:>7} {:>8} {:>9} {:>9} {:>10}\n",
                                "gaol serve (ms), " + r.host.user, "p50", "p90", "p99", "req/s",
                                "p50/floor", "p99/floor", "rate/floor");
  for (const auto& row : r.rows) {
    const Summary& s = row.seconds;
    out += fmt::format("{:<50} {:>7} {:>7} {:>7} {:>8.0f} {:>9} {:>9} {:>10}\n", row.name,
                       Ms(s.p50), Ms(s.p90), Ms(s.p99), row.per_second, Times(row.ratio_p50),
                       Times(row.ratio_p99), Times(row.ratio_throughput));
  }
  out += fmt::format(
      "{} rounds of {} requests per client, interleaved with the floor; {} CPUs ({}), kernel {}, "
      "cgroup {}\n",
      r.rounds, r.requests, r.host.cpus, r.host.cpu_model, r.host.kernel, r.host.cgroup_mode);
  return out;
}

}  // namespace gaol::bench
