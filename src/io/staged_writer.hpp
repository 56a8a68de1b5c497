// Appends to a file through large aligned buffers, written with O_DIRECT where it works.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <string>

namespace hexz::io {

/// Writes an append-mostly file (a snapshot being packed) through two staging buffers of
/// kStageSize bytes. A full buffer is written on a background thread while the other fills, with
/// O_DIRECT when the filesystem takes it: the bytes skip the page cache, which costs no CPU copy
/// and no page allocation, and leaves the final fsync little to do. The unaligned tail, and any
/// write where O_DIRECT fails, go through the page cache as usual. HEXZ_DIRECT_IO=0 in the
/// environment turns O_DIRECT off.
///
/// The writer does not own `fd`. Bytes reach the file only at write_at() and finish(): a reader
/// of the file through another descriptor sees them only after those.
class StagedWriter {
 public:
  /// Bytes per staging buffer (a multiple of every common direct-I/O alignment).
  static constexpr size_t kStageSize = 4u << 20;

  /// `fd` must be open for writing at offset 0 of an empty file; `name` is used in messages.
  StagedWriter(int fd, std::string name);
  /// Waits for a write in flight; does not write what is still staged.
  ~StagedWriter();
  StagedWriter(const StagedWriter&) = delete;
  StagedWriter& operator=(const StagedWriter&) = delete;

  /// Appends bytes at the current end. Throws kIo for a failed write (now or an earlier
  /// background one).
  void append(std::span<const std::byte> data);
  /// Overwrites bytes at `offset` (offset + size <= position()). Throws kIo.
  void write_at(uint64_t offset, std::span<const std::byte> data);
  /// Writes everything still staged and waits for it. Throws kIo.
  void finish();
  /// Bytes appended so far.
  uint64_t position() const { return staged_at_ + fill_; }
  /// True while full buffers are written with O_DIRECT.
  bool direct() const { return direct_.load(); }

 private:
  struct FreeDeleter {
    void operator()(std::byte* p) const;
  };
  using AlignedBuffer = std::unique_ptr<std::byte[], FreeDeleter>;

  /// Hands the full current buffer to the background thread and swaps buffers.
  void flush_full();
  /// Waits for the background write, rethrowing its error.
  void wait();
  /// pwrite()s all of `data` at `offset`, falling back to buffered I/O if O_DIRECT refuses.
  void write_out(const std::byte* data, size_t size, uint64_t offset);
  /// Turns O_DIRECT off on the descriptor (once).
  void stop_direct();

  int fd_;
  std::string name_;
  std::atomic<bool> direct_{false};  ///< Cleared by the background thread on EINVAL.
  AlignedBuffer buffers_[2];
  size_t current_ = 0;      ///< The buffer being filled.
  size_t fill_ = 0;         ///< Bytes in the current buffer.
  uint64_t staged_at_ = 0;  ///< File offset of the current buffer's first byte.
  std::future<void> writing_;
};

}  // namespace hexz::io
