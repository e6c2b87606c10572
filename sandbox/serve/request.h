// What `gaol serve` accepts: a JobSpec JSON (the struct `--spec` reads) with two more keys, the
// files to place in the job's working directory and the ones to collect from it afterwards, both
// inline. The operator's policy (--limits-file) fills in defaults, caps every limit and decides
// which host-touching fields a request may use at all.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/common/error.h"
#include "sandbox/spec/job_spec.h"

namespace gaol::serve {

struct InlineFile {
  std::string path;     // relative to the job's working directory
  std::string content;  // decoded bytes
  std::uint32_t mode = 0644;
};

struct RunRequest {
  JobSpec spec;
  std::vector<InlineFile> files;
  std::vector<std::string> collect;       // relative paths read back after the run
  std::uint64_t collect_limit_bytes = 0;  // per collected file, from the policy
  std::string work_root;  // the server's directory for job directories (set by the server)
  std::string job_name;   // this job's directory beneath it (set by the server, which removes it
                          // itself when the runner dies)
  // For each bind mount of the spec, in order: the allowed directory it lies beneath. The runner
  // opens the source beneath it, once, and hands the sandbox that descriptor.
  std::vector<std::string> bind_roots;
  // The workdir is a tmpfs of the job's own: when the request places or collects files, and when
  // it names no workdir (then /work). A workdir the request names without files is the root's own.
  bool workdir_tmpfs = false;
};

// The operator's rules. Without a limits file: the built-in ones below.
struct Policy {
  nlohmann::json defaults = nlohmann::json::object();  // JobSpec fields a request may omit
  // Ceilings on the spec's limits (same names as its "limits" object) and on the inline data.
  std::map<std::string, double> ceilings;
  std::uint64_t files_bytes = 16 << 20;    // all inline files of a request together
  std::uint64_t collect_bytes = 16 << 20;  // each collected file (and stdout, stderr)
  std::vector<std::string> bind_sources;   // host directories a request may bind (and beneath)
  bool network_host = false;
  bool capabilities = false;
  bool share = false;               // share a namespace with the server
  bool seccomp_unconfined = false;  // "unconfined" or a profile file instead of a built-in
  bool landlock_off = false;        // security.landlock false
  bool chroot = false;              // chroot instead of pivot_root
  bool map_users = false;           // map_users / map_groups: subordinate ids through newuidmap
  bool swap = false;                // limits.memory_swap_bytes
  bool cpu_weight = false;          // limits.cpu_weight
  bool cpuset = false;              // limits.cpuset_cpus
  bool devices = false;             // limits.devices (io.max on host block devices)
  bool apparmor = false;            // security.apparmor: switch to an admin-loaded profile

  static Policy BuiltIn();
};

// The spec fields serve classifies (JSON paths: "limits.pids", "security.seccomp"); any other is
// refused. For the test that every field of SpecToJson is classified.
std::vector<std::string_view> SpecFieldGates();

// A limits file (gaol.limits/v1), read strictly: an unknown key names itself.
Result<Policy> PolicyFromJson(const nlohmann::json& json);
Result<Policy> LoadPolicy(const std::string& path);

// The request body to a RunRequest, or the error (Step::kValidate) naming the field: 400.
Result<RunRequest> ParseRunRequest(const std::string& body, const Policy& policy);

// Between the server and the job's runner (a memfd): the checked request, nothing left to decide.
nlohmann::json RequestToJson(const RunRequest& request);
Result<RunRequest> RequestFromJson(const nlohmann::json& json);

// Bytes as JSON: {"content": text} when UTF-8, else {"content": base64, "encoding": "base64"}.
nlohmann::json BytesToJson(const std::string& bytes);
std::string Base64Encode(const std::string& bytes);
std::optional<std::string> Base64Decode(const std::string& text);

}  // namespace gaol::serve
