#include "sandbox/serve/runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>

#include "sandbox/common/fd_passing.h"
#include "sandbox/common/unique_fd.h"
#include "sandbox/io/job_fds.h"
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

// What the job wrote to a stream, from the memfd the supervisor copied it into.
json Captured(int memfd, std::uint64_t limit) {
  bool truncated = false;
  std::string bytes = lseek(memfd, 0, SEEK_SET) == 0 ? ReadFd(memfd, limit, &truncated) : "";
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

// The spec a request runs as: its workdir a tmpfs of the job's own where the request says so
// (seeded when it has files), so that a job with files and one without have one sandbox shape.
void ShapeSpec(RunRequest& request) {
  JobSpec& spec = request.spec;
  if (request.workdir_tmpfs)
    spec.mounts.push_back({MountType::kTmpfs, "", spec.workdir, false, spec.limits.memory_bytes});
}

// What a request's job reads and writes, around its run: the output memfds, the workdir's seed
// and root, stdin's memfd, the bind sources.
struct RequestIo {
  std::vector<UniqueFd> sources;
  UniqueFd out, err, seed, workdir, stdin_fd;
  CallerStdio stdio;
};

Result<std::unique_ptr<RequestIo>> OpenRequestIo(RunRequest& request, int cancel_fd) {
  JobSpec& spec = request.spec;
  auto io = std::make_unique<RequestIo>();
  auto sources = OpenBindSources(request);
  if (!sources) return tl::unexpected(sources.error());
  io->sources = std::move(*sources);
  // The job's output, as the supervisor passes it on (within the output limit), lands in memfds of
  // this process's own: no file on a host tree, nothing to remove afterwards.
  io->out.Reset(static_cast<int>(syscall(SYS_memfd_create, "gaol-stdout", MFD_CLOEXEC)));
  io->err.Reset(static_cast<int>(syscall(SYS_memfd_create, "gaol-stderr", MFD_CLOEXEC)));
  if (!io->out || !io->err) return Fail(Step::kOpenIo, "memfd_create", "output");
  CallerStdio& stdio = io->stdio;
  stdio = CallerStdio{0, io->out.Get(), io->err.Get(), cancel_fd};
  // The answer goes out once PID 1 reported the end; its exit, in which the kernel tears the
  // namespaces down, is waited for after (RunnerMain), off the answer's path.
  stdio.wait_for_teardown = false;
  std::size_t k = 0;
  for (const MountSpec& m : spec.mounts) {
    if (m.type == MountType::kBind) stdio.bind_fds.emplace_back(m.target, io->sources[k++].Get());
  }
  // The workdir is a tmpfs of the job's own mount namespace, filled from a seed by PID 1: nothing
  // the request sends or the job writes lies on a tree of the host, so even a descriptor of it
  // leads nowhere but that tmpfs (`..` of a mount's root stays in the job's namespace). Its pages
  // count against the job's memory, and it holds at most the memory limit.
  bool inline_io = !request.files.empty() || !request.collect.empty();
  ShapeSpec(request);
  if (inline_io) {
    std::vector<io::SeedFile> files;
    for (const auto& f : request.files) files.push_back({f.path, f.mode, f.content});
    auto written = io::WriteSeed(files);
    if (!written) return tl::unexpected(written.error());
    io->seed = std::move(*written);
    stdio.seed = CallerStdio::Seed{spec.workdir, io->seed.Get(), &io->workdir};
  }
  // stdin names one of the request's files: its content as a sealed, read-only memfd (a regular
  // file, never a path opened again).
  if (spec.stdin_path) {
    auto f = std::find_if(request.files.begin(), request.files.end(),
                          [&](const InlineFile& file) { return file.path == *spec.stdin_path; });
    if (f == request.files.end())
      return Invalid("spec field `stdin`", "the path of one of the request's `files`");
    auto in = io::SealedMemfd("gaol-stdin", f->content);
    if (!in) return tl::unexpected(in.error());
    io->stdin_fd = std::move(*in);
    spec.stdin_path = std::string(1, '-');  // as a literal, g++ 12 warns -Wrestrict (bug 105329)
  }
  spec.stdout_path.reset();
  spec.stderr_path.reset();
  if (io->stdin_fd) stdio.in = io->stdin_fd.Get();
  return io;
}

// The answer: the result, the job's output and the files it was asked to leave.
json Answer(const RunRequest& request, RequestIo& io, const RunResult& ran) {
  json out = ResultToJson(ran);
  out["stdout"] = Captured(io.out.Get(), request.collect_limit_bytes);
  out["stderr"] = Captured(io.err.Get(), request.collect_limit_bytes);
  if (!request.collect.empty()) {
    json files = json::object();
    // One job's collected files together stay within kCollectTotalFactor files' worth: twenty
    // hard links to one large file must not make a response (and the server's memory) twenty
    // times its size.
    std::uint64_t budget = request.collect_limit_bytes * kCollectTotalFactor;
    for (const auto& path : request.collect) {
      files[path] = io.workdir
                        ? Collect(io.workdir.Get(), path, request.collect_limit_bytes, &budget)
                        : json{{"error", "the sandbox never made its workdir"}};
    }
    out["files"] = std::move(files);
  }
  return out;
}

json RunRequested(RunRequest& request, int cancel_fd, WarmSandboxPtr warm, const char* no_warm) {
  auto io = OpenRequestIo(request, cancel_fd);
  if (!io) return SetupError(io.error());
  std::optional<RunResult> ran;
  if (warm) ran = RunWarm(*warm, request.spec, (*io)->stdio);
  if (!ran) {
    if (warm) no_warm = "shape";
    warm.reset();  // its namespaces and PID 1 gone before the cold build
    ran = RunJob(request.spec, (*io)->stdio);
  }
  json out = Answer(request, **io, *ran);
  out["pool"] =
      ran->prebuilt_build_seconds ? json{{"hit", true}} : json{{"hit", false}, {"reason", no_warm}};
  return out;
}

}  // namespace

int RunnerMain(int request_fd, int result_fd, int cancel_fd, WarmSandboxPtr warm,
               const char* no_warm) {
  std::string text;
  if (lseek(request_fd, 0, SEEK_SET) == 0) text = ReadFd(request_fd, 1ULL << 40, nullptr);
  close(request_fd);
  json value = json::parse(text, nullptr, false);
  auto request = value.is_discarded() ? Invalid("runner request", "JSON") : RequestFromJson(value);
  json out;
  if (!request) {
    out = SetupError(request.error());
  } else {
    // Nothing a job brings may end its runner without a result (an exception is a bug, but a
    // lost result would be a worse one).
    try {
      out = RunRequested(*request, cancel_fd, std::move(warm), no_warm);
    } catch (const std::exception& e) {
      out = SetupError(
          Error{Step::kSupervise, 0, std::string("the runner failed: ") + e.what(), {}, {}});
    }
  }
  bool ok = WriteAll(result_fd, out.dump());
  close(result_fd);
  // The sandbox's PID 1, released at its exit report: this runner ends only once it is gone, so
  // that a runner's end (which the server and the fork server watch) means its sandbox's end.
  while (waitpid(-1, nullptr, 0) > 0 || errno == EINTR) {
  }
  return ok ? 0 : 1;
}

std::optional<json> RunOnWarm(RunRequest& request, WarmSandbox& sandbox, int cancel_fd) {
  JobSpec as_sent = request.spec;
  auto io = OpenRequestIo(request, cancel_fd);
  if (!io) return SetupError(io.error());
  (*io)->stdio.forward_signals = false;  // the server's own: it drains on them
  std::optional<RunResult> ran;
  try {
    ran = RunWarm(sandbox, request.spec, (*io)->stdio);
  } catch (const std::exception& e) {
    return SetupError(
        Error{Step::kSupervise, 0, std::string("the server failed: ") + e.what(), {}, {}});
  }
  if (!ran) {
    request.spec = std::move(as_sent);  // as the request came, for its cold start
    return std::nullopt;
  }
  json out = Answer(request, **io, *ran);
  out["pool"] = json{{"hit", true}};
  return out;
}

JobSpec PoolShape(const RunRequest& shape) {
  RunRequest request = shape;
  ShapeSpec(request);
  return request.spec;
}

int PoolRunnerMain(int sock, const std::string& shape) {
  WarmSandboxPtr warm;
  json value = json::parse(shape, nullptr, false);
  auto request =
      value.is_discarded() ? Invalid("the pool's shape", "JSON") : RequestFromJson(value);
  // The fork server hears how the build went: 'k' and the sandbox's handover (WarmHandover,
  // with its descriptors), or 'f' and the error, which it prints (for the first few failures
  // only) and after which it drops this runner.
  std::string failure;
  if (request) {
    ShapeSpec(*request);
    try {
      auto built = BuildWarmSandbox(request->spec, /*prime=*/false);
      if (built) {
        warm = std::move(*built);
      } else {
        failure = built.error().Message();
      }
    } catch (const std::exception& e) {
      failure = std::string(e.what());
    }
  } else {
    failure = request.error().Message();
  }
  // Built as 'f' then appended: g++ 12 -O3's -Wrestrict misfires on "f" + text, and on
  // assigning a short literal.
  auto refuse = [&](const std::string& why) {
    std::string said(1, 'f');
    said += why;
    (void)!send(sock, said.data(), std::min<std::size_t>(said.size(), 4096), MSG_NOSIGNAL);
    return 0;
  };
  if (!warm) return refuse(failure);
  std::vector<int> fds;
  auto handover = DescribeForHandover(*warm, &fds);
  if (!handover) return refuse(handover.error().Message());
  std::string message(1, 'k');
  message.append(reinterpret_cast<const char*>(&*handover), sizeof *handover);
  if (!SendWithFds(sock, message.data(), message.size(), fds.data(), fds.size())) return 0;
  // The server holds the only ends of PID 1's channels now (EOF on the sync channel: it
  // discarded the sandbox, and PID 1 ends).
  ForgetHandedOver(*warm);
  // 't': the server took it. EOF: the fork server dropped this runner (the server is ending, or
  // the pool shrank); the sandbox goes unused. A PID 1 that dies meanwhile (its prepared job
  // process killed, say) ends this runner too, so that the pool loses the sandbox at once
  // rather than at the job that takes it.
  char word = 0;
  ssize_t n = -1;
  pollfd polled[2] = {{sock, POLLIN, 0}, {WarmSandboxPidFd(*warm), POLLIN, 0}};
  while (poll(polled, 2, -1) >= 0 || errno == EINTR) {
    if (polled[1].revents != 0 && polled[0].revents == 0) break;
    if (polled[0].revents == 0) continue;
    do {
      n = recv(sock, &word, 1, 0);
    } while (n < 0 && errno == EINTR);
    break;
  }
  close(sock);
  if (n != 1 || word != 't') return 0;
  // This process stays PID 1's parent (its parent-death signal) until the server is done with
  // the sandbox (its lease hangs up: the job's figures read, the leaf removed) or dies, which
  // leaves nothing to enforce the job's limits: PID 1 is killed then, and the leaf removed here.
  AwaitHandedOver(*warm);
  return 0;
}

}  // namespace gaol::serve
