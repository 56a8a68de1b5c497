// Append-only arrays of fixed-size records that live mostly on disk, for pack state that
// would otherwise grow with the input (full chunk digests, written blocks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace hexz::packing {

/// Records of `record_size` bytes numbered 0, 1, 2, ... Only a tail buffer (the last 4096
/// records) and a read cache (one run of 4096 bytes) stay in memory; the rest goes to an
/// unlinked temporary file under $TMPDIR (else /tmp), created on the first spill and gone when
/// this object is destroyed or the process dies. Memory stays flat however many records there
/// are; reading a recent record costs nothing, an old one at most one pread. If no temporary
/// file can be created, the records stay in memory instead.
class RecordSpill {
 public:
  explicit RecordSpill(size_t record_size) : size_(record_size) {}
  ~RecordSpill();
  RecordSpill(const RecordSpill&) = delete;
  RecordSpill& operator=(const RecordSpill&) = delete;

  /// Appends the `record_size` bytes at `record`; returns its number. Throws hexz::Error (kIo)
  /// if the temporary file cannot be written.
  uint64_t append(const void* record);
  /// The bytes of record `n`, valid until the next call. REQUIRES: n < count(). Throws
  /// hexz::Error (kIo) on a read error.
  const std::byte* get(uint64_t n);
  /// Number of records appended.
  uint64_t count() const { return flushed_ + tail_count_; }

 private:
  void flush();

  size_t size_;
  std::vector<std::byte> tail_;  ///< Records flushed_ .. count() - 1.
  size_t tail_count_ = 0;
  uint64_t flushed_ = 0;         ///< Records already in the file.
  std::vector<std::byte> page_;  ///< Read cache: records page_first_ .. + page_count_.
  uint64_t page_first_ = 0;
  uint64_t page_count_ = 0;
  int fd_ = -1;
  bool memory_only_ = false;  ///< No temporary file could be made: the tail holds everything.
};

/// A RecordSpill of trivially copyable T.
template <class T>
class SpillLog {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  /// Appends `value`; returns its number. Throws hexz::Error (kIo).
  uint64_t append(const T& value) { return spill_.append(&value); }
  /// A copy of element `n`. REQUIRES: n < size(). Throws hexz::Error (kIo).
  T get(uint64_t n) {
    T v;
    std::memcpy(&v, spill_.get(n), sizeof v);
    return v;
  }
  /// Number of elements appended.
  uint64_t size() const { return spill_.count(); }

 private:
  RecordSpill spill_{sizeof(T)};
};

}  // namespace hexz::packing
