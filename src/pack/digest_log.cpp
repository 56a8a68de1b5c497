#include "pack/digest_log.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "hexz/error.hpp"

namespace hexz::packing {

namespace {

/// Digests per tail flush (64 KiB) and per read-cache page (4 KiB).
constexpr size_t kTailDigests = 4096;
constexpr size_t kPageDigests = 256;

[[noreturn]] void io_error(const std::string& what) {
  throw Error(ErrorCode::kIo, what + ": " + std::strerror(errno));
}

}  // namespace

DigestLog::~DigestLog() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t DigestLog::append(const hash::ChunkDigest& digest) {
  if (tail_.size() == kTailDigests) flush();
  tail_.push_back(digest);
  return size() - 1;
}

void DigestLog::flush() {
  if (fd_ < 0) {
    const char* env = std::getenv("TMPDIR");
    std::string path = (env != nullptr && *env != '\0') ? env : "/tmp";
    path += "/hexz-dedup.XXXXXX";
    fd_ = ::mkstemp(path.data());
    if (fd_ < 0) {
      io_error("cannot create the dedup table's temporary file in '" +
               path.substr(0, path.rfind('/')) + "' (set TMPDIR)");
    }
    ::unlink(path.c_str());
  }
  const auto* p = reinterpret_cast<const char*>(tail_.data());
  size_t left = tail_.size() * sizeof(hash::ChunkDigest);
  off_t at = static_cast<off_t>(flushed_ * sizeof(hash::ChunkDigest));
  while (left > 0) {
    const ssize_t n = ::pwrite(fd_, p, left, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) io_error("cannot write the dedup table's temporary file");
    p += n;
    at += n;
    left -= static_cast<size_t>(n);
  }
  flushed_ += tail_.size();
  tail_.clear();
}

const hash::ChunkDigest& DigestLog::get(uint64_t n) {
  if (n >= flushed_) return tail_[n - flushed_];
  if (n >= page_first_ && n - page_first_ < page_.size()) return page_[n - page_first_];
  page_first_ = n - n % kPageDigests;
  const uint64_t count = std::min<uint64_t>(kPageDigests, flushed_ - page_first_);
  page_.resize(count);
  auto* p = reinterpret_cast<char*>(page_.data());
  size_t left = count * sizeof(hash::ChunkDigest);
  off_t at = static_cast<off_t>(page_first_ * sizeof(hash::ChunkDigest));
  while (left > 0) {
    const ssize_t r = ::pread(fd_, p, left, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      page_.clear();
      io_error("cannot read the dedup table's temporary file");
    }
    p += r;
    at += r;
    left -= static_cast<size_t>(r);
  }
  return page_[n - page_first_];
}

}  // namespace hexz::packing
