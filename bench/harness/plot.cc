#include "bench/harness/plot.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

extern char** environ;

namespace gaol::bench {
namespace {

// gnuplot's strings are in single quotes: a quote inside is doubled.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

Status Gnuplot(const std::string& script) {
  if (access("/usr/bin/gnuplot", X_OK) != 0) {
    return Invalid("--plot", "gnuplot installed (apt-get install gnuplot-nox)");
  }
  char* argv[] = {const_cast<char*>("gnuplot"), const_cast<char*>(script.c_str()), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/usr/bin/gnuplot", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Fail(Step::kCleanup, "run gnuplot on", script, rc);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return Fail(Step::kCleanup, "gnuplot failed on", script, 0);
  }
  return {};
}

Status PrepareDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Fail(Step::kOpenIo, "mkdir", dir);
  return {};
}

// DIR/STEM.svg: the CDF of each row's samples, on a log scale of milliseconds.
Status PlotCdf(const std::string& dir, const std::string& stem, const std::string& title,
               const std::string& xlabel,
               const std::vector<std::pair<std::string, const std::vector<double>*>>& rows) {
  if (auto s = PrepareDir(dir); !s) return s;
  std::string data = dir + "/" + stem + ".dat", script = dir + "/" + stem + ".gp";
  std::ofstream dat(data);
  std::vector<std::string> plots;
  int block = 0;
  for (const auto& [name, samples] : rows) {
    if (samples->empty()) continue;
    std::vector<double> sorted = *samples;
    std::sort(sorted.begin(), sorted.end());
    dat << "# " << name << "\n";
    for (std::size_t i = 0; i < sorted.size(); ++i) {
      dat << fmt::format("{:.6f} {:.6f}\n", sorted[i] * 1e3,
                         static_cast<double>(i + 1) / static_cast<double>(sorted.size()));
    }
    dat << "\n\n";
    plots.push_back(fmt::format("{} index {} using 1:2 with steps lw 2 title {}", Quote(data),
                                block++, Quote(name)));
  }
  dat.close();
  std::ofstream gp(script);
  gp << "set terminal svg size 1100,650 dynamic background '#ffffff' font 'sans,12'\n"
     << "set output " << Quote(dir + "/" + stem + ".svg") << "\n"
     << "set title " << Quote(title) << "\n"
     << "set xlabel " << Quote(xlabel) << "\nset ylabel 'fraction of runs'\n"
     << "set logscale x\nset grid\nset key right bottom\nset yrange [0:1]\n"
     << "plot " << fmt::format("{}", fmt::join(plots, ", \\\n     ")) << "\n";
  gp.close();
  return Gnuplot(script);
}

}  // namespace

Status PlotStart(const StartReport& r, const std::string& dir) {
  std::vector<std::pair<std::string, const std::vector<double>*>> rows;
  for (const auto& row : r.rows) rows.emplace_back(row.name, &row.samples);
  return PlotCdf(dir, "start-latency",
                 fmt::format("Start latency of a no-op job ({} rounds, interleaved; {})", r.rounds,
                             r.host.user),
                 "milliseconds from spawn to exit (log scale)", rows);
}

Status PlotServe(const ServeReport& r, const std::string& dir) {
  std::vector<std::pair<std::string, const std::vector<double>*>> rows;
  for (const auto& row : r.rows) rows.emplace_back(row.name, &row.samples);
  return PlotCdf(dir, "serve-latency",
                 fmt::format("POST /v1/run of a no-op job beside parallel fork+exec ({} rounds of "
                             "{}, interleaved; {})",
                             r.rounds, r.requests, r.host.user),
                 "milliseconds per request (log scale)", rows);
}

Status PlotEnforce(const EnforceReport& r, const std::string& dir) {
  if (auto s = PrepareDir(dir); !s) return s;
  std::string data = dir + "/enforce.dat", script = dir + "/enforce.gp";
  std::ofstream dat(data);
  int n = 0;
  for (const auto& row : r.rows) {
    // The wall-time row is measured against 0 ms: it has no ratio to draw.
    if (!row.skipped.empty() || !(row.asked > 0)) continue;
    // Row names and mechanisms are gaol's own words, without double quotes.
    dat << fmt::format("{} {:.6f} {:.6f} {:.6f} \"{} [{}]\"\n", n++, row.measured.p50 / row.asked,
                       row.measured.min / row.asked, row.measured.max / row.asked, row.name,
                       row.mechanism);
  }
  dat.close();
  std::ofstream gp(script);
  gp << "set terminal svg size 1100,650 dynamic background '#ffffff' font 'sans,12'\n"
     << "set output " << Quote(dir + "/enforce.svg") << "\n"
     << "set title "
     << Quote(fmt::format("Measured / asked, {} runs per limit ({}, cgroup {})", r.repeat,
                          r.host.user, r.host.cgroup_mode))
     << "\n"
     << "set ylabel 'measured / asked (1 = exact)'\nset grid ytics\nset key off\n"
     << "set xtics rotate by -35 left\nset bmargin 12\nset yrange [0:*]\n"
     << "set style fill solid 0.5\nset boxwidth 0.6\n"
     << "plot " << Quote(data)
     << " using 1:2:xtic(5) with boxes, '' using 1:2:3:4 with yerrorbars lc rgb 'black', 1 with "
        "lines dt 2 lc rgb 'red'\n";
  gp.close();
  return Gnuplot(script);
}

}  // namespace gaol::bench
