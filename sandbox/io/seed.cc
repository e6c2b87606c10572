#include "sandbox/io/seed.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace gaol::io {
namespace {

constexpr char kMagic[8] = {'G', 'A', 'O', 'L', 'S', 'E', 'E', 'D'};
constexpr std::size_t kMaxPath = 4095;

struct Entry {
  std::uint32_t path_len;
  std::uint32_t mode;
  std::uint64_t size;
};

bool Append(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool ReadAt(int fd, void* data, std::size_t size, off_t at) noexcept {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    ssize_t n = pread(fd, p, size, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EINVAL;
      return false;
    }
    p += n;
    size -= static_cast<std::size_t>(n);
    at += n;
  }
  return true;
}

int OpenUnder(int root, const char* path, int flags, mode_t mode) noexcept {
  open_how how = {};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC | O_NOFOLLOW);
  how.mode = flags & O_CREAT ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  return static_cast<int>(syscall(SYS_openat2, root, path, &how, sizeof how));
}

// Relative, and no component empty, `.` or `..` (openat2 would refuse a way out anyway).
bool PlainRelative(const char* path) noexcept {
  for (const char* p = path;;) {
    const char* end = std::strchr(p, '/');
    std::size_t n = end ? static_cast<std::size_t>(end - p) : std::strlen(p);
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return false;
    if (!end) return true;
    p = end + 1;
  }
}

// mkdir -p of the directories `path` lies in, each beneath the previous one.
int MakeParents(int root, char* path) noexcept {
  for (char* slash = std::strchr(path, '/'); slash; slash = std::strchr(slash + 1, '/')) {
    *slash = '\0';
    int dir = OpenUnder(root, path, O_PATH | O_DIRECTORY, 0);
    if (dir < 0 && errno == ENOENT) {
      // The parent was itself just made or checked beneath root: mkdirat follows no link in a
      // tmpfs that holds only what this function made.
      if (mkdirat(root, path, 0755) != 0 && errno != EEXIST) {
        *slash = '/';
        return errno;
      }
      dir = OpenUnder(root, path, O_PATH | O_DIRECTORY, 0);
    }
    int err = errno;
    *slash = '/';
    if (dir < 0) return err;
    close(dir);
  }
  return 0;
}

// The content at `*at` into `fd`: sendfile, or read and write where it is refused.
int CopyContent(int seed, off_t* at, std::uint64_t size, int fd) noexcept {
  while (size > 0) {
    ssize_t n = sendfile(fd, seed, at, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EINVAL || errno == ENOSYS)) break;
    if (n < 0) return errno;
    if (n == 0) return EINVAL;  // the seed ends early
    size -= static_cast<std::uint64_t>(n);
  }
  char buf[4096];
  while (size > 0) {
    std::size_t chunk = size < sizeof buf ? static_cast<std::size_t>(size) : sizeof buf;
    if (!ReadAt(seed, buf, chunk, *at)) return errno;
    const char* p = buf;
    std::size_t left = chunk;
    while (left > 0) {
      ssize_t n = write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n < 0 ? errno : EIO;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    *at += static_cast<off_t>(chunk);
    size -= chunk;
  }
  return 0;
}

}  // namespace

Result<UniqueFd> WriteSeed(std::span<const SeedFile> files) {
  UniqueFd fd(memfd_create("gaol-seed", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return Fail(Step::kOpenIo, "memfd_create", "gaol-seed");
  auto count = static_cast<std::uint32_t>(files.size());
  bool ok = Append(fd.Get(), kMagic, sizeof kMagic) && Append(fd.Get(), &count, sizeof count);
  for (const SeedFile& f : files) {
    if (!ok) break;
    if (f.path.empty() || f.path.size() > kMaxPath) {
      return Invalid(fmt::format("file `{}`", f.path), "a path of 1 to 4095 bytes");
    }
    Entry e = {static_cast<std::uint32_t>(f.path.size()), f.mode, f.content.size()};
    ok = Append(fd.Get(), &e, sizeof e) && Append(fd.Get(), f.path.data(), f.path.size()) &&
         Append(fd.Get(), f.content.data(), f.content.size());
  }
  if (!ok) return Fail(Step::kOpenIo, "write", "gaol-seed");
  if (fcntl(fd.Get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return Fail(Step::kOpenIo, "seal", "gaol-seed");
  return fd;
}

Result<UniqueFd> SealedMemfd(const char* name, std::string_view content) {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) return Fail(Step::kOpenIo, "memfd_create", name);
  if (!Append(fd.Get(), content.data(), content.size()) || lseek(fd.Get(), 0, SEEK_SET) != 0)
    return Fail(Step::kOpenIo, "write", name);
  if (fcntl(fd.Get(), F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0)
    return Fail(Step::kOpenIo, "seal", name);
  // Read-only from here: the job gets a descriptor it cannot write through even where the seals
  // would allow it (reopened through /proc, as O_RDONLY).
  UniqueFd ro(open(fmt::format("/proc/self/fd/{}", fd.Get()).c_str(), O_RDONLY | O_CLOEXEC));
  if (!ro) return Fail(Step::kOpenIo, "reopen read-only", name);
  return ro;
}

int PlantSeed(int seed, int root, char* where, std::size_t where_size) noexcept {
  char magic[sizeof kMagic];
  std::uint32_t count = 0;
  off_t at = 0;
  std::snprintf(where, where_size, "the seed's header");
  if (!ReadAt(seed, magic, sizeof magic, at) ||
      !ReadAt(seed, &count, sizeof count, at + static_cast<off_t>(sizeof magic))) {
    return errno;
  }
  if (std::memcmp(magic, kMagic, sizeof kMagic) != 0) return EINVAL;
  at += static_cast<off_t>(sizeof magic + sizeof count);
  char path[kMaxPath + 1];
  for (std::uint32_t i = 0; i < count; ++i) {
    Entry e = {};
    std::snprintf(where, where_size, "entry %u of the seed", i);
    if (!ReadAt(seed, &e, sizeof e, at)) return errno;
    at += static_cast<off_t>(sizeof e);
    if (e.path_len == 0 || e.path_len > kMaxPath || e.mode > 07777) return EINVAL;
    if (!ReadAt(seed, path, e.path_len, at)) return errno;
    at += e.path_len;
    path[e.path_len] = '\0';
    std::snprintf(where, where_size, "%s", path);
    if (!PlainRelative(path)) return EINVAL;
    if (int err = MakeParents(root, path); err != 0) return err;
    int fd = OpenUnder(root, path, O_WRONLY | O_CREAT | O_EXCL, e.mode & 0777);
    if (fd < 0) return errno;
    int err = CopyContent(seed, &at, e.size, fd);
    // The umask must not take bits the caller asked for, and a set-id bit is kept only as asked.
    if (err == 0 && fchmod(fd, e.mode) != 0) err = errno;
    close(fd);
    if (err != 0) return err;
  }
  return 0;
}

}  // namespace gaol::io
