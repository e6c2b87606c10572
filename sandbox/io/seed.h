// A seed: the files a tmpfs of the job starts with. The caller writes them into one memfd; PID 1
// plants them into the fresh tmpfs before the job runs, then hands the tmpfs's root back (gaol
// serve's workdir: the request's files never touch a directory on the host, and what the job
// leaves there is read back through that descriptor, not through any path).
//
// Layout, host byte order: the 8 bytes "GAOLSEED", a u32 count, then per file a u32 path length,
// a u32 mode, a u64 size, the path's bytes and the content's bytes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"

namespace gaol::io {

struct SeedFile {
  std::string_view path;  // relative, without `.` or `..` components (the caller checked it)
  std::uint32_t mode = 0644;
  std::string_view content;
};

// A sealed memfd holding `files`.
Result<UniqueFd> WriteSeed(std::span<const SeedFile> files);

// A sealed, read-only memfd holding `content` (a job's stdin taken from its own files).
Result<UniqueFd> SealedMemfd(const char* name, std::string_view content);

// In PID 1, allocation-free: creates every file of `seed` beneath `root` (parent directories 0755,
// nothing followed out of `root`). 0, or an errno with the path (or what was malformed) in
// `where`.
int PlantSeed(int seed, int root, char* where, std::size_t where_size) noexcept;

}  // namespace gaol::io
