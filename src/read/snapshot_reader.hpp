// The Snapshot implementation over a ReadableFile.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "codec/codec.hpp"
#include "format/records.hpp"
#include "hexz/snapshot.hpp"
#include "io/readable_file.hpp"
#include "read/index_page.hpp"
#include "read/lru_cache.hpp"
#include "util/thread_pool.hpp"

namespace hexz::read {

/// Reads a validated snapshot: header and master index in memory; index pages and decoded
/// blocks through byte-budgeted caches. Thread-safe.
class SnapshotReader final : public Snapshot {
 public:
  /// Validates the header and master index of `file`. Throws hexz::Error.
  SnapshotReader(std::unique_ptr<io::ReadableFile> file, const OpenOptions& options);

  bool has_stream(Stream stream) const override;
  uint64_t size(Stream stream) const override;
  void read(Stream stream, uint64_t offset, std::span<std::byte> out) const override;
  void for_each_extent(Stream stream, uint64_t offset, uint64_t length,
                       const std::function<void(uint64_t, uint64_t, bool)>& fn) const override;
  SnapshotInfo info() const override;
  VerifyReport verify(const ProgressFn& progress) const override;

 private:
  using Block = std::vector<std::byte>;

  /// Index (into master_) of the page of `stream` containing `offset`.
  uint32_t page_for(Stream stream, uint64_t offset) const;
  std::shared_ptr<const IndexPage> load_page(uint32_t page) const;
  /// Returns the decoded block, from the cache, from a fetch already in flight on another
  /// thread, or by fetching it now.
  std::shared_ptr<const Block> load_block(const format::BlockRef& ref) const;
  /// Starts decoding the data blocks of [offset, offset+length) on the pool (best effort).
  void prefetch(Stream stream, uint64_t offset, uint64_t length, size_t skip_first) const;
  /// Calls fn(ref) for each distinct data block of [offset, offset+length), in order.
  void for_each_block(Stream stream, uint64_t offset, uint64_t length,
                      const std::function<void(const format::BlockRef&)>& fn) const;
  /// Reads, checks and decodes a block without touching the cache.
  std::shared_ptr<const Block> fetch_block(const format::BlockRef& ref) const;
  void check_range(Stream stream, uint64_t offset, uint64_t length) const;

  std::unique_ptr<io::ReadableFile> file_;
  format::Header header_;
  std::vector<format::MasterEntry> master_;
  std::unique_ptr<codec::Dictionary> dictionary_;  ///< Null unless kFeatureDictionary.
  mutable ByteLruCache<uint32_t, IndexPage> pages_;
  mutable ByteLruCache<uint64_t, Block> blocks_;
  OpenOptions options_;
  mutable std::mutex inflight_mu_;
  mutable std::unordered_map<uint64_t, std::shared_future<std::shared_ptr<const Block>>> inflight_;
  mutable std::atomic<uint64_t> last_end_[kStreamCount] = {};
  mutable std::atomic<uint64_t> readahead_mark_[kStreamCount] = {};
  // Declared last: destroyed (joined) first, while everything its tasks use still exists.
  std::unique_ptr<util::ThreadPool> pool_;
};

}  // namespace hexz::read
