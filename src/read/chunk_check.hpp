// Verified reads: checking a chunk's content against the BLAKE3 digest its index records
// (FORMAT.md sections 8 and 13) before the content is returned.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "crypto/snapshot_cipher.hpp"
#include "format/records.hpp"
#include "hexz/types.hpp"
#include "util/buffer.hpp"

namespace hexz::read {

class ChainDigests;

/// Checks chunks of one snapshot against their digests. Thread-safe.
class ChunkCheck {
 public:
  /// `cipher` (null when unencrypted) computes keyed digests; `chain` (null for a standalone
  /// snapshot) gives the digests bases record for chunks of source >= 1. Both must outlive this.
  ChunkCheck(std::string file_name, const crypto::SnapshotCipher* cipher,
             const ChainDigests* chain);

  /// Throws kCorrupt, naming the chunk at `logical_offset` of `stream`, unless the data entry
  /// `e`'s content, bytes [e.offset_in_block, e.offset_in_block + e.length) of `block`, has the
  /// digest the index records for it. REQUIRES: `block` holds at least that many bytes.
  void check(Stream stream, uint64_t logical_offset, const format::IndexEntry& e,
             const util::Buffer& block) const;

  /// As check(), but hashes each chunk of a given decoded block object at most once: a chunk
  /// already checked in this very `block` (the cached object, not a re-fetched copy) passes.
  void check_once(Stream stream, uint64_t logical_offset, const format::IndexEntry& e,
                  const std::shared_ptr<const util::Buffer>& block) const;

 private:
  struct Seen {
    std::weak_ptr<const util::Buffer> block;  ///< The decoded block the chunks were checked in.
    std::unordered_set<uint64_t> chunks;      ///< offset_in_block << 32 | length.
  };

  std::string name_;
  const crypto::SnapshotCipher* cipher_;
  const ChainDigests* chain_;
  mutable std::mutex mu_;
  mutable std::unordered_map<uint64_t, Seen> seen_;  ///< By source << 56 | block offset.
};

}  // namespace hexz::read
