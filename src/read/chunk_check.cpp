#include "read/chunk_check.hpp"

#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "read/chain_digests.hpp"

namespace hexz::read {

namespace {

/// Blocks tracked before expired entries are dropped.
constexpr size_t kMaxTrackedBlocks = 1 << 16;

}  // namespace

ChunkCheck::ChunkCheck(std::string file_name, const crypto::SnapshotCipher* cipher,
                       const ChainDigests* chain)
    : name_(std::move(file_name)), cipher_(cipher), chain_(chain) {}

void ChunkCheck::check(Stream stream, uint64_t logical_offset, const format::IndexEntry& e,
                       const util::Buffer& block) const {
  const auto where = [&] {
    return "'" + name_ + "' is corrupt: the chunk at " + stream_name(stream) + " offset " +
           std::to_string(logical_offset) + " (" + std::to_string(e.length) +
           " bytes, in the block at file offset " + std::to_string(e.block.offset) +
           (e.source == 0 ? std::string(" of this file") : " of base " + std::to_string(e.source)) +
           ")";
  };
  const hash::ChunkDigest* expected = nullptr;
  if (e.has_digest()) {
    expected = &e.digest;
  } else if (chain_ != nullptr) {
    expected = chain_->find(e);
  }
  if (expected == nullptr) {
    throw Error(ErrorCode::kCorrupt, where() + " has no digest in its base's index");
  }
  if (static_cast<uint64_t>(e.offset_in_block) + e.length > block.size()) {
    throw Error(ErrorCode::kCorrupt, where() + " lies outside its block");
  }
  const auto* bytes = block.data() + e.offset_in_block;
  const hash::ChunkDigest actual = cipher_ != nullptr ? cipher_->chunk_digest(bytes, e.length)
                                                      : hash::chunk_digest(bytes, e.length);
  if (!(actual == *expected)) {
    throw Error(ErrorCode::kCorrupt, where() + " does not match its digest");
  }
}

void ChunkCheck::check_once(Stream stream, uint64_t logical_offset, const format::IndexEntry& e,
                            const std::shared_ptr<const util::Buffer>& block) const {
  const uint64_t key = (static_cast<uint64_t>(e.source) << 56) | e.block.offset;
  const uint64_t chunk = (static_cast<uint64_t>(e.offset_in_block) << 32) | e.length;
  {
    std::lock_guard lock(mu_);
    const auto it = seen_.find(key);
    // While `block` is alive no other object has its address: a live match is the same block.
    if (it != seen_.end() && it->second.block.lock() == block && it->second.chunks.count(chunk))
      return;
  }
  check(stream, logical_offset, e, *block);
  std::lock_guard lock(mu_);
  if (seen_.size() >= kMaxTrackedBlocks) {
    std::erase_if(seen_, [](const auto& kv) { return kv.second.block.expired(); });
    if (seen_.size() >= kMaxTrackedBlocks) seen_.clear();
  }
  Seen& s = seen_[key];
  if (s.block.lock() != block) {
    s.block = block;
    s.chunks.clear();
  }
  s.chunks.insert(chunk);
}

}  // namespace hexz::read
