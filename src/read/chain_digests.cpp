#include "read/chain_digests.hpp"

#include "read/snapshot_reader.hpp"

namespace hexz::read {

ChainDigests::ChainDigests(const SnapshotReader& snapshot) {
  if (snapshot.bases().empty()) return;
  // The digests come from the bases' indexes: those must be the ones the bases' identities
  // (pinned by this snapshot's base table) name.
  snapshot.check_base_index_digests();
  snapshot.for_each_stored_chunk([&](uint8_t source, const format::IndexEntry& e) {
    if (source != 0) digests_.emplace(location(source, e), e.digest);
  });
}

ChainDigests::Location ChainDigests::location(uint8_t source, const format::IndexEntry& e) {
  return {(static_cast<uint64_t>(source) << 56) | e.block.offset,
          (static_cast<uint64_t>(e.offset_in_block) << 32) | e.length};
}

const hash::ChunkDigest* ChainDigests::find(const format::IndexEntry& e) const {
  if (e.has_digest()) return &e.digest;
  if (e.kind != format::ChunkKind::kData) return nullptr;
  const auto it = digests_.find(location(e.source, e));
  return it == digests_.end() ? nullptr : &it->second;
}

}  // namespace hexz::read
