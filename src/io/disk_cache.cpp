#include "io/disk_cache.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

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

void make_dir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0777) != 0 && errno != EEXIST) {
    throw Error(ErrorCode::kIo,
                "cannot create cache directory '" + dir + "': " + std::strerror(errno));
  }
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
  std::string path;
};

/// Lists the pieces under `root` (object directories and their piece files, nothing else) into
/// `pieces` and the object directories into `dirs`; returns the bytes of pieces and of temporary
/// files. With `remove_stale`, temporary files older than kStaleTempNs are removed (and not
/// counted).
uint64_t scan(const std::string& root, bool remove_stale, std::vector<Piece>* pieces,
              std::vector<std::string>* dirs) {
  uint64_t total = 0;
  DIR* top = ::opendir(root.c_str());
  if (top == nullptr) return 0;
  const int64_t now = now_ns();
  while (const dirent* e = ::readdir(top)) {
    if (!is_object_dir(e->d_name)) continue;
    const std::string sub = root + "/" + e->d_name;
    DIR* d = ::opendir(sub.c_str());
    if (d == nullptr) continue;
    if (dirs != nullptr) dirs->push_back(sub);
    while (const dirent* f = ::readdir(d)) {
      const std::string_view fname = f->d_name;
      const bool piece = all_digits(fname);
      const bool temp = !piece && is_temp_piece(fname);
      if (!piece && !temp) continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), f->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
        continue;
      const std::string path = sub + "/" + f->d_name;
      if (temp && remove_stale && now - mtime_ns(st) > kStaleTempNs) {
        ::unlink(path.c_str());
        continue;
      }
      total += static_cast<uint64_t>(st.st_size);
      if (piece && pieces != nullptr) {
        pieces->push_back({mtime_ns(st), static_cast<uint64_t>(st.st_size), path});
      }
    }
    ::closedir(d);
  }
  ::closedir(top);
  return total;
}

}  // namespace

DiskCache::DiskCache(const std::string& dir, const std::string& name, const std::string& etag,
                     uint64_t object_size, uint64_t budget_bytes)
    : root_(dir),
      size_(object_size),
      budget_(budget_bytes),
      scan_every_(std::max(kPieceSize, budget_bytes / 16)) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(
                    fnv1a(name + "\n" + etag + "\n" + std::to_string(object_size))));
  make_dir(dir);
  dir_ = dir + "/" + hex;
  make_dir(dir_);
  if (budget_ != 0) evict();
}

bool DiskCache::evict() const {
  const std::string lock_path = root_ + "/.lock";
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (lock < 0) return false;
  if (::flock(lock, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock);
    return false;  // another process (or thread) is evicting
  }
  written_since_scan_.store(0);
  std::vector<Piece> pieces;
  std::vector<std::string> dirs;
  uint64_t total = scan(root_, true, &pieces, &dirs);
  if (budget_ != 0 && total > budget_) {
    std::sort(pieces.begin(), pieces.end(), [](const Piece& a, const Piece& b) {
      return a.mtime != b.mtime ? a.mtime < b.mtime : a.path < b.path;
    });
    const uint64_t target = budget_ - budget_ / 8;
    for (const Piece& p : pieces) {
      if (total <= target) break;
      if (::unlink(p.path.c_str()) == 0 || errno == ENOENT) total -= std::min(total, p.bytes);
    }
    // Object directories left empty go too (rmdir refuses the others). A writer that finds
    // its directory gone creates it again.
    for (const std::string& d : dirs) ::rmdir(d.c_str());
  }
  ::close(lock);  // releases the lock
  return true;
}

uint64_t DiskCache::usage() const {
  return scan(root_, false, nullptr, nullptr);
}

uint64_t DiskCache::piece_length(uint64_t index) const {
  const uint64_t start = index * kPieceSize;
  return start >= size_ ? 0 : std::min(kPieceSize, size_ - start);
}

std::string DiskCache::path_of(uint64_t index) const {
  return dir_ + "/" + std::to_string(index);
}

bool DiskCache::get(uint64_t index, uint64_t offset_in_piece, std::span<std::byte> out) const {
  const int fd = ::open(path_of(index).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_size) == piece_length(index);
  if (ok) {
    // Recently used: eviction goes by mtime (atime is unreliable under relatime/noatime).
    const timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    ::futimens(fd, times);
  }
  size_t done = 0;
  while (ok && done < out.size()) {
    const ssize_t r = ::pread(fd, out.data() + done, out.size() - done,
                              static_cast<off_t>(offset_in_piece + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      ok = false;
    else
      done += static_cast<size_t>(r);
  }
  ::close(fd);
  return ok;
}

void DiskCache::put(uint64_t index, std::span<const std::byte> bytes) const {
  static std::atomic<uint64_t> counter{0};
  if (budget_ != 0 && bytes.size() > budget_) return;
  const std::string final_path = path_of(index);
  const std::string tmp = final_path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0 && errno == ENOENT) {
    // An eviction removed our (then empty) object directory.
    ::mkdir(dir_.c_str(), 0777);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  }
  if (fd < 0) return;
  size_t done = 0;
  bool ok = true;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(w);
  }
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return;
  }
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
