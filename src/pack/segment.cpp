#include "pack/segment.hpp"

#include "chunk/zero.hpp"

namespace hexz::packing {

HashedSegment hash_segment(Segment segment, const crypto::SnapshotCipher* cipher) {
  HashedSegment out;
  out.chunks.reserve(segment.chunk_lengths.size());
  uint64_t at = 0;
  for (const uint32_t len : segment.chunk_lengths) {
    ChunkInfo c;
    c.length = len;
    if (segment.hole) {
      c.zero = true;
    } else {
      const std::byte* p = segment.data.data() + at;
      c.zero = chunk::is_all_zero(p, len);
      if (!c.zero)
        c.digest = cipher != nullptr ? cipher->chunk_digest(p, len) : hash::chunk_digest(p, len);
    }
    out.chunks.push_back(c);
    at += len;
  }
  out.segment = std::move(segment);
  return out;
}

}  // namespace hexz::packing
