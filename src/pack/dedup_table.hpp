// The dedup table: chunk digest -> where the first copy of that content lives.
#pragma once

#include <cstdint>
#include <vector>

#include "hash/digest.hpp"

namespace hexz::packing {

/// Location of a stored chunk: which block (by sequence number) and where inside it.
struct ChunkLocation {
  uint32_t block_seq = 0;
  uint32_t offset_in_block = 0;
};

/// Open-addressing hash table keyed by chunk digest. About 24 bytes per slot at a load factor
/// of at most 1/2, so memory grows only with the number of unique chunks.
class DedupTable {
 public:
  DedupTable();
  /// Returns the stored location of `digest`, or nullptr if unseen. The pointer is valid until
  /// the next insert().
  const ChunkLocation* find(const hash::ChunkDigest& digest) const;
  /// Records `digest` at `loc`. REQUIRES: find(digest) == nullptr.
  void insert(const hash::ChunkDigest& digest, ChunkLocation loc);
  /// Number of distinct digests recorded.
  size_t size() const { return size_; }

 private:
  struct Slot {
    hash::ChunkDigest digest;
    ChunkLocation loc;
    bool used = false;
  };
  void grow();
  size_t probe(const hash::ChunkDigest& digest) const;

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace hexz::packing
