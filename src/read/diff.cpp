// hexz::diff(): index-only comparison when both snapshots chunk alike, data comparison otherwise.
#include "hexz/diff.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "hexz/error.hpp"
#include "read/chain_digests.hpp"
#include "read/snapshot_reader.hpp"

namespace hexz {

namespace {

/// Appends [offset, offset+length) to `ranges`, merging with the last range when adjacent.
void add_range(std::vector<ByteRange>& ranges, uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (!ranges.empty() && ranges.back().offset + ranges.back().length >= offset) {
    const uint64_t end = std::max(ranges.back().offset + ranges.back().length, offset + length);
    ranges.back().length = end - ranges.back().offset;
    return;
  }
  ranges.push_back({offset, length});
}

struct Chunk {
  uint64_t offset;
  uint32_t length;
  bool zero;
  hash::ChunkDigest digest;
};

std::vector<Chunk> chunks_of(const read::SnapshotReader& s, const read::ChainDigests& chain,
                             Stream stream) {
  std::vector<Chunk> out;
  if (!s.has_stream(stream)) return out;
  s.for_each_entry(stream, [&](uint64_t off, const format::IndexEntry& e) {
    const bool zero = e.kind == format::ChunkKind::kZero;
    hash::ChunkDigest digest;
    if (!zero) {
      const hash::ChunkDigest* d = chain.find(e);
      if (d == nullptr) {
        throw Error(ErrorCode::kCorrupt, "the chunk at " + std::string(stream_name(stream)) +
                                             " offset " + std::to_string(off) +
                                             " refers to a chunk its base does not record");
      }
      digest = *d;
    }
    out.push_back({off, e.length, zero, digest});
  });
  return out;
}

bool same_chunking(const format::Header& a, const format::Header& b) {
  return a.chunking == b.chunking && a.chunk_size == b.chunk_size && a.min_chunk == b.min_chunk &&
         a.max_chunk == b.max_chunk;
}

/// Two-pointer walk over both chunk lists: a pair of chunks with the same start and length is
/// equal if both are zero or both have the same digest; anything else up to the next common
/// boundary differs.
void diff_by_index(const std::vector<Chunk>& a, const std::vector<Chunk>& b, StreamDiff& out) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const Chunk& x = a[i];
    const Chunk& y = b[j];
    if (x.offset == y.offset && x.length == y.length) {
      const bool equal = x.zero == y.zero && (x.zero || x.digest == y.digest);
      if (!equal) add_range(out.ranges, x.offset, x.length);
      ++i;
      ++j;
      continue;
    }
    // Misaligned: the earlier-ending chunk's span differs; advance it.
    const uint64_t x_end = x.offset + x.length, y_end = y.offset + y.length;
    // The current chunks overlap (both lists tile the stream), so this span is non-empty.
    const uint64_t start = std::min(x.offset, y.offset);
    add_range(out.ranges, start, std::min(x_end, y_end) - start);
    if (x_end <= y_end) ++i;
    if (y_end <= x_end) ++j;
  }
}

void diff_by_data(const Snapshot& a, const Snapshot& b, Stream stream, uint64_t common,
                  StreamDiff& out) {
  constexpr size_t kWindow = 1 << 20;
  std::vector<std::byte> x(kWindow), y(kWindow);
  for (uint64_t off = 0; off < common; off += kWindow) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kWindow, common - off));
    a.read(stream, off, std::span(x.data(), n));
    b.read(stream, off, std::span(y.data(), n));
    if (std::memcmp(x.data(), y.data(), n) == 0) continue;
    size_t k = 0;
    while (k < n) {
      if (x[k] == y[k]) {
        ++k;
        continue;
      }
      const size_t start = k;
      while (k < n && x[k] != y[k]) ++k;
      add_range(out.ranges, off + start, k - start);
    }
  }
}

}  // namespace

DiffResult diff(const Snapshot& a, const Snapshot& b) {
  const auto* ra = dynamic_cast<const read::SnapshotReader*>(&a);
  const auto* rb = dynamic_cast<const read::SnapshotReader*>(&b);
  if (ra == nullptr || rb == nullptr)
    throw Error(ErrorCode::kInternal, "diff needs snapshots opened by hexz");
  DiffResult result;
  // Encrypted snapshots key their chunk digests per file, so digests are comparable only when
  // neither side is encrypted.
  result.from_index = same_chunking(ra->header(), rb->header()) && !ra->header().encrypted() &&
                      !rb->header().encrypted();
  const SnapshotInfo ia = a.info(), ib = b.info();
  // Entries of chunks held in a base carry no digest; their bases' indexes provide them.
  std::optional<read::ChainDigests> chain_a, chain_b;
  if (result.from_index) {
    chain_a.emplace(*ra);
    chain_b.emplace(*rb);
  }
  for (int s = 0; s < kStreamCount; ++s) {
    const auto stream = static_cast<Stream>(s);
    StreamDiff& d = result.streams[s];
    d.in_a = a.has_stream(stream);
    d.in_b = b.has_stream(stream);
    d.size_a = a.size(stream);
    d.size_b = b.size(stream);
    d.stored_bytes_a = ia.streams[s].stored_bytes;
    d.stored_bytes_b = ib.streams[s].stored_bytes;
    const uint64_t common = std::min(d.size_a, d.size_b);
    if (common > 0) {
      if (result.from_index) {
        diff_by_index(chunks_of(*ra, *chain_a, stream), chunks_of(*rb, *chain_b, stream), d);
      } else {
        diff_by_data(a, b, stream, common, d);
      }
    }
    // Clip to the common part, then everything past it differs.
    while (!d.ranges.empty() && d.ranges.back().offset >= common) d.ranges.pop_back();
    if (!d.ranges.empty()) {
      auto& last = d.ranges.back();
      last.length = std::min(last.length, common - last.offset);
    }
    add_range(d.ranges, common, std::max(d.size_a, d.size_b) - common);
    for (const auto& r : d.ranges) d.differing_bytes += r.length;
  }
  return result;
}

}  // namespace hexz
