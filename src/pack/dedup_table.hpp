// The dedup table: chunk digest -> where the first copy of that content lives.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "hash/digest.hpp"
#include "pack/spill_log.hpp"

namespace hexz::packing {

/// Location of a stored chunk: which block and where inside it. `block` is the sequence number
/// of a block of the snapshot being written, or, with DedupTable::kBaseFlag set, an index into
/// the list of base blocks.
struct ChunkLocation {
  uint32_t block = 0;
  uint32_t offset_in_block = 0;
};

/// Compact open-addressing hash table keyed by chunk digest. A slot is 16 bytes: the digest's
/// first 40 bits (its top bits choose the slot), the 24-bit offset in the block, the block and
/// the number of the full digest in a SpillLog (kept on disk). A prefix match is confirmed
/// against the full digest, so two digests sharing a prefix never dedup against each other. At
/// a load factor of 3/8..3/4 that is 21-43 bytes per unique chunk in memory.
///
/// The slots never take more than `memory_limit` bytes, counting the old and the new array
/// while the table grows. Once it can grow no more it fills up to a load of 7/8 and then
/// refuses new digests (insert() returns false): the pack goes on with bounded memory, and
/// later copies of the refused chunks are simply stored again.
class DedupTable {
 public:
  /// Marks ChunkLocation::block as an index into base blocks.
  static constexpr uint32_t kBaseFlag = 0x80000000u;
  /// Bytes per slot.
  static constexpr uint64_t kSlotBytes = 16;
  /// No memory limit.
  static constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

  /// An empty table whose slots stay within `memory_limit` bytes (at least 16 slots).
  explicit DedupTable(uint64_t memory_limit = kUnlimited);
  /// Returns the stored location of `digest`, or nullptr if unseen (or refused). The pointer
  /// is valid until the next find() or insert(). Throws hexz::Error (kIo) if the digest log
  /// cannot be read.
  const ChunkLocation* find(const hash::ChunkDigest& digest);
  /// Records `digest` at `loc`; returns false (and records nothing) if the table is full at
  /// its memory limit. REQUIRES: find(digest) == nullptr.
  bool insert(const hash::ChunkDigest& digest, ChunkLocation loc);
  /// Number of distinct digests recorded.
  size_t size() const { return size_; }
  /// Number of insert() calls refused because the table was full.
  uint64_t refused() const { return refused_; }
  /// Bytes of slots in use now.
  uint64_t memory_bytes() const { return slots_.size() * kSlotBytes; }
  /// The memory limit given at construction.
  uint64_t memory_limit() const { return limit_; }

 private:
  /// Bits of the digest prefix kept in a slot, and of the offset in the block beside them.
  static constexpr int kPrefixBits = 40;
  static constexpr int kOffsetBits = 64 - kPrefixBits;
  struct Slot {
    uint64_t prefix_offset = 0;  ///< Digest prefix << kOffsetBits | offset in the block.
    uint32_t ref = 0;            ///< 1 + number of the digest in log_; 0 = empty slot.
    uint32_t block = 0;
    uint64_t prefix() const { return prefix_offset >> kOffsetBits; }
  };
  static_assert(sizeof(Slot) == kSlotBytes);
  static uint64_t prefix_of(const hash::ChunkDigest& digest);
  /// The slot where a probe for `prefix` starts.
  uint64_t home(uint64_t prefix) const { return prefix >> (kPrefixBits - bits_); }
  bool try_grow();
  void place(const Slot& s);

  std::vector<Slot> slots_;
  int bits_ = 0;  ///< slots_.size() == 1 << bits_.
  SpillLog<hash::ChunkDigest> log_;
  uint64_t limit_;
  size_t size_ = 0;
  uint64_t refused_ = 0;
  bool capped_ = false;  ///< The table may not grow any more.
  ChunkLocation found_;
};

}  // namespace hexz::packing
