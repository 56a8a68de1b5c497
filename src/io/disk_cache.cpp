#include "io/disk_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

#include "hash/checksum.hpp"
#include "hexz/error.hpp"
#include "hexz/types.hpp"

namespace hexz::io {

namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// Flags for every open of a name inside the cache directory: never through a link.
constexpr int kNoFollow = O_NOFOLLOW | O_CLOEXEC;

/// True if `st` is a directory owned by this user that nobody else may write to.
bool is_own_private_dir(const struct stat& st) {
  return S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/// Opens directory `name` inside `dirfd` without following a link; -1 unless it is a directory
/// of this user's that nobody else may write to.
int open_private_subdir(int dirfd, const char* name) {
  const int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | kNoFollow);
  if (fd < 0) return -1;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !is_own_private_dir(st)) {
    ::close(fd);
    errno = EACCES;
    return -1;
  }
  return fd;
}

/// Creates (mode 0700) if needed and opens the cache directory `dir`, refusing one that another
/// user owns or could write to. Throws hexz::Error.
int open_cache_root(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error(ErrorCode::kIo,
                "cannot create cache directory '" + dir + "': " + std::strerror(errno));
  }
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(ErrorCode::kIo,
                "cannot open cache directory '" + dir + "': " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot stat cache directory '" + dir + "': " + std::strerror(err));
  }
  std::string problem;
  if (st.st_uid != ::geteuid()) {
    problem = "is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
              std::to_string(::geteuid()) + ")";
  } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problem = std::string("is writable by ") +
              ((st.st_mode & S_IWOTH) != 0 ? "others" : "its group") + " (mode " + mode + ")";
  }
  if (!problem.empty()) {
    ::close(fd);
    throw Error(ErrorCode::kInvalidArgument,
                "cache directory '" + dir + "' " + problem +
                    "; refusing it, since another user could plant links or pieces in it (use "
                    "a directory of your own that only you can write to, e.g. chmod go-w)");
  }
  return fd;
}

/// The XXH3-64 trailer of a piece file, little-endian.
std::array<unsigned char, DiskCache::kTrailerSize> trailer_of(std::span<const std::byte> bytes) {
  const uint64_t h = hash::checksum64(bytes.data(), bytes.size());
  std::array<unsigned char, DiskCache::kTrailerSize> t{};
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<unsigned char>(h >> (8 * i));
  return t;
}

/// Reads exactly out.size() bytes at `offset` of `fd`; false on an error or a short file.
bool pread_all(int fd, std::span<std::byte> out, uint64_t offset) {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r =
        ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

/// Writes all of `bytes` to `fd`; false on an error.
bool write_all(int fd, std::span<const std::byte> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// The name of an object directory: 16 lowercase hex digits.
bool is_object_dir(std::string_view s) {
  return s.size() == 16 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// The name of a piece being written: "<piece>.tmp.<pid>.<n>".
bool is_temp_piece(std::string_view s) {
  const size_t at = s.find(".tmp.");
  return at != std::string_view::npos && all_digits(s.substr(0, at));
}

/// Temporary files older than this were left by a writer that died.
constexpr int64_t kStaleTempNs = int64_t(3600) * 1000000000;

int64_t mtime_ns(const struct stat& st) {
  return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Piece {
  int64_t mtime;
  uint64_t bytes;
  std::string dir;   ///< Object directory name.
  std::string file;  ///< Piece file name.
};

/// Lists the pieces under the cache directory `root_fd` (object directories of this user's and
/// their piece files, nothing else, never through links) into `pieces` and the object
/// directories into `dirs`; returns the bytes of pieces (without trailers) and of temporary
/// files. With `remove_stale`, temporary files older than kStaleTempNs are removed (and not
/// counted).
uint64_t scan(int root_fd, bool remove_stale, std::vector<Piece>* pieces,
              std::vector<std::string>* dirs) {
  uint64_t total = 0;
  const int top_fd = ::openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top_fd < 0) return 0;
  DIR* top = ::fdopendir(top_fd);
  if (top == nullptr) {
    ::close(top_fd);
    return 0;
  }
  const int64_t now = now_ns();
  while (const dirent* e = ::readdir(top)) {
    if (!is_object_dir(e->d_name)) continue;
    const int sub_fd = open_private_subdir(root_fd, e->d_name);
    if (sub_fd < 0) continue;
    DIR* d = ::fdopendir(sub_fd);
    if (d == nullptr) {
      ::close(sub_fd);
      continue;
    }
    if (dirs != nullptr) dirs->push_back(e->d_name);
    while (const dirent* f = ::readdir(d)) {
      const std::string_view fname = f->d_name;
      const bool piece = all_digits(fname);
      const bool temp = !piece && is_temp_piece(fname);
      if (!piece && !temp) continue;
      struct stat st {};
      if (::fstatat(sub_fd, f->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        continue;
      if (temp && remove_stale && now - mtime_ns(st) > kStaleTempNs) {
        ::unlinkat(sub_fd, f->d_name, 0);
        continue;
      }
      uint64_t bytes = static_cast<uint64_t>(st.st_size);
      if (piece) bytes -= std::min(bytes, DiskCache::kTrailerSize);
      total += bytes;
      if (piece && pieces != nullptr) {
        pieces->push_back({mtime_ns(st), bytes, e->d_name, f->d_name});
      }
    }
    ::closedir(d);  // closes sub_fd
  }
  ::closedir(top);
  return total;
}

}  // namespace

DiskCache::DiskCache(const std::string& dir, const std::string& name, const std::string& etag,
                     uint64_t object_size, uint64_t budget_bytes)
    : root_fd_(open_cache_root(dir)),
      size_(object_size),
      budget_(budget_bytes),
      scan_every_(std::max(kPieceSize, budget_bytes / 16)) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(
                    fnv1a(name + "\n" + etag + "\n" + std::to_string(object_size))));
  object_ = hex;
  const int fd = open_object_dir(true);
  if (fd >= 0) ::close(fd);
  if (budget_ != 0) evict();
}

DiskCache::~DiskCache() {
  ::close(root_fd_);
}

int DiskCache::open_object_dir(bool create) const {
  int fd = open_private_subdir(root_fd_, object_.c_str());
  if (fd < 0 && create && errno == ENOENT) {
    // New, or removed by an eviction that found it empty.
    ::mkdirat(root_fd_, object_.c_str(), 0700);
    fd = open_private_subdir(root_fd_, object_.c_str());
  }
  return fd;
}

bool DiskCache::evict() const {
  const int lock = ::openat(root_fd_, ".lock", O_RDWR | O_CREAT | kNoFollow, 0600);
  if (lock < 0) return false;
  if (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock);
    return false;  // another process (or thread) is evicting
  }
  written_since_scan_.store(0);
  std::vector<Piece> pieces;
  std::vector<std::string> dirs;
  uint64_t total = scan(root_fd_, true, &pieces, &dirs);
  if (budget_ != 0 && total > budget_) {
    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
      if (a.mtime != b.mtime) return a.mtime < b.mtime;
      return a.dir != b.dir ? a.dir < b.dir : a.file < b.file;
    });
    const uint64_t target = budget_ - budget_ / 8;
    int dir_fd = -1;
    std::string dir_name;
    for (const Piece& p : pieces) {
      if (total <= target) break;
      if (p.dir != dir_name) {
        if (dir_fd >= 0) ::close(dir_fd);
        dir_fd = open_private_subdir(root_fd_, p.dir.c_str());
        dir_name = p.dir;
      }
      if (dir_fd < 0) continue;
      if (::unlinkat(dir_fd, p.file.c_str(), 0) == 0 || errno == ENOENT)
        total -= std::min(total, p.bytes);
    }
    if (dir_fd >= 0) ::close(dir_fd);
    // Object directories left empty go too (rmdir refuses the others). A writer that finds
    // its directory gone creates it again.
    for (const std::string& d : dirs) ::unlinkat(root_fd_, d.c_str(), AT_REMOVEDIR);
  }
  ::close(lock);  // releases the lock
  return true;
}

uint64_t DiskCache::usage() const {
  return scan(root_fd_, false, nullptr, nullptr);
}

uint64_t DiskCache::piece_length(uint64_t index) const {
  const uint64_t start = index * kPieceSize;
  return start >= size_ ? 0 : std::min(kPieceSize, size_ - start);
}

bool DiskCache::get(uint64_t index, uint64_t offset_in_piece, std::span<std::byte> out) const {
  const uint64_t length = piece_length(index);
  if (length == 0 || offset_in_piece > length || out.size() > length - offset_in_piece)
    return false;
  const int dir_fd = open_object_dir(false);
  if (dir_fd < 0) return false;
  const std::string file = std::to_string(index);
  const int fd = ::openat(dir_fd, file.c_str(), O_RDONLY | kNoFollow);
  if (fd < 0) {
    ::close(dir_fd);
    return false;
  }
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  bool damaged = ok && static_cast<uint64_t>(st.st_size) != length + kTrailerSize;
  ok = ok && !damaged;
  const std::array<uint64_t, 3> id = {static_cast<uint64_t>(st.st_dev),
                                      static_cast<uint64_t>(st.st_ino),
                                      static_cast<uint64_t>(st.st_size)};
  bool verified = false;
  if (ok) {
    std::lock_guard lock(verified_mu_);
    const auto it = verified_.find(index);
    verified = it != verified_.end() && it->second == id;
  }
  if (ok && verified) {
    ok = pread_all(fd, out, offset_in_piece);
  } else if (ok) {
    // First use of this file: check the whole piece against its trailer.
    std::vector<std::byte> whole(length + kTrailerSize);
    ok = pread_all(fd, whole, 0);
    const std::span<const std::byte> body(whole.data(), length);
    const auto want = trailer_of(body);
    damaged = ok && std::memcmp(whole.data() + length, want.data(), want.size()) != 0;
    ok = ok && !damaged;
    if (ok) {
      std::memcpy(out.data(), whole.data() + offset_in_piece, out.size());
      std::lock_guard lock(verified_mu_);
      verified_[index] = id;
    }
  }
  if (ok) {
    // Recently used: eviction goes by mtime (atime is unreliable under relatime/noatime).
    const timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    ::futimens(fd, times);
  }
  ::close(fd);
  if (damaged) {
    // Truncated or changed: drop it so that it is fetched again, not failed on forever. Only if
    // the name still refers to the file checked (another process may have replaced it).
    struct stat now {};
    if (::fstatat(dir_fd, file.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
      ::unlinkat(dir_fd, file.c_str(), 0);
    }
  }
  ::close(dir_fd);
  return ok;
}

void DiskCache::put(uint64_t index, std::span<const std::byte> bytes) const {
  static std::atomic<uint64_t> counter{0};
  if (budget_ != 0 && bytes.size() > budget_) return;
  const int dir_fd = open_object_dir(true);
  if (dir_fd < 0) return;
  const std::string final_name = std::to_string(index);
  const std::string tmp = final_name + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1));
  const int fd = ::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | kNoFollow, 0600);
  if (fd < 0) {
    ::close(dir_fd);
    return;
  }
  const auto trailer = trailer_of(bytes);
  bool ok = write_all(fd, bytes) && write_all(fd, std::as_bytes(std::span(trailer)));
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::renameat(dir_fd, tmp.c_str(), dir_fd, final_name.c_str()) != 0) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    ::close(dir_fd);
    return;
  }
  ::close(dir_fd);
  if (budget_ != 0 && written_since_scan_.fetch_add(bytes.size()) + bytes.size() >= scan_every_) {
    evict();
  }
}

std::optional<std::string> cache_dir_for(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("HEXZ_CACHE_DIR"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return std::nullopt;
}

uint64_t cache_budget_for() {
  const char* env = std::getenv("HEXZ_CACHE_DIR_BYTES");
  if (env == nullptr || *env == '\0') return kDefaultCacheDirBytes;
  const std::optional<uint64_t> bytes = parse_size(env);
  if (!bytes) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("HEXZ_CACHE_DIR_BYTES='") + env +
                    "' is not a size (expected a byte count such as 1073741824, 512M or 2G; 0 = "
                    "no limit)");
  }
  return *bytes;
}

}  // namespace hexz::io
