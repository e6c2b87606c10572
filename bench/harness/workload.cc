#include "bench/harness/workload.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace gaol::bench {
namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int Hog(unsigned long long bytes) {
  constexpr std::size_t kStep = 1 << 20;
  std::vector<char*> blocks;
  for (unsigned long long done = 0; done < bytes; done += kStep) {
    char* p = static_cast<char*>(std::malloc(kStep));
    if (!p) return 1;  // RLIMIT_AS refused it
    std::memset(p, 1, kStep);
    blocks.push_back(p);
  }
  return 0;
}

int Fork(long n) {
  long forked = 0;
  for (; forked < n; ++forked) {
    pid_t pid = fork();
    if (pid < 0) break;
    if (pid == 0) {
      pause();
      _exit(0);
    }
  }
  std::printf("%ld\n", forked);
  std::fflush(stdout);
  return 0;  // PID 1's exit takes the children (a pid namespace of their own)
}

int Spin(double seconds) {
  volatile unsigned long x = 0;
  double end = Now() + seconds;
  while (Now() < end) {
    for (int i = 0; i < 100000; ++i) x = x + static_cast<unsigned long>(i);
  }
  return 0;
}

int Write(unsigned long long bytes) {
  std::string chunk(65536, 'x');
  for (unsigned long long done = 0; done < bytes; done += chunk.size()) {
    if (write(1, chunk.data(), chunk.size()) < 0) return 1;
  }
  return 0;
}

}  // namespace

int WorkloadMain(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: gaol-bench workload hog|fork|spin|sleep|write ARG\n");
    return 2;
  }
  std::string kind = argv[2];
  const char* arg = argv[3];
  if (kind == "hog") return Hog(std::strtoull(arg, nullptr, 10));
  if (kind == "fork") return Fork(std::strtol(arg, nullptr, 10));
  if (kind == "spin") return Spin(std::strtod(arg, nullptr));
  if (kind == "sleep") {
    double s = std::strtod(arg, nullptr);
    timespec ts = {static_cast<time_t>(s), static_cast<long>((s - static_cast<long>(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return 0;
  }
  if (kind == "write") return Write(std::strtoull(arg, nullptr, 10));
  std::fprintf(stderr, "gaol-bench workload: unknown kind `%s`\n", kind.c_str());
  return 2;
}

}  // namespace gaol::bench
