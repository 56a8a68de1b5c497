// Units of work flowing through the pack pipeline.
#pragma once

#include <cstdint>
#include <vector>

#include "crypto/snapshot_cipher.hpp"
#include "format/records.hpp"
#include "hash/digest.hpp"
#include "hexz/types.hpp"
#include "util/buffer.hpp"

namespace hexz::packing {

/// A contiguous piece of one input stream, already cut into chunks.
struct Segment {
  Stream stream = Stream::kDisk;
  uint64_t offset = 0;                  ///< Logical offset of the first byte.
  uint64_t length = 0;                  ///< Bytes covered (sum of chunk_lengths).
  bool hole = false;                    ///< Entirely a hole of a sparse input: data is empty.
  util::Buffer data;                    ///< `length` bytes unless `hole`.
  std::vector<uint32_t> chunk_lengths;  ///< Chunk sizes in order.
};

/// What the hashing stage learned about one chunk.
struct ChunkInfo {
  uint32_t length = 0;
  bool zero = false;
  hash::ChunkDigest digest;  ///< Unset for zero chunks.
};

/// A segment plus its per-chunk results.
struct HashedSegment {
  Segment segment;
  std::vector<ChunkInfo> chunks;
};

/// Zero-checks and hashes every chunk of `segment`: BLAKE3, or keyed BLAKE3 when `cipher` is set.
HashedSegment hash_segment(Segment segment, const crypto::SnapshotCipher* cipher);

/// A block ready to be written: stored bytes and where they decode to.
struct StoredBlock {
  util::Buffer bytes;  ///< What goes into the file.
  uint32_t raw_length = 0;
  Codec codec = Codec::kNone;  ///< kNone if stored raw.
  uint64_t checksum = 0;       ///< XXH3-64 of `bytes`.
};

}  // namespace hexz::packing
