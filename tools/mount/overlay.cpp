// Side files of a writable mount (`hexz mount --overlay DIR`), see overlay.hpp.
#include "overlay.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>

#include "hexz/error.hpp"
#include "overlay_meta.hpp"

namespace hexz::mount {
namespace {

/// Largest block size used, whatever st_blksize says (a copy-up reads and writes one block).
constexpr uint64_t kMaxBlock = 16ull << 20;

std::string sys_message(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

/// pread of all of `out` at `offset`; returns 0 or an errno value (EIO for an early end).
int pread_full(int fd, std::span<std::byte> out, uint64_t offset) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

/// pwrite of all of `data` at `offset`; returns 0 or an errno value.
int pwrite_full(int fd, std::span<const std::byte> data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<size_t>(n);
  }
  return 0;
}

/// Reads the snapshot's bytes; returns 0 or EIO.
int read_base(const Snapshot& base, Stream stream, uint64_t offset, std::span<std::byte> out) {
  if (out.empty()) return 0;
  try {
    base.read(stream, offset, out);
  } catch (const std::exception&) {
    return EIO;
  }
  return 0;
}

/// Writes `bytes` to `path` through a synced temporary file renamed into place, then syncs the
/// directory `dir`. Throws kIo.
void write_durably(const std::string& dir, const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(ErrorCode::kIo, sys_message("cannot create '" + tmp + "'", errno));
  int err = pwrite_full(fd, std::as_bytes(std::span(bytes.data(), bytes.size())), 0);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw Error(ErrorCode::kIo, sys_message("cannot write '" + path + "'", err));
  }
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

/// Checks that the file system of `dir` reports the holes of a sparse file (SEEK_DATA), with a
/// probe file created and removed there. Throws kUnsupported or kIo.
void check_reports_holes(const std::string& dir) {
  const std::string probe = dir + "/.hexz-probe." + std::to_string(::getpid());
  const int fd = ::open(probe.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw Error(ErrorCode::kIo,
                sys_message("cannot create files in overlay directory '" + dir + "'", errno));
  }
  ::unlink(probe.c_str());
  bool ok = ::ftruncate(fd, 1 << 20) == 0;
  const int truncate_err = errno;
  const off_t data = ok ? ::lseek(fd, 0, SEEK_DATA) : 0;
  const int seek_err = errno;
  ::close(fd);
  if (!ok) {
    throw Error(
        ErrorCode::kIo,
        sys_message("cannot make a sparse file in overlay directory '" + dir + "'", truncate_err));
  }
  if (data >= 0 || seek_err != ENXIO) {
    throw Error(ErrorCode::kUnsupported,
                "the file system of overlay directory '" + dir +
                    "' does not report the holes of sparse files (SEEK_DATA/SEEK_HOLE); put the "
                    "overlay on ext4, xfs, btrfs or tmpfs");
  }
}

/// The block size of the side file open as `fd`: st_blksize, at least 4096, at most kMaxBlock.
uint64_t block_size_of(int fd) {
  struct stat st = {};
  if (::fstat(fd, &st) != 0 || st.st_blksize <= 0) return 4096;
  return std::clamp<uint64_t>(static_cast<uint64_t>(st.st_blksize), 4096, kMaxBlock);
}

/// Canonical path of `dir`, creating it first if it does not exist (not its parents).
std::string make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    const int err = errno;
    if (err == ENOENT) {
      throw Error(ErrorCode::kNotFound,
                  "cannot create overlay directory '" + dir + "': its parent does not exist");
    }
    throw Error(ErrorCode::kIo, sys_message("cannot create overlay directory '" + dir + "'", err));
  }
  char resolved[PATH_MAX];
  if (::realpath(dir.c_str(), resolved) == nullptr) {
    throw Error(ErrorCode::kIo,
                sys_message("cannot resolve overlay directory '" + dir + "'", errno));
  }
  struct stat st = {};
  if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "overlay '" + dir + "' is not a directory");
  }
  return resolved;
}

}  // namespace

SideFile::SideFile(int fd, std::string path, uint64_t size, uint64_t block_size)
    : fd_(fd), path_(std::move(path)), size_(size), block_size_(block_size) {}

SideFile::~SideFile() {
  if (fd_ >= 0) ::close(fd_);
}

int SideFile::is_hole(uint64_t block_start, bool& hole) const {
  const uint64_t block_end = std::min(block_start + block_size_, size_);
  const off_t data = ::lseek(fd_, static_cast<off_t>(block_start), SEEK_DATA);
  if (data < 0) {
    if (errno != ENXIO) return errno;
    hole = true;  // no data at or after block_start
    return 0;
  }
  hole = static_cast<uint64_t>(data) >= block_end;
  return 0;
}

int SideFile::read(const Snapshot& base, Stream stream, uint64_t offset,
                   std::span<std::byte> out) const {
  std::shared_lock lock(mu_);
  const uint64_t end = offset + out.size();
  uint64_t cursor = offset;
  while (cursor < end) {
    uint64_t data_start = end;
    const off_t data = ::lseek(fd_, static_cast<off_t>(cursor), SEEK_DATA);
    if (data >= 0) {
      data_start = std::min<uint64_t>(static_cast<uint64_t>(data), end);
    } else if (errno != ENXIO) {
      return errno;
    }
    if (data_start > cursor) {  // a hole: the snapshot's bytes
      const int err =
          read_base(base, stream, cursor, out.subspan(cursor - offset, data_start - cursor));
      if (err != 0) return err;
      cursor = data_start;
    }
    if (cursor >= end) break;
    const off_t hole = ::lseek(fd_, static_cast<off_t>(cursor), SEEK_HOLE);
    if (hole < 0) return errno;
    const uint64_t data_end = std::min<uint64_t>(std::max<uint64_t>(hole, cursor + 1), end);
    const int err = pread_full(fd_, out.subspan(cursor - offset, data_end - cursor), cursor);
    if (err != 0) return err;
    cursor = data_end;
  }
  return 0;
}

int SideFile::write(const Snapshot& base, Stream stream, uint64_t offset,
                    std::span<const std::byte> data) {
  if (data.empty()) return 0;
  std::unique_lock lock(mu_);
  const uint64_t end = offset + data.size();
  const uint64_t first = offset / block_size_ * block_size_;
  const uint64_t last = (end - 1) / block_size_ * block_size_;
  const uint64_t last_end = std::min(last + block_size_, size_);
  // The range actually written: widened to whole blocks where a partly written block is a hole.
  uint64_t start = offset;
  uint64_t stop = end;
  const bool head_partial = offset != first;
  const bool tail_partial = end != last_end;
  bool hole = false;
  if (head_partial || (first == last && tail_partial)) {
    if (const int err = is_hole(first, hole); err != 0) return err;
    if (hole) {
      start = first;
      if (first == last) stop = last_end;
    }
  }
  if (first != last && tail_partial) {
    if (const int err = is_hole(last, hole); err != 0) return err;
    if (hole) stop = last_end;
  }
  if (start == offset && stop == end) return pwrite_full(fd_, data, offset);

  // One buffer per FUSE worker thread (writes are serialized, but the workers differ).
  thread_local std::vector<std::byte> buffer;
  const auto n = static_cast<size_t>(stop - start);
  if (buffer.size() < n) buffer.resize(n);
  std::span<std::byte> whole(buffer.data(), n);
  if (const int err = read_base(base, stream, start, whole.first(offset - start)); err != 0) {
    return err;
  }
  std::copy(data.begin(), data.end(), whole.begin() + static_cast<std::ptrdiff_t>(offset - start));
  if (const int err = read_base(base, stream, end, whole.subspan(end - start)); err != 0) {
    return err;
  }
  return pwrite_full(fd_, whole, start);
}

int SideFile::sync(bool datasync) {
  // No lock: fsync runs safely alongside pwrite and pread, and reads need not wait for it.
  const int res = datasync ? ::fdatasync(fd_) : ::fsync(fd_);
  return res == 0 ? 0 : errno;
}

Overlay::~Overlay() {
  for (auto& side : sides) side.reset();
  if (lock_fd >= 0) ::close(lock_fd);
}

std::unique_ptr<Overlay> open_overlay(const std::string& dir, const std::string& mount_point,
                                      const Snapshot& snapshot, const std::string& snapshot_path,
                                      const std::string& identity_hex) {
  auto ov = std::make_unique<Overlay>();
  ov->dir = make_dir(dir);
  if (ov->dir == mount_point || ov->dir.rfind(mount_point + "/", 0) == 0) {
    throw Error(ErrorCode::kInvalidArgument, "overlay directory '" + dir +
                                                 "' is the mount point or lies under it; put it "
                                                 "elsewhere");
  }
  ov->lock_fd = overlay::lock_dir(ov->dir, true);
  if (ov->lock_fd < 0) {
    if (errno == EWOULDBLOCK) {
      throw Error(ErrorCode::kAlreadyExists, "overlay directory '" + dir +
                                                 "' is in use by another mount (unmount it "
                                                 "first)");
    }
    throw Error(ErrorCode::kIo, sys_message("cannot lock overlay directory '" + dir + "'", errno));
  }
  check_reports_holes(ov->dir);

  overlay::OverlayMeta want;
  want.snapshot = snapshot_path;
  want.identity = identity_hex;
  for (int s = 0; s < kStreamCount; ++s) {
    const auto stream = static_cast<Stream>(s);
    if (snapshot.has_stream(stream)) want.sizes[s] = snapshot.size(stream);
  }
  const std::optional<overlay::OverlayMeta> have = overlay::read_meta(ov->dir);
  if (have) {
    if (have->identity != identity_hex) {
      throw Error(ErrorCode::kInvalidArgument,
                  "overlay directory '" + dir + "' holds the writes of another snapshot (" +
                      (have->snapshot.empty() ? "identity " + have->identity.substr(0, 16)
                                              : "'" + have->snapshot + "'") +
                      ", not this one); use another directory");
    }
    for (int s = 0; s < kStreamCount; ++s) {
      if (have->sizes[s] != want.sizes[s]) {
        throw Error(ErrorCode::kInvalidArgument, "overlay directory '" + dir + "' records a " +
                                                     stream_name(static_cast<Stream>(s)) + " of " +
                                                     std::to_string(have->sizes[s]) +
                                                     " bytes, but the snapshot's is " +
                                                     std::to_string(want.sizes[s]));
      }
    }
  }
  if (!have) {
    // A new overlay directory. Its description goes first: a side file without one is refused
    // (it is not known whose writes it holds), a description without side files is not.
    for (const Stream stream : {Stream::kDisk, Stream::kMemory}) {
      const std::string path = ov->dir + "/" + overlay::side_file_name(stream);
      struct stat st = {};
      if (::lstat(path.c_str(), &st) == 0) {
        throw Error(ErrorCode::kInvalidArgument,
                    "'" + path + "' exists but '" + dir + "' has no " + overlay::kMetaName +
                        ": not a hexz overlay directory (remove the file or use another "
                        "directory)");
      }
    }
    write_durably(ov->dir, ov->dir + "/" + overlay::kMetaName, overlay::format_meta(want));
  }
  for (int s = 0; s < kStreamCount; ++s) {
    if (want.sizes[s] == 0 && !snapshot.has_stream(static_cast<Stream>(s))) continue;
    const std::string path = ov->dir + "/" + overlay::side_file_name(static_cast<Stream>(s));
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      struct stat st = {};
      if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
          static_cast<uint64_t>(st.st_size) != want.sizes[s]) {
        ::close(fd);
        throw Error(ErrorCode::kInvalidArgument,
                    "side file '" + path + "' is not a regular file of " +
                        std::to_string(want.sizes[s]) + " bytes (the snapshot's " +
                        stream_name(static_cast<Stream>(s)) +
                        " size); it was changed outside "
                        "hexz");
      }
    } else {
      if (errno != ENOENT) {
        throw Error(ErrorCode::kIo, sys_message("cannot open side file '" + path + "'", errno));
      }
      // First use (or the side file was removed to drop the writes): all holes.
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) {
        throw Error(ErrorCode::kIo, sys_message("cannot create side file '" + path + "'", errno));
      }
      if (::ftruncate(fd, static_cast<off_t>(want.sizes[s])) != 0 || ::fsync(fd) != 0) {
        const int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        throw Error(ErrorCode::kIo, sys_message("cannot size side file '" + path + "'", err));
      }
    }
    ov->sides[s] = std::make_unique<SideFile>(fd, path, want.sizes[s], block_size_of(fd));
  }
  return ov;
}

}  // namespace hexz::mount
