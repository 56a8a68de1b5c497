#include "io/disk_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "hexz/error.hpp"

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

}  // namespace

DiskCache::DiskCache(const std::string& dir, const std::string& name, const std::string& etag,
                     uint64_t object_size)
    : size_(object_size) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(
                    fnv1a(name + "\n" + etag + "\n" + std::to_string(object_size))));
  make_dir(dir);
  dir_ = dir + "/" + hex;
  make_dir(dir_);
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
  const std::string final_path = path_of(index);
  const std::string tmp = final_path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
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
  if (!ok || ::rename(tmp.c_str(), final_path.c_str()) != 0) ::unlink(tmp.c_str());
}

std::optional<std::string> cache_dir_for(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* env = std::getenv("HEXZ_CACHE_DIR"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return std::nullopt;
}

}  // namespace hexz::io
