// gaol-probe: a static test program that runs inside the sandbox and reports what it sees as one
// compact JSON line on stdout. Shared helpers and the mode entry points live here.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gaol::probe {

using Json = nlohmann::json;

// Every bulk read and write moves at most this much per syscall.
inline constexpr size_t kChunkSize = 64 * 1024;

// An unexpected failure: main() prints {"error": what()} and exits 3.
class ProbeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad command line: main() prints {"error": "usage: ..."} and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The arguments after the mode name.
using Args = std::span<char* const>;

// --- Helpers (util.cc) ---

// "ENOENT" for ENOENT; a made-up "errno_N" for numbers glibc has no name for.
std::string ErrnoName(int err);
// null for 0, else ErrnoName(err).
Json ErrnoOrNull(int err);
// Throws ProbeError("<what>: ENAME (message)") for the current errno.
[[noreturn]] void FailErrno(std::string_view what);

// Writes j.dump() plus a newline to fd 1. Never throws; invalid UTF-8 is replaced.
void Emit(const Json& j) noexcept;

// Writes `total` copies of `ch` to fd in kChunkSize pieces. Returns 0 or the failing errno;
// *written counts the bytes that made it.
int WriteRepeated(int fd, char ch, uint64_t total, uint64_t* written) noexcept;

// The whole file, or nullopt with *err set.
std::optional<std::string> ReadFile(const std::string& path, int* err);
// Lines without their terminators; a trailing newline does not make an empty last line.
std::vector<std::string> SplitLines(std::string_view text);
// Whitespace-separated fields.
std::vector<std::string> SplitFields(std::string_view text);
// Strips leading and trailing whitespace.
std::string Trim(std::string_view text);

// Strict parsers for command-line numbers; they throw UsageError on anything malformed.
uint64_t ParseCount(std::string_view arg);
int ParseExitCode(std::string_view arg);
double ParseSeconds(std::string_view arg);

// nanosleep for `seconds`, resuming after signals. Safe in forked children.
void SleepFor(double seconds) noexcept;
// CLOCK_MONOTONIC in seconds.
double MonotonicNow() noexcept;
// waitpid that retries on EINTR; returns waitpid's result.
pid_t WaitFor(pid_t pid, int* status, int options) noexcept;

// --- Modes: each returns the process exit code ---

int RunReport(Args args);      // report.cc
int RunWrite(Args args);       // file_modes.cc
int RunRead(Args args);        // file_modes.cc
int RunStat(Args args);        // file_modes.cc
int RunSpew(Args args);        // file_modes.cc
int RunSpewStderr(Args args);  // file_modes.cc
int RunExit(Args args);        // process_modes.cc
int RunCrash(Args args);       // process_modes.cc
int RunAbort(Args args);       // process_modes.cc
int RunSleep(Args args);       // process_modes.cc
int RunOrphan(Args args);      // process_modes.cc
int RunSigterm(Args args);     // process_modes.cc
int RunTiocsti(Args args);     // process_modes.cc
int RunFork(Args args);        // process_modes.cc
int RunHog(Args args);         // process_modes.cc
int RunSpin(Args args);        // process_modes.cc

}  // namespace gaol::probe
