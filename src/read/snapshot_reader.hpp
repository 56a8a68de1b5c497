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
#include "io/url.hpp"
#include "read/attachment_read.hpp"
#include "read/chain_digests.hpp"
#include "read/chunk_check.hpp"
#include "read/index_page.hpp"
#include "read/lru_cache.hpp"
#include "read/signature_check.hpp"
#include "read/trace_prefetcher.hpp"
#include "read/trace_recorder.hpp"
#include "util/buffer.hpp"
#include "util/thread_pool.hpp"

namespace hexz::read {

/// Reads a validated snapshot: header and master index in memory; index pages and decoded
/// blocks through byte-budgeted caches. Thread-safe.
class SnapshotReader final : public Snapshot {
 public:
  /// Validates the header and master index of `file`. If `resolve_bases`, also finds and opens
  /// every base snapshot (checking identities). `as_base`: the file is opened as the base of
  /// another snapshot: without `base_key` (the other snapshot is not encrypted) it must not be
  /// encrypted (kUnsupported); with it (the master key an encrypted thin snapshot's base key
  /// table holds for it) it must be encrypted and that key must open it (kWrongPassword if not;
  /// no key derivation runs). Throws hexz::Error.
  SnapshotReader(std::unique_ptr<io::ReadableFile> file, const OpenOptions& options,
                 bool resolve_bases = true, bool as_base = false,
                 const crypto::Key* base_key = nullptr);
  ~SnapshotReader() override;

  /// The parsed header.
  const format::Header& header() const { return header_; }
  /// The base table (empty for a standalone snapshot).
  const std::vector<format::BaseRecord>& bases() const { return bases_; }
  /// Calls fn(logical_offset, entry) for every index entry of `stream`, in order.
  void for_each_entry(Stream stream,
                      const std::function<void(uint64_t, const format::IndexEntry&)>& fn) const;
  /// Calls fn(source, entry) for every data entry this file stores itself (source 0) and, for
  /// each base record k, every data entry base k stores itself (passed as source k): all the
  /// chunks this snapshot's entries can refer to, each with its digest. Throws kInvalidArgument
  /// if the bases were not resolved.
  void for_each_stored_chunk(
      const std::function<void(uint8_t, const format::IndexEntry&)>& fn) const;
  /// Reads every index page of this file and throws kCorrupt unless they hash to the header's
  /// index digest (which the identity covers: FORMAT.md section 14). With `pinned`, also
  /// stores there each page's BLAKE3-128 digest.
  void check_index_digest(std::vector<hash::ChunkDigest>* pinned = nullptr) const;
  /// Signatures in the file's signature trailer (empty if it has none).
  const std::vector<format::SignatureRecord>& signatures() const { return signatures_; }
  /// check_index_digest() on every opened base. Throws kInvalidArgument if the bases were not
  /// resolved.
  void check_base_index_digests() const;
  /// Reads, checks and decodes a block stored in this file (source 0) without caching. With
  /// `need` below the block's raw length, only a prefix of at least `need` bytes may be
  /// decoded: the result's size() says how many leading bytes it holds.
  std::shared_ptr<const util::Buffer> fetch_local_block(const format::BlockRef& ref,
                                                        uint32_t need = UINT32_MAX) const;

  bool has_stream(Stream stream) const override;
  uint64_t size(Stream stream) const override;
  void read(Stream stream, uint64_t offset, std::span<std::byte> out) const override;
  void for_each_extent(Stream stream, uint64_t offset, uint64_t length,
                       const std::function<void(uint64_t, uint64_t, bool)>& fn) const override;
  ChunkPlacement locate(Stream stream, uint64_t offset) const override;
  SnapshotInfo info() const override;
  VerifyReport verify(const ProgressFn& progress) const override;
  std::vector<AttachmentInfo> attachments() const override;
  std::vector<std::byte> read_attachment(const std::string& name) const override;
  ReadStats stats() const override;
  std::vector<std::byte> recorded_trace() const override;
  void wait_for_prefetch() const override;
  /// The checked attachment table (empty without feature bit 4).
  const AttachmentTable& attachment_table() const { return attachments_; }
  /// The cipher of an encrypted snapshot (null otherwise).
  const crypto::SnapshotCipher* cipher() const { return cipher_.get(); }
  /// An encrypted thin snapshot's base master keys, by source - 1 (empty otherwise).
  const std::vector<crypto::Key>& base_keys() const { return base_keys_; }
  /// The decoded dictionary (null without feature bit 1).
  const codec::Dictionary* dictionary() const { return dictionary_.get(); }
  /// The file this reader reads.
  const io::ReadableFile& file() const { return *file_; }

 private:
  using Block = util::Buffer;
  /// Who loads a page or block: a read (counted as a demand miss or a use of prefetched data),
  /// the prefetcher (counted as prefetched), or anything else (readahead, verify).
  enum class Use { kOther, kDemand, kPrefetch };
  /// What identifies a decoded block: where it is and everything its entry says about it, so
  /// that two entries that disagree about one block offset never share a cached decoding and
  /// each entry's block passes its own checks, whatever the cache holds.
  struct BlockKey {
    uint8_t source = 0;
    format::BlockRef ref;
    bool operator==(const BlockKey&) const = default;
  };
  struct BlockKeyHash {
    size_t operator()(const BlockKey& k) const;
  };
  /// A decoded, checked index page, and its raw bytes when `raw` is not null.
  std::shared_ptr<const IndexPage> decode_page(uint32_t page,
                                               std::vector<unsigned char>* raw = nullptr) const;

  /// Index (into master_) of the page of `stream` containing `offset`.
  uint32_t page_for(Stream stream, uint64_t offset) const;
  std::shared_ptr<const IndexPage> load_page(uint32_t page, Use use = Use::kOther) const;
  /// The page of `stream` holding `offset`, loaded for a read (recorded when recording).
  std::shared_ptr<const IndexPage> demand_page(Stream stream, uint64_t offset) const;
  /// Reads the snapshot's trace (if replay is on) and starts the prefetcher.
  void start_prefetch();
  /// A read used a block the prefetcher loaded (or it was never prefetched).
  void note_use(const BlockKey& key) const;
  /// Reads, checks (XXH3, and the GCM tag when encrypted) and decodes index page `page`.
  std::vector<unsigned char> read_page_bytes(uint32_t page) const;
  /// Checks the KDF cost against the cap, derives the keys from `password` and checks the key and
  /// the header MAC.
  void unlock(std::span<const unsigned char, format::kHeaderSize> header_bytes,
              const std::string& password, const crypto::Key* master);
  /// An encrypted thin snapshot: reads its base key table (FORMAT.md section 10.8) into
  /// base_keys_ and takes the chain's dedup key from it.
  void read_base_keys();
  /// Decrypts a whole-section message (master index, dictionary) if encrypted.
  std::vector<std::byte> open_section(crypto::NonceDomain domain, std::vector<std::byte> stored,
                                      const char* what) const;
  /// Bytes encryption adds to each stored block.
  uint32_t stored_overhead() const { return cipher_ ? static_cast<uint32_t>(crypto::kTagSize) : 0; }
  /// Returns the decoded block of `source` (0 = this file), from the cache, from a fetch
  /// already in flight on another thread, or by fetching it now. The result holds at least its
  /// first `need` bytes (its size() may be less than the raw length: see fetch_local_block).
  /// A random read decodes only the prefix it needs the first time it touches an LZ4 block,
  /// and the whole block when a later read needs more of it.
  std::shared_ptr<const Block> load_block(uint8_t source, const format::BlockRef& ref,
                                          uint32_t need = UINT32_MAX, Use use = Use::kOther) const;
  /// Finds and opens base `index` of the base table.
  std::unique_ptr<SnapshotReader> open_base(size_t index) const;
  /// Starts decoding the data blocks of [offset, offset+length) on the pool (best effort).
  void prefetch(Stream stream, uint64_t offset, uint64_t length, size_t skip_first) const;
  /// Calls fn(source, ref) for each distinct data block of [offset, offset+length), in order.
  void for_each_block(Stream stream, uint64_t offset, uint64_t length,
                      const std::function<void(uint8_t, const format::BlockRef&)>& fn) const;
  /// Reads, checks and decodes a block of `source` without touching the cache.
  std::shared_ptr<const Block> fetch_block(uint8_t source, const format::BlockRef& ref,
                                           uint32_t need) const;
  void check_range(Stream stream, uint64_t offset, uint64_t length) const;
  io::StorageOptions storage_options() const { return {options_.endpoint, options_.cache_dir}; }

  std::unique_ptr<io::ReadableFile> file_;
  format::Header header_;
  std::vector<format::MasterEntry> master_;
  std::unique_ptr<codec::Dictionary> dictionary_;   ///< Null unless kFeatureDictionary.
  std::unique_ptr<crypto::SnapshotCipher> cipher_;  ///< Null unless encrypted.
  std::vector<crypto::Key> base_keys_;              ///< Encrypted thin only; wiped at the end.
  std::vector<format::BaseRecord> bases_;
  AttachmentTable attachments_;
  std::vector<std::unique_ptr<SnapshotReader>> base_readers_;  ///< Opened bases, by source - 1.
  std::vector<std::string> base_paths_;
  std::unique_ptr<ChainDigests> chain_;      ///< Verified reads of a thin snapshot only.
  std::unique_ptr<ChunkCheck> chunk_check_;  ///< Null unless OpenOptions::verify_reads.
  std::vector<format::SignatureRecord> signatures_;
  /// With trusted keys: the BLAKE3-128 of each raw index page, checked when a page is read.
  std::vector<hash::ChunkDigest> page_digests_;
  mutable ByteLruCache<uint32_t, IndexPage> pages_;
  mutable ByteLruCache<BlockKey, Block, BlockKeyHash> blocks_;
  OpenOptions options_;  ///< As given, but with the password removed.
  mutable std::mutex inflight_mu_;
  mutable std::unordered_map<BlockKey, std::shared_future<std::shared_ptr<const Block>>,
                             BlockKeyHash>
      inflight_;
  mutable std::atomic<uint64_t> last_end_[kStreamCount] = {};
  mutable std::atomic<uint64_t> readahead_mark_[kStreamCount] = {};
  mutable std::atomic<uint64_t> sequential_bytes_[kStreamCount] = {};
  std::unique_ptr<TraceRecorder> recorder_;  ///< Null unless OpenOptions::record_trace.
  // Statistics (ReadStats).
  mutable std::atomic<uint64_t> demand_block_misses_{0}, demand_page_misses_{0}, demand_waits_{0};
  mutable std::atomic<uint64_t> prefetched_pages_{0}, prefetched_blocks_{0}, prefetched_bytes_{0};
  /// Prefetched blocks no read used yet, with their stored and decoded sizes; those evicted
  /// unused move to evicted_unused_bytes_.
  mutable std::mutex prefetched_mu_;
  mutable std::unordered_map<BlockKey, std::pair<uint32_t, uint32_t>, BlockKeyHash> unused_;
  mutable uint64_t unused_raw_ = 0;
  mutable uint64_t unused_stored_ = 0;
  mutable uint64_t evicted_unused_bytes_ = 0;
  uint64_t trace_events_ = 0;
  std::string trace_error_;
  // Declared last: destroyed (joined) first, while everything its tasks use still exists.
  std::unique_ptr<util::ThreadPool> pool_;
  // After the pool: stopped (joined) before it, since its threads load through the reader.
  std::unique_ptr<Prefetcher> prefetcher_;
};

}  // namespace hexz::read
