#include "sandbox/serve/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "sandbox/common/unique_fd.h"
#include "sandbox/io/job_fds.h"
#include "sandbox/io/remove_tree.h"
#include "sandbox/io/seed.h"
#include "sandbox/run.h"
#include "sandbox/serve/request.h"

namespace gaol::serve {
namespace {

using nlohmann::json;

constexpr std::uint64_t kCollectTotalFactor = 4;

bool WriteAll(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::string ReadFd(int fd, std::uint64_t limit, bool* truncated) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > limit) {
      out.resize(limit);
      if (truncated) *truncated = true;
      break;
    }
  }
  return out;
}

// Each bind source opened once, beneath the directory the operator allowed it under: a symlink
// in the path may lead anywhere beneath that directory, never out of it (RESOLVE_BENEATH), and a
// source swapped after the server's check is still held to it.
Result<std::vector<UniqueFd>> OpenBindSources(const RunRequest& request) {
  std::vector<UniqueFd> out;
  std::size_t k = 0;
  for (const MountSpec& m : request.spec.mounts) {
    if (m.type != MountType::kBind) continue;
    if (k >= request.bind_roots.size())
      return Invalid("runner request `bind_roots`", "one directory per bind mount");
    const std::string& root = request.bind_roots[k++];
    UniqueFd dir(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return Fail(Step::kOpenIo, "open the allowed bind directory", root);
    std::string rel = m.source == root ? "." : m.source.substr(root == "/" ? 1 : root.size() + 1);
    UniqueFd fd = io::OpenBeneath(dir.Get(), rel, O_PATH, 0, /*symlinks=*/true);
    if (!fd) {
      return Fail(Step::kOpenIo, fmt::format("open bind source beneath `{}`", root), m.source);
    }
    out.push_back(std::move(fd));
  }
  return out;
}

// A path the job had its hands on: never followed out of the job directory, never blocking on a
// FIFO, read only when it is a regular file. `*budget`: what the whole response may still take.
json Collect(int work, const std::string& path, std::uint64_t limit, std::uint64_t* budget) {
  auto fd = io::OpenRegularBeneath(work, path, O_RDONLY, "collect");
  if (!fd) {
    const Error& e = fd.error();
    return {{"error", e.err != 0 ? std::strerror(e.err) : "not a regular file"}};
  }
  struct stat st = {};
  fstat(fd->Get(), &st);
  bool truncated = false;
  std::string bytes = ReadFd(fd->Get(), std::min(limit, *budget), &truncated);
  *budget -= bytes.size();
  json out = BytesToJson(bytes);
  out["bytes"] = st.st_size;
  out["truncated"] = truncated;
  return out;
}

json Captured(const std::string& path, std::uint64_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  bool truncated = false;
  std::string bytes = fd ? ReadFd(fd.Get(), limit, &truncated) : "";
  json out = BytesToJson(bytes);
  out["truncated"] = truncated;
  return out;
}

json SetupError(const Error& e) {
  RunResult r;
  r.status = RunStatus::kSetupError;
  r.error = e;
  return ResultToJson(r);
}

json RunRequested(RunRequest& request, const std::string& dir, int cancel_fd) {
  JobSpec& spec = request.spec;
  auto sources = OpenBindSources(request);
  if (!sources) return SetupError(sources.error());
  CallerStdio stdio{0, 1, 2, cancel_fd};
  std::size_t k = 0;
  for (const MountSpec& m : spec.mounts) {
    if (m.type == MountType::kBind) stdio.bind_fds.emplace_back(m.target, (*sources)[k++].Get());
  }
  // The workdir is a tmpfs of the job's own mount namespace, filled from a seed by PID 1: nothing
  // the request sends or the job writes lies on a tree of the host, so even a descriptor of it
  // leads nowhere but that tmpfs (`..` of a mount's root stays in the job's namespace). Its pages
  // count against the job's memory, and it holds at most the memory limit.
  bool inline_io = !request.files.empty() || !request.collect.empty();
  UniqueFd seed, workdir;
  if (inline_io) {
    std::vector<io::SeedFile> files;
    for (const auto& f : request.files) files.push_back({f.path, f.mode, f.content});
    auto written = io::WriteSeed(files);
    if (!written) return SetupError(written.error());
    seed = std::move(*written);
    spec.mounts.push_back({MountType::kTmpfs, "", spec.workdir, false, spec.limits.memory_bytes});
    stdio.seed = CallerStdio::Seed{spec.workdir, seed.Get(), &workdir};
  }
  // stdin names one of the request's files: its content as a sealed, read-only memfd (a regular
  // file, never a path opened again).
  UniqueFd stdin_fd;
  if (spec.stdin_path) {
    auto f = std::find_if(request.files.begin(), request.files.end(),
                          [&](const InlineFile& file) { return file.path == *spec.stdin_path; });
    if (f == request.files.end())
      return SetupError(
          Invalid("spec field `stdin`", "the path of one of the request's `files`").value());
    auto in = io::SealedMemfd("gaol-stdin", f->content);
    if (!in) return SetupError(in.error());
    stdin_fd = std::move(*in);
    spec.stdin_path = std::string(1, '-');  // as a literal, g++ 12 warns -Wrestrict (bug 105329)
  }
  spec.stdout_path = dir + "/stdout";
  spec.stderr_path = dir + "/stderr";
  if (stdin_fd) stdio.in = stdin_fd.Get();
  RunResult result = RunJob(spec, stdio);
  json out = ResultToJson(result);
  out["stdout"] = Captured(*spec.stdout_path, request.collect_limit_bytes);
  out["stderr"] = Captured(*spec.stderr_path, request.collect_limit_bytes);
  if (!request.collect.empty()) {
    json files = json::object();
    // One job's collected files together stay within kCollectTotalFactor files' worth: twenty
    // hard links to one large file must not make a response (and the server's memory) twenty
    // times its size.
    std::uint64_t budget = request.collect_limit_bytes * kCollectTotalFactor;
    for (const auto& path : request.collect) {
      files[path] = workdir ? Collect(workdir.Get(), path, request.collect_limit_bytes, &budget)
                            : json{{"error", "the sandbox never made its workdir"}};
    }
    out["files"] = std::move(files);
  }
  return out;
}

}  // namespace

int RunnerMain(int request_fd, int result_fd, int cancel_fd) {
  std::string text;
  if (lseek(request_fd, 0, SEEK_SET) == 0) text = ReadFd(request_fd, 1ULL << 40, nullptr);
  close(request_fd);
  json value = json::parse(text, nullptr, false);
  auto request = value.is_discarded() ? Invalid("runner request", "JSON") : RequestFromJson(value);
  json out;
  if (!request) {
    out = SetupError(request.error());
  } else {
    std::string dir = request->work_root + "/" + request->job_name;
    if (mkdir(dir.c_str(), 0700) != 0) {
      out = SetupError(Fail(Step::kOpenIo, "mkdir", dir).value());
    } else {
      out = RunRequested(*request, dir, cancel_fd);
      UniqueFd root(open(request->work_root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (root) io::RemoveTreeAt(root.Get(), request->job_name);
    }
  }
  bool ok = WriteAll(result_fd, out.dump());
  close(result_fd);
  return ok ? 0 : 1;
}

}  // namespace gaol::serve
