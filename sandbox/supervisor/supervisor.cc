#include "sandbox/supervisor/supervisor.h"

#include <liburing.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "sandbox/cgroup/cgroup.h"
#include "sandbox/common/fd_passing.h"
#include "sandbox/common/syscalls.h"
#include "sandbox/common/unique_fd.h"

namespace gaol {
namespace {

enum Source : std::uint64_t {
  kPid,
  kStdout,
  kStderr,
  kReport,
  kSignal,
  kWallDeadline,
  kDrainDeadline,
  kCpuCheck,
  kMemorySample,
  kSeccompNotify,
  kCancel,
  kStopDeadline,
  kStdoutWritten,
  kStderrWritten,
};

// Kernels before 5.19 have no memory.peak: memory.current is sampled this often instead.
constexpr long kMemorySampleNs = 10'000'000;

// After PID 1 exits, its pid namespace is gone and the pipes reach EOF at once; this bounds the
// wait when the pid namespace is shared and a straggler still holds a pipe.
constexpr long kDrainNs = 500'000'000;

class Loop {
 public:
  explicit Loop(const SuperviseRequest& request) : req_(request) {}
  ~Loop() {
    if (ready_) io_uring_queue_exit(&ring_);
  }

  Result<SuperviseOutcome> Run();

 private:
  // The job's output reaches its destination through io_uring writes, never a blocking write():
  // a caller that reads slowly (or not at all) delays only the job's next read, never a limit.
  // While a chunk is being written, the stream's one buffer is in flight and not read into.
  struct Stream {
    int fd = -1;
    int dest = -1;
    bool open = false;
    std::uint64_t* counted = nullptr;
    int* write_errno = nullptr;  // the first write error, which stops the copying
    Source read_tag = kStdout, write_tag = kStdoutWritten;
    std::size_t pending = 0, written = 0;  // the chunk being written, and how much of it is out
    std::array<char, 64 * 1024> buf;

    void Open(int from, int to, std::uint64_t* count, int* error, Source read, Source write) {
      fd = from;
      dest = to;
      open = true;
      counted = count;
      write_errno = error;
      read_tag = read;
      write_tag = write;
    }
  };

  io_uring_sqe* Sqe();
  void Read(Source source, int fd, void* buf, unsigned len);
  void ArmDeadline(Source source, __kernel_timespec* ts, unsigned flags);
  void OnOutput(Stream& stream, int res);
  void OnWritten(Stream& stream, int res);
  void WriteRest(Stream& stream);
  void OnReport(int res);
  std::size_t Count(std::size_t n);
  void Kill();
  void CheckCpu();
  void SampleMemory();
  void ReadReport();
  UniqueFd TakeDescriptor();
  void WatchListener(UniqueFd fd);
  void OnSeccompNotify(int res);
  void Dispatch(Source source, int res);
  // PID 1's kExit is the end: it has reaped every process of the job, and what remains is its own
  // exit and the namespaces' teardown, which the caller waits for (or not) after the verdict.
  bool Ended() const { return exited_ || exit_reported_; }
  bool Done() const {
    return Ended() && !out_.open && !err_.open && (exit_reported_ || !report_open_);
  }
  bool Writing() const { return out_.pending > 0 || err_.pending > 0; }
  // The first of PID 1's kExit and its exit: the time, and the bound on the output's drain.
  void MarkEnded();

  const SuperviseRequest& req_;
  io_uring ring_;
  bool ready_ = false;
  Stream out_, err_;
  ChildReport incoming_;
  iovec report_iov_ = {};
  msghdr report_msg_ = {};
  alignas(cmsghdr) char report_control_[CMSG_SPACE(sizeof(int))] = {};
  UniqueFd listener_;  // the job's seccomp listener, once PID 1 has passed it
  bool report_open_ = false;
  bool exited_ = false;
  bool exit_reported_ = false;
  bool killed_ = false;
  bool stop_armed_ = false;
  __kernel_timespec stop_ts_ = {};
  bool drained_ = false;
  std::uint64_t deadline_ns_ = 0;
  signalfd_siginfo siginfo_;
  __kernel_timespec wall_ts_ = {}, drain_ts_ = {}, cpu_ts_ = {}, memory_ts_ = {0, kMemorySampleNs};
  SuperviseOutcome outcome_;
};

io_uring_sqe* Loop::Sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void Loop::Read(Source source, int fd, void* buf, unsigned len) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_read(sqe, fd, buf, len, static_cast<__u64>(-1));
  io_uring_sqe_set_data64(sqe, source);
}

void Loop::ArmDeadline(Source source, __kernel_timespec* ts, unsigned flags) {
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_timeout(sqe, ts, 0, flags);
  io_uring_sqe_set_data64(sqe, source);
}

void Loop::MarkEnded() {
  if (Ended()) return;
  outcome_.exit_ns = MonotonicNs();
  drain_ts_.tv_nsec = kDrainNs;
  ArmDeadline(kDrainDeadline, &drain_ts_, 0);
}

void Loop::Kill() {
  if (killed_ || Ended()) return;
  killed_ = true;
  // SIGKILL to a pid namespace's init takes every process of the namespace with it.
  PidfdSendSignal(req_.pidfd, SIGKILL);
}

// How much of `n` fresh bytes the output cap lets through (both streams together); reaching the
// cap kills the sandbox.
std::size_t Loop::Count(std::size_t n) {
  std::uint64_t total = outcome_.stdout_bytes + outcome_.stderr_bytes;
  if (outcome_.output_exceeded) return 0;
  if (req_.output_limit_bytes && total + n > *req_.output_limit_bytes) {
    n = static_cast<std::size_t>(*req_.output_limit_bytes - total);
    outcome_.output_exceeded = true;
    Kill();
  }
  return n;
}

void Loop::WriteRest(Stream& stream) {
  io_uring_sqe* sqe = Sqe();
  // Offset -1: the file's own position, as write() would use (a --stdout file is O_TRUNC'd).
  io_uring_prep_write(sqe, stream.dest, stream.buf.data() + stream.written,
                      static_cast<unsigned>(stream.pending - stream.written),
                      static_cast<__u64>(-1));
  io_uring_sqe_set_data64(sqe, stream.write_tag);
}

void Loop::OnOutput(Stream& stream, int res) {
  if (res == -EINTR || res == -EAGAIN) {
    Read(stream.read_tag, stream.fd, stream.buf.data(), stream.buf.size());
    return;
  }
  if (res <= 0) {
    stream.open = false;
    return;
  }
  std::size_t n = Count(static_cast<std::size_t>(res));
  *stream.counted += n;
  if (n > 0 && stream.dest >= 0) {
    stream.pending = n;
    stream.written = 0;
    WriteRest(stream);  // the next read waits for this write
    return;
  }
  Read(stream.read_tag, stream.fd, stream.buf.data(), stream.buf.size());
}

void Loop::OnWritten(Stream& stream, int res) {
  if (res == -EINTR || res == -EAGAIN) return WriteRest(stream);
  if (res <= 0) {
    // Never silent: the result carries the error (ENOSPC, EPIPE, EIO). The output goes on being
    // read and counted, so the job is not blocked by a destination that failed.
    if (stream.write_errno && *stream.write_errno == 0) *stream.write_errno = res < 0 ? -res : EIO;
    stream.dest = -1;
  } else {
    stream.written += static_cast<std::size_t>(res);
    if (stream.written < stream.pending) return WriteRest(stream);
  }
  stream.pending = stream.written = 0;
  if (stream.open) Read(stream.read_tag, stream.fd, stream.buf.data(), stream.buf.size());
}

void Loop::OnReport(int res) {
  if (res == -EINTR || res == -EAGAIN) {
    ReadReport();
    return;
  }
  if (res != static_cast<int>(sizeof(incoming_))) {
    report_open_ = false;  // EOF (or a torn record, which a writer below PIPE_BUF cannot make)
    return;
  }
  // A descriptor rides only on these two records; any other record's is closed unread.
  UniqueFd passed = TakeDescriptor();
  if (incoming_.kind == ChildReport::kListener) {
    WatchListener(std::move(passed));
    ReadReport();
    return;
  }
  if (incoming_.kind == ChildReport::kSeeded) {
    outcome_.seeded_root = std::move(passed);
    ReadReport();
    return;
  }
  outcome_.reports.push_back(incoming_);
  if (incoming_.kind == ChildReport::kExit) {
    MarkEnded();
    exit_reported_ = true;
    return;  // nothing follows kExit
  }
  if (incoming_.kind == ChildReport::kReady && req_.wall_time_limit_seconds) {
    // The wall clock starts at the job's execve, not at gaol's own set-up.
    deadline_ns_ = incoming_.exec_ns +
                   static_cast<std::uint64_t>(std::llround(*req_.wall_time_limit_seconds * 1e9));
    wall_ts_.tv_sec = static_cast<long long>(deadline_ns_ / 1'000'000'000ULL);
    wall_ts_.tv_nsec = static_cast<long long>(deadline_ns_ % 1'000'000'000ULL);
    ArmDeadline(kWallDeadline, &wall_ts_, IORING_TIMEOUT_ABS);
  }
  if (incoming_.kind == ChildReport::kReady && req_.time_limit_seconds && req_.cpu_stat_fd >= 0) {
    CheckCpu();
  }
  if (incoming_.kind == ChildReport::kReady && req_.memory_current_fd >= 0) SampleMemory();
  ReadReport();
}

// Reports come with recvmsg: PID 1's kListener and kSeeded records carry a descriptor.
void Loop::ReadReport() {
  report_iov_ = {&incoming_, sizeof(incoming_)};
  report_msg_ = {};
  report_msg_.msg_iov = &report_iov_;
  report_msg_.msg_iovlen = 1;
  report_msg_.msg_control = report_control_;
  report_msg_.msg_controllen = sizeof(report_control_);
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_recvmsg(sqe, req_.report_r, &report_msg_, MSG_CMSG_CLOEXEC);
  io_uring_sqe_set_data64(sqe, kReport);
}

UniqueFd Loop::TakeDescriptor() {
  int fd = -1;
  return UniqueFd(TakeFds(report_msg_, &fd, 1) == 1 ? fd : -1);
}

void Loop::WatchListener(UniqueFd fd) {
  listener_ = std::move(fd);
  if (!listener_) return;
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_poll_add(sqe, listener_.Get(), POLLIN);
  io_uring_sqe_set_data64(sqe, kSeccompNotify);
}

// A thread of the job made a call the profile kills for; it waits in the kernel for our answer,
// which is the end of the job. The pid is in our own namespace's numbering.
void Loop::OnSeccompNotify(int res) {
  if (res < 0 || !(res & POLLIN)) return;  // POLLHUP: every process of the job is gone
  seccomp_notif n = {};
  if (ioctl(listener_.Get(), SECCOMP_IOCTL_NOTIF_RECV, &n) == 0) {
    if (!outcome_.seccomp_violation && !killed_ && !Ended()) {
      outcome_.seccomp_violation = SuperviseOutcome::SeccompViolation{n.data.arch, n.data.nr};
    }
    if (n.pid > 0 && ioctl(listener_.Get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &n.id) == 0) {
      kill(static_cast<pid_t>(n.pid), SIGKILL);
    }
    Kill();
  }
  io_uring_sqe* sqe = Sqe();
  io_uring_prep_poll_add(sqe, listener_.Get(), POLLIN);
  io_uring_sqe_set_data64(sqe, kSeccompNotify);
}

// CPU time accrues at most `cpus` seconds per wall second: waiting (limit - used) / cpus cannot
// miss the limit by more than the last wait, which shrinks to 1 ms near the limit.
void Loop::CheckCpu() {
  if (Ended() || killed_) return;
  auto used = cgroup::ReadUsageUsec(req_.cpu_stat_fd);
  auto limit = static_cast<std::uint64_t>(std::llround(*req_.time_limit_seconds * 1e6));
  if (used && *used >= limit) {
    outcome_.time_exceeded = true;
    outcome_.time_at_kill_usec = *used;
    Kill();
    return;
  }
  std::uint64_t left_usec = used ? limit - *used : 1000;
  std::uint64_t wait_ns =
      std::clamp<std::uint64_t>(left_usec * 1000 / req_.cpus, 1'000'000, 100'000'000);
  cpu_ts_.tv_sec = 0;
  cpu_ts_.tv_nsec = static_cast<long long>(wait_ns);
  ArmDeadline(kCpuCheck, &cpu_ts_, 0);
}

void Loop::SampleMemory() {
  if (Ended()) return;
  char buf[32];
  ssize_t n = pread(req_.memory_current_fd, buf, sizeof(buf) - 1, 0);
  if (n > 0) {
    buf[n] = 0;
    std::uint64_t now = std::strtoull(buf, nullptr, 10);
    outcome_.memory_sampled_peak = std::max(outcome_.memory_sampled_peak.value_or(0), now);
  }
  ArmDeadline(kMemorySample, &memory_ts_, 0);
}

// One completion: what it means and what to queue next.
void Loop::Dispatch(Source source, int res) {
  switch (source) {
    case kPid:
      MarkEnded();
      exited_ = true;
      break;
    case kStdout:
      OnOutput(out_, res);
      break;
    case kStderr:
      OnOutput(err_, res);
      break;
    case kStdoutWritten:
      OnWritten(out_, res);
      break;
    case kStderrWritten:
      OnWritten(err_, res);
      break;
    case kReport:
      OnReport(res);
      break;
    case kSignal:
      if (res == static_cast<int>(sizeof(siginfo_)) && !Ended()) {
        // PID 1 passes it on to every process of the sandbox. The job gets a grace period to
        // end, from the first stop signal on; then the sandbox is killed.
        PidfdSendSignal(req_.pidfd, static_cast<int>(siginfo_.ssi_signo));
        if (!stop_armed_) {
          stop_armed_ = true;
          auto ns = static_cast<long long>(req_.stop_timeout_seconds * 1e9);
          stop_ts_.tv_sec = ns / 1'000'000'000;
          stop_ts_.tv_nsec = ns % 1'000'000'000;
          ArmDeadline(kStopDeadline, &stop_ts_, 0);
        }
      }
      if (res > 0 || res == -EINTR) Read(kSignal, req_.signal_fd, &siginfo_, sizeof(siginfo_));
      break;
    case kWallDeadline:
      if (res == -ETIME && !Ended()) {
        outcome_.wall_time_exceeded = true;
        outcome_.kill_latency_ns = MonotonicNs() - deadline_ns_;
        Kill();
      }
      break;
    case kCpuCheck:
      if (res == -ETIME) CheckCpu();
      break;
    case kMemorySample:
      if (res == -ETIME) SampleMemory();
      break;
    case kSeccompNotify:
      OnSeccompNotify(res);
      break;
    case kDrainDeadline:
      if (res == -ETIME) drained_ = true;
      break;
    case kStopDeadline:
      if (res == -ETIME && !Ended()) {
        outcome_.stop_escalated = true;
        Kill();
      }
      break;
    case kCancel:
      // Readable or hung up: whoever holds the other end (gaol serve) wants the job gone.
      if (res > 0 && !Ended()) {
        outcome_.cancelled = true;
        Kill();
      }
      break;
  }
}

Result<SuperviseOutcome> Loop::Run() {
  int rc = io_uring_queue_init(16, &ring_, 0);
  if (rc < 0)
    return Fail(Step::kSupervise, "io_uring_queue_init (is kernel.io_uring_disabled set?)",
                "16 entries", -rc);
  ready_ = true;
  out_.Open(req_.stdout_r, req_.stdout_dest, &outcome_.stdout_bytes, &outcome_.stdout_errno,
            kStdout, kStdoutWritten);
  err_.Open(req_.stderr_r, req_.stderr_dest, &outcome_.stderr_bytes, &outcome_.stderr_errno,
            kStderr, kStderrWritten);
  report_open_ = true;
  io_uring_sqe* poll = Sqe();
  io_uring_prep_poll_add(poll, req_.pidfd, POLLIN);
  io_uring_sqe_set_data64(poll, kPid);
  Read(kStdout, out_.fd, out_.buf.data(), out_.buf.size());
  Read(kStderr, err_.fd, err_.buf.data(), err_.buf.size());
  ReadReport();
  if (req_.signal_fd >= 0) Read(kSignal, req_.signal_fd, &siginfo_, sizeof(siginfo_));
  if (req_.cancel_fd >= 0) {
    io_uring_sqe* cancel = Sqe();
    io_uring_prep_poll_add(cancel, req_.cancel_fd, POLLIN);
    io_uring_sqe_set_data64(cancel, kCancel);
  }
  // Output already read is delivered before the loop ends (as a blocking write would have); a
  // write in flight also pins its buffer.
  while (Writing() || (!Done() && !drained_)) {
    io_uring_submit(&ring_);
    io_uring_cqe* cqe;
    rc = io_uring_wait_cqe(&ring_, &cqe);
    if (rc == -EINTR) continue;
    if (rc < 0) return Fail(Step::kSupervise, "io_uring_wait_cqe", "", -rc);
    auto source = static_cast<Source>(io_uring_cqe_get_data64(cqe));
    int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    Dispatch(source, res);
  }
  return std::move(outcome_);
}

}  // namespace

Result<SuperviseOutcome> Supervise(const SuperviseRequest& request) {
  Loop loop(request);
  return loop.Run();
}

}  // namespace gaol
