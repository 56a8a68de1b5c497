#include "pack/spill_log.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>

#include "hexz/error.hpp"

namespace hexz::packing {

namespace {

/// Records per tail flush, and bytes per read-cache fill.
constexpr size_t kTailRecords = 4096;
constexpr size_t kPageBytes = 4096;

[[noreturn]] void io_error(const std::string& what) {
  throw Error(ErrorCode::kIo, what + ": " + std::strerror(errno));
}

}  // namespace

RecordSpill::~RecordSpill() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t RecordSpill::append(const void* record) {
  if (tail_count_ == kTailRecords && !memory_only_) flush();
  if (tail_.size() < (tail_count_ + 1) * size_) {
    tail_.resize(std::max<size_t>(kTailRecords, 2 * tail_count_) * size_);
  }
  std::memcpy(tail_.data() + tail_count_ * size_, record, size_);
  ++tail_count_;
  return count() - 1;
}

void RecordSpill::flush() {
  if (fd_ < 0) {
    const char* env = std::getenv("TMPDIR");
    std::string path = (env != nullptr && *env != '\0') ? env : "/tmp";
    path += "/hexz-pack.XXXXXX";
    fd_ = ::mkstemp(path.data());
    if (fd_ < 0) {
      // No temporary directory to spill to: keep everything in memory (it grows with the
      // input, as before the spill existed) rather than fail the pack.
      memory_only_ = true;
      return;
    }
    ::unlink(path.c_str());
  }
  const std::byte* p = tail_.data();
  size_t left = tail_count_ * size_;
  auto at = static_cast<off_t>(flushed_ * size_);
  while (left > 0) {
    const ssize_t n = ::pwrite(fd_, p, left, at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) io_error("cannot write the pack's temporary file");
    p += n;
    at += n;
    left -= static_cast<size_t>(n);
  }
  flushed_ += tail_count_;
  tail_count_ = 0;
}

const std::byte* RecordSpill::get(uint64_t n) {
  if (n >= flushed_) return tail_.data() + (n - flushed_) * size_;
  if (n >= page_first_ && n - page_first_ < page_count_) {
    return page_.data() + (n - page_first_) * size_;
  }
  const uint64_t per_page = std::max<uint64_t>(1, kPageBytes / size_);
  page_first_ = n - n % per_page;
  page_count_ = 0;
  const uint64_t want = std::min<uint64_t>(per_page, flushed_ - page_first_);
  page_.resize(want * size_);
  std::byte* p = page_.data();
  size_t left = page_.size();
  auto at = static_cast<off_t>(page_first_ * size_);
  while (left > 0) {
    const ssize_t r = ::pread(fd_, p, left, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) io_error("cannot read the pack's temporary file");
    p += r;
    at += r;
    left -= static_cast<size_t>(r);
  }
  page_count_ = want;
  return page_.data() + (n - page_first_) * size_;
}

}  // namespace hexz::packing
