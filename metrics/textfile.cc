#include "metrics/textfile.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <prometheus/gateway.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <map>
#include <regex>
#include <sstream>
#include <vector>

#include "sandbox/common/unique_fd.h"

namespace gaol::metrics {
namespace {

struct Family {
  std::string help, type;
  std::vector<std::string> order;        // series as they first appeared
  std::map<std::string, double> values;  // series ("name{labels}") -> value
};

struct Exposition {
  std::vector<std::string> order;
  std::map<std::string, Family> families;
};

// The family a sample belongs to: histograms' _bucket/_sum/_count samples belong to their base.
std::string FamilyOf(const std::string& name, const Exposition& e) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string_view s(suffix);
    if (name.size() > s.size() && name.ends_with(s)) {
      std::string base = name.substr(0, name.size() - s.size());
      auto it = e.families.find(base);
      if (it != e.families.end() &&
          (it->second.type == "histogram" || it->second.type == "summary"))
        return base;
    }
  }
  return name;
}

Family& Declare(Exposition& e, const std::string& name) {
  auto [it, added] = e.families.try_emplace(name);
  if (added) e.order.push_back(name);
  return it->second;
}

Result<double> ParseValue(const std::string& text, int line) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return Invalid(fmt::format("metrics textfile line {}", line), "a sample value");
  }
  return v;
}

Result<Exposition> Parse(const std::string& text) {
  Exposition e;
  std::istringstream in(text);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      auto rest = line.substr(7);
      auto space = rest.find(' ');
      std::string name = rest.substr(0, space);
      std::string value = space == std::string::npos ? "" : rest.substr(space + 1);
      Family& f = Declare(e, name);
      (line[2] == 'H' ? f.help : f.type) = value;
      continue;
    }
    if (line[0] == '#') continue;
    // "name{labels} value [timestamp]": labels may hold spaces inside quotes, so split after '}'.
    auto close = line.rfind('}');
    auto space = line.find(' ', close == std::string::npos ? 0 : close);
    if (space == std::string::npos) {
      return Invalid(fmt::format("metrics textfile line {}", n), "`NAME VALUE`");
    }
    std::string series = line.substr(0, space);
    std::string value_text = line.substr(space + 1);
    value_text = value_text.substr(0, value_text.find(' '));  // a timestamp is dropped
    auto value = ParseValue(value_text, n);
    if (!value) return tl::unexpected(value.error());
    std::string name = series.substr(0, series.find('{'));
    Family& f = Declare(e, FamilyOf(name, e));
    if (f.values.try_emplace(series, *value).second) f.order.push_back(series);
  }
  return e;
}

std::string Render(const Exposition& e) {
  std::string out;
  for (const auto& name : e.order) {
    const Family& f = e.families.at(name);
    if (!f.help.empty()) out += fmt::format("# HELP {} {}\n", name, f.help);
    if (!f.type.empty()) out += fmt::format("# TYPE {} {}\n", name, f.type);
    for (const auto& series : f.order) {
      double v = f.values.at(series);
      if (std::isinf(v)) {
        out += fmt::format("{} {}\n", series, v > 0 ? "+Inf" : "-Inf");
      } else if (std::isnan(v)) {
        out += fmt::format("{} NaN\n", series);
      } else {
        out += fmt::format("{} {}\n", series, v);
      }
    }
  }
  return out;
}

Result<std::string> ReadAll(int fd) {
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Step::kCleanup, "read", "the metrics textfile");
    if (n == 0) return text;
    text.append(buf, static_cast<std::size_t>(n));
  }
}

Status WriteAll(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(Step::kCleanup, "write", path);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::string> MergeExpositions(const std::string& existing, const std::string& current) {
  auto old = Parse(existing);
  if (!old) return tl::unexpected(old.error());
  auto now = Parse(current);
  if (!now) return tl::unexpected(now.error());
  for (const auto& name : now->order) {
    const Family& add = now->families.at(name);
    Family& into = Declare(*old, name);
    if (into.help.empty()) into.help = add.help;
    if (into.type.empty()) into.type = add.type;
    bool gauge = add.type == "gauge" || add.type == "untyped" || add.type.empty();
    for (const auto& series : add.order) {
      auto [it, added] = into.values.try_emplace(series, add.values.at(series));
      if (added) {
        into.order.push_back(series);
      } else {
        it->second = gauge ? add.values.at(series) : it->second + add.values.at(series);
      }
    }
  }
  return Render(*old);
}

Status PushToGateway(const std::string& url, const std::string& job,
                     const std::shared_ptr<prometheus::Registry>& registry) {
  static const std::regex kUrl(R"(^(https?://[^/:]+|https?://\[[^\]]+\]):([0-9]+)/?$)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) {
    return Invalid(fmt::format("--metrics-push `{}`", url), "http://HOST:PORT");
  }
  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);
  try {
    prometheus::Gateway gateway(m[1], m[2], job, {{"instance", hostname}});
    gateway.RegisterCollectable(registry);
    int code = gateway.PushAdd();
    if (code < 200 || code >= 300) {
      return Fail(Step::kCleanup, fmt::format("push to {}", url),
                  code < 0 ? "no connection" : fmt::format("HTTP {}", code), 0);
    }
  } catch (const std::exception& e) {
    return Fail(Step::kCleanup, fmt::format("push to {}", url), e.what(), 0);
  }
  return {};
}

Status MergeIntoTextfile(const std::string& path, const std::string& exposition) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) return Fail(Step::kCleanup, "open the directory of", path);
  // The lock is on the directory, which outlives every rename of the file in it.
  while (flock(dir_fd.Get(), LOCK_EX) != 0) {
    if (errno != EINTR) return Fail(Step::kCleanup, "flock", dir);
  }
  std::string existing;
  UniqueFd old(openat(dir_fd.Get(), base.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (old) {
    auto text = ReadAll(old.Get());
    if (!text) return tl::unexpected(text.error());
    existing = std::move(*text);
  } else if (errno != ENOENT) {
    return Fail(Step::kCleanup, "open", path);
  }
  auto merged = MergeExpositions(existing, exposition);
  if (!merged) {
    return tl::unexpected(std::move(merged.error()).With(path));
  }
  // node_exporter reads *.prom only: the temporary name does not end so.
  std::string tmp = fmt::format(".{}.{}.tmp", base, getpid());
  UniqueFd out(openat(dir_fd.Get(), tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) return Fail(Step::kCleanup, "create", dir + "/" + tmp);
  auto written = WriteAll(out.Get(), *merged, path);
  if (written && fsync(out.Get()) != 0) written = Fail(Step::kCleanup, "fsync", path);
  if (written && renameat(dir_fd.Get(), tmp.c_str(), dir_fd.Get(), base.c_str()) != 0) {
    written = Fail(Step::kCleanup, "rename", path);
  }
  if (!written) unlinkat(dir_fd.Get(), tmp.c_str(), 0);
  return written;
}

}  // namespace gaol::metrics
