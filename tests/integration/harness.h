// Runs gaol as a subprocess the way a user would, and reads back what it printed, its exit status
// and its result JSON (over --result-fd 3). The test binary itself runs as an unprivileged uid
// (tests/integration/run-unprivileged.sh).
#pragma once

#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gaol::it {

struct GaolRun {
  int exit_status = -1;  // gaol's own exit status (or 128+N if gaol itself was killed)
  std::string out, err;
  nlohmann::json result;  // null when gaol wrote none
  // The probe's one JSON line on stdout, parsed; null if stdout held none.
  nlohmann::json Probe() const;
};

// Everything `fd` gives until end of file (or an error).
std::string ReadToEnd(int fd);

// Paths of the staged binaries (GAOL_BIN, GAOL_PROBE_DIR from the environment).
const std::string& GaolBin();
const std::string& ProbeDir();  // bind this at /probe to run /probe/gaol-probe inside

// Where the next runs' gaol starts: the cgroup v2 directory its process enters before exec (empty:
// the test's own).
void SetGaolCgroup(const std::string& dir);

// gaol run <flags> -- <command>; `on_output` sees stdout as it arrives and may act (send a
// signal to `pid`); `stdin_data` is fed to gaol's stdin.
GaolRun RunGaol(const std::vector<std::string>& args,
                const std::function<void(pid_t pid, const std::string& out)>& on_output = {});

// As RunGaol, with `tty` (a pseudo-terminal's replica) as gaol's stdin and controlling terminal,
// the way a user's shell starts it.
GaolRun RunGaolOnTty(const std::vector<std::string>& args, int tty);

// As RunGaol, with `fd` (whatever it is) as gaol's stdin.
GaolRun RunGaolWithStdinFd(const std::vector<std::string>& args, int fd);

// gaol run --ro-bind PROBE_DIR /probe <flags> -- /probe/gaol-probe <probe_args>
GaolRun RunProbe(const std::vector<std::string>& flags, const std::vector<std::string>& probe_args);

// What a run may not leave behind: processes of ours running gaol, children of this process, and
// mounts in this mount namespace.
struct Leftovers {
  std::vector<std::string> processes;
  std::vector<std::string> children;
  std::size_t mounts = 0;
  std::size_t fds = 0;
};
Leftovers TakeLeftovers();

// Sets (or, with nullptr, unsets) an environment variable, which the next runs' gaol inherits, for
// the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Whether the binaries under test are the ASan + UBSan build (ci/sanitize sets GAOL_SANITIZED=1):
// their memory figures (RSS) are the sanitizer's, not gaol's, and are checked in the plain run.
bool Sanitized();

std::string MakeTempDir(mode_t mode = 0755);
std::string ReadText(const std::string& path);

// fork + exec of `argv` (PATH searched) with stdin from /dev/null, stdout and stderr on the
// given descriptors (-1: /dev/null) and no other descriptor; returns the child's pid. The child is
// SIGKILLed if the test process dies first.
pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd);
void RemoveTree(const std::string& path);

}  // namespace gaol::it
