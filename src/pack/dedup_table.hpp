// The dedup table: chunk digest -> where the first copy of that content lives.
#pragma once

#include <cstdint>
#include <vector>

#include "hash/digest.hpp"

namespace hexz::packing {

/// Location of a stored chunk: which block and where inside it. `block` is the sequence number
/// of a block of the snapshot being written, or, with DedupTable::kBaseFlag set, an index into
/// the list of base blocks.
struct ChunkLocation {
  uint32_t block = 0;
  uint32_t offset_in_block = 0;
};

/// Open-addressing hash table keyed by chunk digest: 24 bytes per slot at a load factor of at
/// most 0.7, so memory grows only with the number of unique chunks (~34-68 bytes each).
class DedupTable {
 public:
  /// Marks ChunkLocation::block as an index into base blocks.
  static constexpr uint32_t kBaseFlag = 0x80000000u;

  DedupTable();
  /// Returns the stored location of `digest`, or nullptr if unseen. The pointer is valid until
  /// the next insert().
  const ChunkLocation* find(const hash::ChunkDigest& digest) const;
  /// Records `digest` at `loc`. REQUIRES: find(digest) == nullptr.
  void insert(const hash::ChunkDigest& digest, ChunkLocation loc);
  /// Number of distinct digests recorded.
  size_t size() const { return size_; }

 private:
  /// An all-zero digest marks an empty slot (BLAKE3 never yields it in practice; a chunk that
  /// did would simply not be deduplicated).
  struct Slot {
    hash::ChunkDigest digest;
    ChunkLocation loc;
    bool used() const { return digest.prefix64() != 0 || !(digest == hash::ChunkDigest{}); }
  };
  void grow();
  size_t probe(const hash::ChunkDigest& digest) const;

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace hexz::packing
