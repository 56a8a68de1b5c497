// Comparing two snapshots stream by stream.
#pragma once

#include <cstdint>
#include <vector>

#include "hexz/snapshot.hpp"

namespace hexz {

/// A half-open logical byte range [offset, offset + length).
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const ByteRange&) const = default;
};

/// How one stream differs between two snapshots.
struct StreamDiff {
  bool in_a = false, in_b = false;
  uint64_t size_a = 0, size_b = 0;
  /// Sorted, non-overlapping, non-adjacent ranges whose bytes differ (bytes past the end of the
  /// shorter stream count as different).
  std::vector<ByteRange> ranges;
  uint64_t differing_bytes = 0;  ///< Sum of the range lengths.
  uint64_t stored_bytes_a = 0;   ///< Bytes of data blocks A stores for this stream.
  uint64_t stored_bytes_b = 0;
};

/// The result of diff().
struct DiffResult {
  StreamDiff streams[kStreamCount];
  /// True if computed from the indexes alone (same chunking: ranges are chunk-granular);
  /// false if the data had to be read (byte-granular).
  bool from_index = false;
};

/// Compares `a` and `b`. With the same chunking on both sides only the indexes are read;
/// otherwise both streams are read and compared. Throws hexz::Error.
DiffResult diff(const Snapshot& a, const Snapshot& b);

}  // namespace hexz
