// Descriptors gaol opens on the host and hands to the job. A host directory (or a socket, or a
// device) reaching the job as fd 0, 1 or 2 is a way out of its root: `/proc/self/fd/0/../..`
// walks the host's tree (runc's CVE-2024-21626 class). Every such descriptor is checked here
// after it is opened, by what it is, never by the name it was opened under.
#pragma once

#include <sys/stat.h>

#include <string>

#include "sandbox/common/error.h"
#include "sandbox/common/unique_fd.h"

namespace gaol::io {

// What a job's stdin, stdout or stderr may be: a regular file, a pipe, a terminal or /dev/null.
// `what` names the flag or field ("--stdin"), `object` the path ("" for an inherited fd).
Status CheckJobStdio(int fd, const char* what, const std::string& object);

// Why `st` is refused as a job's stdio ("a directory"), or nullptr when it is allowed. `is_tty`:
// whether the descriptor is a terminal (isatty), which a stat cannot tell. Allocates nothing:
// PID 1 makes the same check between clone and exec (CheckFdsInChild).
const char* RefusedStdioKind(const struct stat& st, bool is_tty) noexcept;

// openat2(dir, path) that never leaves `dir` (RESOLVE_BENEATH) nor follows a magic link, and,
// unless `symlinks`, follows no symlink at all (O_NOFOLLOW too); always O_CLOEXEC, and O_NOCTTY
// but with O_PATH. An invalid descriptor (errno set) when refused.
UniqueFd OpenBeneath(int dir, const std::string& path, int flags, mode_t mode = 0,
                     bool symlinks = false);

// Opens `path` beneath `dir` without following any symlink or magic link and without leaving
// it (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), never blocking on
// a FIFO (O_NONBLOCK, cleared again once the descriptor is known to be a regular file), and
// requires a regular file. `what` names the field for the error.
Result<UniqueFd> OpenRegularBeneath(int dir, const std::string& path, int flags, const char* what,
                                    mode_t mode = 0);

}  // namespace gaol::io
