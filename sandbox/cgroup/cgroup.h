// The job's cgroup v2 leaf, in a subtree delegated to the caller: found before planning (parent
// side), created per job and entered atomically by clone3(CLONE_INTO_CGROUP), read for the
// accounting, then killed and removed. Facility module: it never reads the spec.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"

namespace gaol::cgroup {

// A writable cgroup v2 directory the job's leaf can go in.
struct Parent {
  std::string path;
  std::set<std::string> controllers;  // what its children can get
  bool from_flag = false;             // --cgroup-parent, not found by looking
  // gaol is the cgroup's only process: before enabling controllers it moves into a leaf of its
  // own (gaol-launcher-PID), as cgroup v2 allows no processes in a node that gives controllers.
  bool move_self = false;
  std::string note;  // why controllers the cgroup has cannot go to its children, when so
};

// Where the job's leaf can go, or why nowhere.
struct Found {
  std::optional<Parent> parent;
  std::string note;            // without a parent: why systemd gave none, when it was asked
  std::string systemd_scope;   // the transient scope gaol moved into, when it did
  std::uint64_t scope_ns = 0;  // how long asking systemd for it took
};

// In order: --cgroup-parent DIR when given (an error when it is not a writable cgroup v2
// directory); the caller's own cgroup when the caller may create children in it and give them its
// controllers; otherwise, when the user has a systemd bus, a transient scope with Delegate=yes that
// gaol moves into (systemd_scope.h), used like an own cgroup; otherwise the own cgroup as far as
// it serves (accounting, kill), or none.
Result<Found> FindParent(const std::optional<std::string>& flag, bool may_ask_systemd = true);

// gaol serve started as the only process of a cgroup it may write (a service's cgroup with
// systemd's Delegate=yes): it moves into a leaf of its own (gaol-serve-PID) and gives the
// cgroup's controllers to its children, so that every job's leaf goes beside it with each
// controller the service was given. nullopt, with nothing changed, when gaol is not alone there,
// the cgroup is not delegated to it (owned by its uid, not root) or is the root: each job then
// looks for a cgroup as gaol run does. An error, with nothing changed, when a step failed.
struct Adopted {
  std::string path;                  // the cgroup, now the jobs' parent
  std::vector<std::string> enabled;  // the controllers turned on for its children
};
Result<std::optional<Adopted>> AdoptOwnCgroup();
// Undoes AdoptOwnCgroup when the server stops (or could not start): its children's controllers
// off again, gaol back in the cgroup, its leaf removed. Best effort: ReapOrphans removes a leaf
// left.
void ReleaseOwnCgroup(const Adopted& adopted);

struct Usage {
  std::optional<std::uint64_t> usage_usec, user_usec, system_usec;  // cpu.stat (every cgroup)
  std::optional<std::uint64_t> memory_peak_bytes;                   // memory.peak
  std::optional<std::uint64_t> pids_peak;                           // pids.peak
  std::uint64_t oom_kills = 0;                                      // memory.events oom_kill
  std::uint64_t pids_max_hits = 0;                                  // pids.events max
};

// Parses "key value" lines (cpu.stat, memory.events, pids.events).
std::optional<std::uint64_t> FlatKeyedValue(const std::string& text, const std::string& key);

// One leaf per job. Owns the directory: the destructor kills what is left in it
// (cgroup.kill), waits until it is empty and removes it.
class Leaf {
 public:
  // Enables `controllers` in the parent's cgroup.subtree_control (those not yet on), makes the
  // leaf and writes `limits` (file, value) into it.
  static Result<Leaf> Create(const Parent& parent, const std::set<std::string>& controllers,
                             const std::vector<std::pair<std::string, std::string>>& limits);
  // A leaf another process made (a pre-built sandbox handed over): `dir` is its directory.
  static Leaf Adopt(std::string path, UniqueFd dir) {
    Leaf leaf;
    leaf.path_ = std::move(path);
    leaf.dir_ = std::move(dir);
    return leaf;
  }
  Leaf() = default;
  Leaf(Leaf&& other) noexcept = default;
  Leaf& operator=(Leaf&& other) noexcept;
  ~Leaf() { Remove(); }

  // Writes `limits` (file, value) into the leaf (Create does, for a leaf made for its job; a
  // pre-built sandbox's leaf gets its job's when the job comes).
  Status Write(const std::vector<std::pair<std::string, std::string>>& limits) const;
  int DirFd() const { return dir_.Get(); }
  const std::string& Path() const { return path_; }
  // An fd of cpu.stat, for the supervisor's CPU-time checks.
  Result<UniqueFd> OpenCpuStat() const;
  // memory.current, for the supervisor to sample, when the kernel has no memory.peak (before
  // 5.19) but the leaf has the memory controller; otherwise an empty fd.
  UniqueFd OpenMemoryCurrentWithoutPeak() const;
  Usage ReadUsage() const;
  // cgroup.kill, wait for `populated 0`, rmdir. Idempotent.
  Status Remove();

 private:
  friend void ReapOrphans(const Parent& parent);
  std::string path_;
  UniqueFd dir_;
};

// Kills and removes leaves named gaol-job-PID, gaol-launcher-PID and gaol-serve-PID in `parent`
// whose gaol (PID) is gone: what a killed gaol left behind, and the leaf a finished gaol (or
// gaol serve) moved itself into.
void ReapOrphans(const Parent& parent);

// Reads the usage_usec of an open cpu.stat.
std::optional<std::uint64_t> ReadUsageUsec(int cpu_stat_fd);

}  // namespace gaol::cgroup
