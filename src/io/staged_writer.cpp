#include "io/staged_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "hexz/error.hpp"

namespace hexz::io {

namespace {

/// Memory and file-offset alignment of direct writes: the page size, which covers the logical
/// block size of every common device. A device that wants more refuses with EINVAL, and the
/// writer falls back to the page cache.
constexpr size_t kAlignment = 4096;

[[noreturn]] void throw_write(const std::string& name, int err) {
  throw Error(ErrorCode::kIo, "cannot write '" + name + "': " + std::strerror(err));
}

bool direct_io_allowed() {
  const char* v = std::getenv("HEXZ_DIRECT_IO");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

}  // namespace

void StagedWriter::FreeDeleter::operator()(std::byte* p) const {
  std::free(p);
}

StagedWriter::StagedWriter(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  for (auto& b : buffers_) {
    b.reset(static_cast<std::byte*>(std::aligned_alloc(kAlignment, kStageSize)));
    if (!b) throw std::bad_alloc();
  }
  if (direct_io_allowed()) {
    const int flags = ::fcntl(fd_, F_GETFL);
    // F_SETFL refuses O_DIRECT on a filesystem without direct I/O (EINVAL).
    direct_ = flags >= 0 && ::fcntl(fd_, F_SETFL, flags | O_DIRECT) == 0;
  }
}

StagedWriter::~StagedWriter() {
  if (writing_.valid()) writing_.wait();
}

void StagedWriter::stop_direct() {
  if (!direct_) return;
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT);
  direct_ = false;
}

void StagedWriter::write_out(const std::byte* data, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    const ssize_t w = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && direct_) {
        stop_direct();  // alignment this device does not take: use the page cache
        continue;
      }
      throw_write(name_, errno);
    }
    done += static_cast<size_t>(w);
    // A short direct write leaves the rest unaligned: finish it through the page cache.
    if (done < size && direct_) stop_direct();
  }
}

void StagedWriter::wait() {
  if (writing_.valid()) writing_.get();
}

void StagedWriter::flush_full() {
  wait();
  const std::byte* data = buffers_[current_].get();
  const uint64_t at = staged_at_;
  writing_ = std::async(std::launch::async, [this, data, at] { write_out(data, kStageSize, at); });
  current_ ^= 1;
  staged_at_ += kStageSize;
  fill_ = 0;
}

void StagedWriter::append(std::span<const std::byte> data) {
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kStageSize - fill_);
    std::memcpy(buffers_[current_].get() + fill_, data.data(), n);
    fill_ += n;
    data = data.subspan(n);
    if (fill_ == kStageSize) flush_full();
  }
}

void StagedWriter::write_at(uint64_t offset, std::span<const std::byte> data) {
  if (offset > position() || data.size() > position() - offset) {
    throw Error(ErrorCode::kInvalidArgument,
                "internal error: write past the end of '" + name_ + "'");
  }
  // The part still staged is patched in memory; the part already handed off is written now.
  if (offset < staged_at_) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), staged_at_ - offset));
    wait();
    stop_direct();  // a small unaligned write: through the page cache
    write_out(data.data(), n, offset);
    data = data.subspan(n);
    offset += n;
  }
  if (!data.empty())
    std::memcpy(buffers_[current_].get() + (offset - staged_at_), data.data(), data.size());
}

void StagedWriter::finish() {
  wait();
  if (fill_ == 0) return;
  stop_direct();  // the tail is not a whole number of aligned blocks
  write_out(buffers_[current_].get(), fill_, staged_at_);
  staged_at_ += fill_;
  fill_ = 0;
}

}  // namespace hexz::io
