// Digests of chunks a thin snapshot refers to in its bases. Index entries of source k >= 1 do
// not store a digest (FORMAT.md section 8): the base that holds the chunk records it.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "format/records.hpp"
#include "hash/digest.hpp"

namespace hexz::read {

class SnapshotReader;

/// Maps each chunk location of a snapshot's bases to the digest the base records for it.
class ChainDigests {
 public:
  /// Reads the indexes of every base of `snapshot` (whose bases must be resolved), checking
  /// each against its base's index digest (kCorrupt if one does not match). Holds nothing, and
  /// reads nothing, for a standalone snapshot.
  explicit ChainDigests(const SnapshotReader& snapshot);

  /// The digest of a data entry's content: the entry's own if it stores one, else the digest
  /// base `e.source` records for a chunk of the same block, offset and length; nullptr if that
  /// base records no such chunk (the snapshot is then corrupt).
  const hash::ChunkDigest* find(const format::IndexEntry& e) const;

 private:
  struct Location {
    uint64_t block;  ///< source << 56 | block offset
    uint64_t chunk;  ///< offset_in_block << 32 | length
    bool operator==(const Location&) const = default;
  };
  struct LocationHash {
    size_t operator()(const Location& l) const {
      return static_cast<size_t>((l.block * 0x9E3779B97F4A7C15ull) ^ l.chunk);
    }
  };
  static Location location(uint8_t source, const format::IndexEntry& e);

  std::unordered_map<Location, hash::ChunkDigest, LocationHash> digests_;
};

}  // namespace hexz::read
