// A stand-in for Firecracker's side of its userfaultfd protocol, for tests and benchmarks: maps
// guest memory regions, registers them with a userfaultfd exactly as Firecracker does, connects
// to a page-fault handler's socket and sends it the region JSON with the descriptor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hexz_test {

/// Guest memory of a fake VMM: anonymous private regions with unmapped gaps between them (as
/// Firecracker lays out memory around the 32-bit hole), registered MISSING with a userfaultfd
/// that asks only for UFFD_FEATURE_EVENT_REMOVE.
class FakeVmm {
 public:
  /// Maps regions of `sizes` bytes (multiples of 4096) back to back in the memory file.
  /// Throws std::runtime_error if the mapping or the userfaultfd fails.
  explicit FakeVmm(std::vector<uint64_t> sizes, uint64_t gap = 2ull << 20);
  ~FakeVmm();
  FakeVmm(const FakeVmm&) = delete;
  FakeVmm& operator=(const FakeVmm&) = delete;

  /// Empty if this process may create a userfaultfd; else why not (for GTEST_SKIP).
  static std::string unavailable_reason();

  /// The handshake Firecracker sends: compact JSON, one object per region.
  std::string handshake_json() const;
  /// Connects to `socket` (retrying while it does not exist yet, up to `timeout_ms`) and sends
  /// `json` (default: handshake_json()) with the userfaultfd as SCM_RIGHTS (none if
  /// `send_fd` is false). Throws std::runtime_error.
  void connect(const std::string& socket, int timeout_ms = 30000, const std::string& json = "",
               bool send_fd = true);
  /// Closes the socket: the handler sees EOF, as when Firecracker exits.
  void hang_up();

  size_t region_count() const { return sizes_.size(); }
  std::byte* region(size_t k) const { return bases_[k]; }
  uint64_t region_size(size_t k) const { return sizes_[k]; }
  /// Offset of region k in the memory file.
  uint64_t region_offset(size_t k) const { return offsets_[k]; }
  /// madvise(MADV_DONTNEED) of [offset, offset + length) of region k, as the balloon makes
  /// Firecracker do; the handler gets UFFD_EVENT_REMOVE.
  void remove(size_t k, uint64_t offset, uint64_t length);

  /// Touches every page of every region from `threads` threads (half in order, half at random,
  /// each page at least once, some by two threads at once) and compares each page with
  /// `image` (bytes past its end are zeros). Returns the number of pages that differ;
  /// `first_bad` receives a description of the first.
  uint64_t touch_and_compare(std::span<const unsigned char> image, unsigned threads,
                             std::string* first_bad) const;

 private:
  std::vector<uint64_t> sizes_;
  std::vector<uint64_t> offsets_;
  std::vector<std::byte*> bases_;
  std::byte* reservation_ = nullptr;
  uint64_t reserved_ = 0;
  int uffd_ = -1;
  int sock_ = -1;
};

}  // namespace hexz_test
