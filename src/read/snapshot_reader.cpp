#include "read/snapshot_reader.hpp"

#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_set>

#include "crypto/secrets.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "hexz/trace.hpp"
#include "io/disk_cache.hpp"
#include "io/url.hpp"
#include "read/chain_digests.hpp"
#include "read/header_read.hpp"

namespace hexz::read {

namespace {

codec::Decompressor& thread_decompressor() {
  thread_local codec::Decompressor d;
  return d;
}

std::string num(uint64_t v) {
  return std::to_string(v);
}

}  // namespace

SnapshotReader::SnapshotReader(std::unique_ptr<io::ReadableFile> file, const OpenOptions& options,
                               bool resolve_bases, bool as_base, const crypto::Key* base_key)
    : file_(std::move(file)),
      pages_(options.page_cache_bytes),
      blocks_(options.block_cache_bytes),
      options_(options) {
  // The reader keeps no copy of the password: it lives here until the keys are derived, and is
  // wiped on every way out. A password means "encrypted". Bases get no password: those of an
  // encrypted thin snapshot are opened with the master keys its base key table holds.
  std::string password = std::move(options_.password);
  const crypto::ScopedWipe wipe_password(password);
  crypto::wipe(options_.password);  // a moved short string may keep its bytes
  if (!password.empty()) options_.require_encryption = true;
  const size_t threads = options.threads == 0 ? util::hardware_threads() : options.threads;
  if (threads > 1) pool_ = std::make_unique<util::ThreadPool>(threads);
  const std::string& name = file_->name();
  const uint64_t actual = file_->size();
  std::array<unsigned char, format::kHeaderSize> hbytes{};
  header_ = read_header(*file_, hbytes);
  file_->will_read(header_.tail_offset, header_.tail_length);  // one request when remote
  // Bytes after the end must be a signature trailer (FORMAT.md section 21), else rule F2.
  if (actual > header_.file_size)
    signatures_ = read_signature_trailer(*file_, header_.file_size, actual);
  if (as_base && header_.encrypted() != (base_key != nullptr)) {
    // Rule R3 (FORMAT.md section 11.2): the bases of an unencrypted thin snapshot are not
    // encrypted, those of an encrypted one are (its entries were checked against its own
    // layout, and only an encrypted base is authenticated by the key the thin file holds).
    throw Error(ErrorCode::kUnsupported,
                "'" + name + "' is " + (header_.encrypted() ? "" : "not ") +
                    "encrypted and cannot be the base of " +
                    (base_key != nullptr ? "an encrypted" : "an unencrypted") + " thin snapshot");
  }
  if (header_.encrypted()) {
    unlock(hbytes, password, base_key);
    if (header_.has_base_keys()) read_base_keys();
  } else if (options_.require_encryption) {
    throw Error(ErrorCode::kWrongPassword,
                "'" + name + "' is not encrypted, but " +
                    (password.empty() ? "encryption is required" : "a password was given") +
                    "; refusing it (an encrypted snapshot may have been replaced)");
  }
  std::vector<std::byte> mstored(header_.master_length);
  file_->read_at(header_.master_offset, mstored);
  if (hash::checksum64(mstored.data(), mstored.size()) != header_.master_checksum) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: master index checksum mismatch");
  }
  const std::vector<std::byte> mplain =
      open_section(crypto::NonceDomain::kMasterIndex, std::move(mstored), "master index");
  if (mplain.size() != static_cast<uint64_t>(header_.page_count) * format::kMasterEntrySize) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: invalid master index size");
  }
  const auto* mbytes = reinterpret_cast<const unsigned char*>(mplain.data());
  if (header_.dict_length != 0) {
    std::vector<std::byte> dict(header_.dict_length);
    file_->read_at(header_.dict_offset, dict);
    if (hash::checksum64(dict.data(), dict.size()) != header_.dict_checksum) {
      throw Error(ErrorCode::kCorrupt,
                  "'" + name + "' is corrupt: compression dictionary checksum mismatch");
    }
    dict =
        open_section(crypto::NonceDomain::kDictionary, std::move(dict), "compression dictionary");
    dictionary_ = std::make_unique<codec::Dictionary>(std::move(dict), header_.level);
  }
  std::vector<unsigned char> bbytes;
  if (header_.base_count != 0) {
    bbytes.resize(header_.bases_length);
    file_->read_at(header_.bases_offset, std::as_writable_bytes(std::span(bbytes)));
    if (hash::checksum64(bbytes.data(), bbytes.size()) != header_.bases_checksum) {
      throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: base table checksum mismatch");
    }
    bases_ = format::decode_bases(bbytes, header_.base_count);
  }
  // A file without dictionary and bases whose index digest is zero predates the field: its
  // identity is its index digest (FORMAT.md section 14; nothing else could be swapped).
  attachments_ = read_attachment_table(*file_, header_, cipher_.get());
  const bool has_attachments = (header_.required_features & format::kFeatureAttachments) != 0;
  const bool legacy = header_.index_digest == std::array<unsigned char, 32>{} && !dictionary_ &&
                      header_.base_count == 0 && !has_attachments;
  if (legacy) header_.index_digest = header_.identity;
  // The identity covers the dictionary and the base table (FORMAT.md section 14): a base, or
  // a signed file, whose identity is pinned cannot have them swapped.
  const auto identity = format::compose_identity(
      header_.index_digest, dictionary_ != nullptr,
      dictionary_ ? std::span<const std::byte>(dictionary_->bytes()) : std::span<const std::byte>(),
      header_.base_count != 0, bbytes, has_attachments ? &attachments_.plain : nullptr);
  if (!legacy && identity != header_.identity) {
    throw Error(ErrorCode::kCorrupt, "'" + name +
                                         "' is corrupt: its identity does not match its "
                                         "dictionary, base table, attachments and index digest");
  }
  master_.reserve(header_.page_count);
  for (uint32_t i = 0; i < header_.page_count; ++i) {
    master_.push_back(
        format::decode_master_entry(mbytes + static_cast<size_t>(i) * format::kMasterEntrySize));
  }
  // Each stream's pages must tile [0, logical_size) in order and lie in the data region.
  for (int s = 0; s < kStreamCount; ++s) {
    const auto& rec = header_.streams[s];
    uint64_t expect = 0;
    for (uint32_t p = rec.first_page; p < rec.first_page + rec.page_count; ++p) {
      const auto& m = master_[p];
      if (static_cast<int>(m.stream) != s || m.first_logical != expect ||
          m.offset < format::kHeaderSize || m.offset > header_.tail_offset ||
          m.stored_length > header_.tail_offset - m.offset) {
        throw Error(ErrorCode::kCorrupt,
                    "'" + name + "' is corrupt: master index entry " + num(p) + " is inconsistent");
      }
      // Each entry covers at most max(chunk, 16 MiB) bytes; exact tiling is checked when the
      // next page starts where this one ends (verified at page load).
      expect = m.first_logical + 1;  // strictly increasing
      if (p + 1 < rec.first_page + rec.page_count)
        expect = std::max(expect, master_[p + 1].first_logical);
    }
  }
  if (!options_.trusted_keys.empty()) {
    require_trusted_signature(signatures_, header_.identity, options_.trusted_keys, name);
    check_index_digest(&page_digests_);  // the index is the signed one, and stays so
  }
  if (resolve_bases) {
    for (size_t b = 0; b < bases_.size(); ++b) {
      base_readers_.push_back(open_base(b));
      base_paths_.push_back(base_readers_.back()->file_->name());
    }
  }
  if (options_.verify_reads.value_or(!signatures_.empty())) {
    if (!base_readers_.empty()) chain_ = std::make_unique<ChainDigests>(*this);
    chunk_check_ = std::make_unique<ChunkCheck>(name, cipher_.get(), chain_.get());
  }
  if (options_.record_trace) recorder_ = std::make_unique<TraceRecorder>(header_.index_digest);
  if (!as_base) start_prefetch();
}

namespace {

/// Trace replay: requests are planned over batches of about this many stored bytes, ...
constexpr uint64_t kPrefetchBatch = 4ull << 20;
/// ... neighbours at most this far apart share a request, ...
constexpr uint64_t kPrefetchGap = 64ull << 10;
/// ... and a request fetches at most this much.
constexpr uint64_t kPrefetchRequest = 2ull << 20;
/// Requests in flight at once for a remote snapshot.
constexpr unsigned kPrefetchThreads = 8;
/// Hydration fetches this much per request.
constexpr uint64_t kHydrateRequest = 4ull << 20;

}  // namespace

void SnapshotReader::start_prefetch() {
  std::vector<PrefetchItem> items;
  std::unordered_set<uint32_t> pages_listed;
  std::unordered_set<BlockKey, BlockKeyHash> blocks_listed;
  const auto add_page = [&](uint32_t p) {
    if (!pages_listed.insert(p).second) return;
    const auto& m = master_[p];
    items.push_back({PrefetchItem::Kind::kPage, p, 0, {}, file_.get(), m.offset, m.stored_length});
  };
  const bool has_trace = std::any_of(attachments_.records.begin(), attachments_.records.end(),
                                     [](const auto& r) { return r.name == kTraceAttachmentName; });
  if (options_.prefetch && has_trace) {
    try {
      const Trace trace = decode_trace(read_attachment(kTraceAttachmentName),
                                       "the boot trace of '" + file_->name() + "'");
      if (trace.index_digest != header_.index_digest) {
        throw Error(ErrorCode::kCorrupt,
                    "the boot trace of '" + file_->name() + "' was recorded on another snapshot");
      }
      for (const TraceEvent& e : trace.events) {
        if (e.kind == TraceEvent::Kind::kIndexPage) {
          if (e.page >= master_.size()) {
            throw Error(ErrorCode::kCorrupt, "the boot trace of '" + file_->name() +
                                                 "' names index page " + num(e.page) +
                                                 ", which it does not have");
          }
          add_page(e.page);
          continue;
        }
        if (e.source > bases_.size()) {
          throw Error(ErrorCode::kCorrupt, "the boot trace of '" + file_->name() + "' names base " +
                                               num(e.source) + ", which it does not have");
        }
        // Nowhere to keep decoded blocks, or a base this reader did not open.
        if (options_.block_cache_bytes == 0 || e.source > base_readers_.size()) continue;
        const format::BlockRef ref{e.file_offset, e.checksum, e.stored_length, e.raw_length,
                                   e.codec};
        if (!blocks_listed.insert(BlockKey{e.source, ref}).second) continue;
        const SnapshotReader& holder = e.source == 0 ? *this : *base_readers_[e.source - 1];
        const uint64_t data_end = holder.header_.tail_offset;
        if (ref.offset < format::kHeaderSize || ref.offset > data_end ||
            ref.stored_length > data_end - ref.offset) {
          throw Error(ErrorCode::kCorrupt, "the boot trace of '" + file_->name() +
                                               "' names a block outside the data region (at " +
                                               num(ref.offset) + ")");
        }
        items.push_back({PrefetchItem::Kind::kBlock, 0, e.source, ref, holder.file_.get(),
                         ref.offset, ref.stored_length});
      }
      trace_events_ = trace.events.size();
    } catch (const Error& e) {
      trace_error_ = e.what();
      items.clear();
      pages_listed.clear();
    }
  }
  if (options_.preload_index) {
    // As many pages as about 3/4 of the page cache holds, in file order.
    uint64_t room = options_.page_cache_bytes / 4 * 3;
    for (uint32_t p = 0; p < master_.size(); ++p) {
      if (pages_listed.count(p) != 0) continue;
      if (master_[p].raw_length > room) break;
      room -= master_[p].raw_length;
      add_page(p);
    }
  }
  std::vector<PrefetchJob> jobs =
      plan_prefetch(items, kPrefetchBatch, kPrefetchGap, kPrefetchRequest);
  if (options_.hydrate_bytes_per_second != 0 && file_->remote() &&
      io::cache_dir_for(options_.cache_dir)) {
    for (uint64_t at = 0; at < file_->size(); at += kHydrateRequest) {
      PrefetchJob job;
      job.file = file_.get();
      job.offset = at;
      job.length = std::min(kHydrateRequest, file_->size() - at);
      job.throttled = true;
      jobs.push_back(std::move(job));
    }
  }
  if (jobs.empty()) return;
  prefetcher_ = std::make_unique<Prefetcher>(
      std::move(jobs), file_->remote() ? kPrefetchThreads : 1,
      [this](const PrefetchItem& item) {
        if (item.kind == PrefetchItem::Kind::kPage) {
          load_page(item.page, Use::kPrefetch);
        } else {
          load_block(item.source, item.ref, UINT32_MAX, Use::kPrefetch);
        }
      },
      [this] {
        // Keep at most half the block cache in prefetched blocks no read has used yet; those
        // the cache evicted unused no longer count (they are gone).
        const uint64_t limit = options_.block_cache_bytes / 2;
        std::lock_guard lock(prefetched_mu_);
        if (unused_raw_ < limit) return true;
        for (auto it = unused_.begin(); it != unused_.end();) {
          if (blocks_.contains(it->first)) {
            ++it;
            continue;
          }
          unused_stored_ -= it->second.first;
          unused_raw_ -= it->second.second;
          evicted_unused_bytes_ += it->second.first;
          it = unused_.erase(it);
        }
        return unused_raw_ < limit;
      },
      options_.hydrate_bytes_per_second);
}

void SnapshotReader::note_use(const BlockKey& key) const {
  if (!prefetcher_) return;
  {
    std::lock_guard lock(prefetched_mu_);
    const auto it = unused_.find(key);
    if (it == unused_.end()) return;
    unused_stored_ -= it->second.first;
    unused_raw_ -= it->second.second;
    unused_.erase(it);
  }
  prefetcher_->wake();
}

ReadStats SnapshotReader::stats() const {
  ReadStats r;
  r.demand_block_misses = demand_block_misses_.load();
  r.demand_page_misses = demand_page_misses_.load();
  r.demand_waits = demand_waits_.load();
  r.prefetched_pages = prefetched_pages_.load();
  r.prefetched_blocks = prefetched_blocks_.load();
  r.prefetched_bytes = prefetched_bytes_.load();
  {
    std::lock_guard lock(prefetched_mu_);
    r.prefetched_unused_bytes = unused_stored_ + evicted_unused_bytes_;
  }
  r.trace_events = trace_events_;
  r.prefetch_done = !prefetcher_ || prefetcher_->done();
  r.trace_error = trace_error_;
  const auto add = [&](const io::ReadableFile& f) {
    const auto s = f.stats();
    r.remote_requests += s.requests;
    r.remote_bytes += s.bytes;
  };
  add(*file_);
  for (const auto& b : base_readers_) add(*b->file_);
  return r;
}

std::vector<std::byte> SnapshotReader::recorded_trace() const {
  if (!recorder_) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + file_->name() + "' was not opened to record a trace (record_trace)");
  }
  return recorder_->encoded();
}

void SnapshotReader::wait_for_prefetch() const {
  if (prefetcher_) prefetcher_->wait();
}

void SnapshotReader::check_index_digest(std::vector<hash::ChunkDigest>* pinned) const {
  hash::Blake3 digest;
  std::vector<hash::ChunkDigest> pages;
  for (uint32_t p = 0; p < header_.page_count; ++p) {
    const std::vector<unsigned char> raw = read_page_bytes(p);
    digest.update(raw.data(), raw.size());
    if (pinned != nullptr) pages.push_back(hash::chunk_digest(raw.data(), raw.size()));
  }
  format::absorb_identity_trailer(digest, header_.streams);
  if (digest.finish() != header_.index_digest) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() +
                                         "' is corrupt: its index pages do not match its "
                                         "identity (index digest mismatch)");
  }
  if (pinned != nullptr) *pinned = std::move(pages);
}

void SnapshotReader::check_base_index_digests() const {
  if (base_readers_.size() != bases_.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + file_->name() + "': its base snapshots were not opened");
  }
  for (const auto& base : base_readers_) base->check_index_digest();
}

namespace {

bool file_exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

}  // namespace

std::unique_ptr<SnapshotReader> SnapshotReader::open_base(size_t index) const {
  const auto& rec = bases_[index];
  std::vector<std::string> dirs{io::parent_of(file_->name())};
  for (const auto& d : options_.base_dirs) dirs.push_back(d);
  if (const char* env = std::getenv("HEXZ_BASE_PATH")) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      const size_t colon = list.find(':', start);
      const std::string d =
          list.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
      if (!d.empty()) dirs.push_back(d);
      if (colon == std::string::npos) break;
      start = colon + 1;
    }
  }
  const std::string want = hash::to_hex(rec.identity.data(), rec.identity.size());
  std::string mismatch;
  for (const auto& d : dirs) {
    const std::string candidate = d + "/" + rec.name;
    if (!io::is_remote(candidate) && !file_exists(candidate)) continue;
    OpenOptions base_options = options_;
    base_options.threads = 1;
    base_options.verify_reads = false;  // this reader checks the chunks it takes from a base
    base_options.password.clear();      // an encrypted thin snapshot holds its bases' keys
    base_options.require_encryption = false;
    base_options.trusted_keys.clear();  // the thin snapshot's identity pins its bases
    const crypto::Key* key = cipher_ && index < base_keys_.size() ? &base_keys_[index] : nullptr;
    std::unique_ptr<SnapshotReader> reader;
    try {
      reader = std::make_unique<SnapshotReader>(io::open_storage(candidate, storage_options()),
                                                base_options, false, true, key);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kNotFound && io::is_remote(candidate)) continue;  // absent
      if (e.code() == ErrorCode::kUnsupported) {
        throw Error(e.code(), "base snapshot of '" + file_->name() + "': " + e.what());
      }
      mismatch = candidate + " cannot be used (" + e.what() + ")";  // keep searching
      continue;
    }
    // The identity decides (FORMAT.md section 11.4); file_size is informative: a base whose
    // attachment region was moved in place keeps its identity but not its size.
    if (reader->header_.identity == rec.identity) {
      // Rule R4: the whole chain keys its chunk digests alike, so that this file's digests and
      // its bases' compare (FORMAT.md section 12.2).
      if (key != nullptr && CRYPTO_memcmp(reader->cipher_->dedup_key().data(),
                                          cipher_->dedup_key().data(), 32) != 0) {
        throw Error(ErrorCode::kCorrupt, "'" + file_->name() +
                                             "' is corrupt: its dedup key is "
                                             "not that of its base '" +
                                             rec.name + "'");
      }
      return reader;
    }
    mismatch = candidate + " has identity " +
               hash::to_hex(reader->header_.identity.data(), 32).substr(0, 16) + "…";
  }
  if (!mismatch.empty()) {
    throw Error(ErrorCode::kCorrupt, "base snapshot of '" + file_->name() + "' does not match: " +
                                         mismatch + ", but it was packed against '" + rec.name +
                                         "' with identity " + want.substr(0, 16) + "…");
  }
  std::string searched;
  for (const auto& d : dirs) searched += (searched.empty() ? "" : ", ") + d;
  throw Error(ErrorCode::kNotFound, "base snapshot '" + rec.name + "' of '" + file_->name() +
                                        "' not found (searched " + searched +
                                        "; use --base-dir or HEXZ_BASE_PATH)");
}

void SnapshotReader::for_each_entry(
    Stream stream, const std::function<void(uint64_t, const format::IndexEntry&)>& fn) const {
  const auto& rec = header_.streams[static_cast<int>(stream)];
  for (uint32_t p = rec.first_page; p < rec.first_page + rec.page_count; ++p) {
    const auto page = load_page(p);
    for (uint32_t i = 0; i < page->entry_count(); ++i) fn(page->entry_offset(i), page->entry(i));
  }
}

void SnapshotReader::for_each_stored_chunk(
    const std::function<void(uint8_t, const format::IndexEntry&)>& fn) const {
  if (base_readers_.size() != bases_.size()) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + file_->name() + "': its base snapshots were not opened");
  }
  for (size_t k = 0; k <= base_readers_.size(); ++k) {
    const SnapshotReader& holder = k == 0 ? *this : *base_readers_[k - 1];
    for (int s = 0; s < kStreamCount; ++s) {
      if (!holder.has_stream(static_cast<Stream>(s))) continue;
      holder.for_each_entry(static_cast<Stream>(s), [&](uint64_t, const format::IndexEntry& e) {
        if (e.has_digest()) fn(static_cast<uint8_t>(k), e);
      });
    }
  }
}

SnapshotReader::~SnapshotReader() {
  for (auto& k : base_keys_) crypto::wipe(k.data(), k.size());
}

void SnapshotReader::read_base_keys() {
  const std::string& name = file_->name();
  std::vector<std::byte> stored(header_.base_keys_length);
  file_->read_at(header_.base_keys_offset, stored);
  if (hash::checksum64(stored.data(), stored.size()) != header_.base_keys_checksum) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: base key table checksum mismatch");
  }
  std::vector<std::byte> plain(format::base_key_table_size(header_.base_count));
  struct WipeOnExit {
    std::vector<std::byte>& v;
    ~WipeOnExit() { crypto::wipe(v.data(), v.size()); }
  } wipe_plain{plain};
  if (stored.size() != plain.size() + crypto::kTagSize ||
      !cipher_->open_base_keys(header_.base_count, stored, plain)) {
    throw Error(ErrorCode::kCorrupt,
                "'" + name + "' failed authentication: the base key table was modified");
  }
  crypto::Key dedup;
  std::memcpy(dedup.data(), plain.data(), dedup.size());
  cipher_->use_dedup_key(dedup);
  crypto::wipe(dedup.data(), dedup.size());
  base_keys_.resize(header_.base_count);
  for (uint32_t k = 0; k < header_.base_count; ++k) {
    std::memcpy(base_keys_[k].data(), plain.data() + 32 * (static_cast<size_t>(k) + 1), 32);
  }
}

void SnapshotReader::unlock(std::span<const unsigned char, format::kHeaderSize> header_bytes,
                            const std::string& password, const crypto::Key* master) {
  const std::string& name = file_->name();
  if (master != nullptr) {
    // A base of an encrypted thin snapshot: its key comes from that snapshot, no KDF runs.
    cipher_ = std::make_unique<crypto::SnapshotCipher>(*master, header_.encryption);
  } else {
    if (password.empty()) {
      throw Error(ErrorCode::kWrongPassword, "'" + name +
                                                 "' is encrypted: a password is needed (prompt, "
                                                 "HEXZ_PASSWORD or --password-file)");
    }
    // Rule K2 with this reader's cap: refuse a costly key derivation before running it.
    crypto::check_kdf_cost(
        header_.encryption.kdf,
        crypto::kdf_cap_for(options_.max_kdf_memory_kib, options_.max_kdf_iterations), name);
    cipher_ = std::make_unique<crypto::SnapshotCipher>(password, header_.encryption);
  }
  const auto check =
      cipher_->key_check(header_bytes.subspan(format::kKdfFieldsOffset, format::kKdfFieldsSize));
  if (CRYPTO_memcmp(check.data(), header_.encryption.key_check.data(), check.size()) != 0) {
    throw Error(ErrorCode::kWrongPassword,
                master != nullptr ? "'" + name +
                                        "' is not the base the thin snapshot holds a key for "
                                        "(its key check fails)"
                                  : "wrong password or not this snapshot's key ('" + name + "')");
  }
  const auto mac = cipher_->header_mac(format::header_mac_input(header_bytes));
  if (CRYPTO_memcmp(mac.data(), header_.encryption.header_mac.data(), mac.size()) != 0) {
    throw Error(ErrorCode::kCorrupt,
                "'" + name + "' failed authentication: the header was modified");
  }
}

std::vector<std::byte> SnapshotReader::open_section(crypto::NonceDomain domain,
                                                    std::vector<std::byte> stored,
                                                    const char* what) const {
  if (!cipher_) return stored;
  std::vector<std::byte> plain(stored.size() < crypto::kTagSize ? 0
                                                                : stored.size() - crypto::kTagSize);
  if (!cipher_->open_section(domain, stored, plain)) {
    throw Error(ErrorCode::kCorrupt,
                "'" + file_->name() + "' failed authentication: the " + what + " was modified");
  }
  return plain;
}

std::vector<AttachmentInfo> SnapshotReader::attachments() const {
  std::vector<AttachmentInfo> out;
  for (const auto& r : attachments_.records) out.push_back({r.name, r.raw_length, r.stored_length});
  return out;
}

std::vector<std::byte> SnapshotReader::read_attachment(const std::string& name) const {
  std::string names;
  for (size_t i = 0; i < attachments_.records.size(); ++i) {
    if (attachments_.records[i].name == name) {
      return read_attachment_content(*file_, header_, cipher_.get(), attachments_, i);
    }
    names += (names.empty() ? "" : ", ") + attachments_.records[i].name;
  }
  throw Error(ErrorCode::kNotFound, "'" + file_->name() + "' has no attachment '" + name + "' (" +
                                        (names.empty() ? "it has none" : "it has: " + names) + ")");
}

bool SnapshotReader::has_stream(Stream stream) const {
  return header_.streams[static_cast<int>(stream)].present != 0;
}

uint64_t SnapshotReader::size(Stream stream) const {
  return header_.streams[static_cast<int>(stream)].logical_size;
}

void SnapshotReader::check_range(Stream stream, uint64_t offset, uint64_t length) const {
  if (!has_stream(stream)) {
    throw Error(ErrorCode::kOutOfRange,
                "snapshot '" + file_->name() + "' has no " + stream_name(stream) + " stream");
  }
  const uint64_t size = this->size(stream);
  if (offset > size || length > size - offset) {
    throw Error(ErrorCode::kOutOfRange, "read of " + num(length) + " bytes at offset " +
                                            num(offset) + " is past the end of the " +
                                            stream_name(stream) + " stream (size " + num(size) +
                                            ")");
  }
}

uint32_t SnapshotReader::page_for(Stream stream, uint64_t offset) const {
  const auto& rec = header_.streams[static_cast<int>(stream)];
  const auto first = master_.begin() + rec.first_page;
  const auto last = first + rec.page_count;
  auto it = std::upper_bound(first, last, offset, [](uint64_t off, const format::MasterEntry& m) {
    return off < m.first_logical;
  });
  if (it == first) throw Error(ErrorCode::kCorrupt, "index does not cover offset " + num(offset));
  return static_cast<uint32_t>((it - 1) - master_.begin());
}

std::vector<unsigned char> SnapshotReader::read_page_bytes(uint32_t page) const {
  const auto& m = master_[page];
  std::vector<std::byte> stored(m.stored_length);
  file_->read_at(m.offset, stored);
  const std::string where = "index page " + num(page) + " (" + stream_name(m.stream) +
                            " stream, at file offset " + num(m.offset) + ")";
  if (hash::checksum64(stored.data(), stored.size()) != m.checksum) {
    throw Error(ErrorCode::kCorrupt,
                "'" + file_->name() + "' is corrupt: " + where + " failed its checksum");
  }
  if (cipher_) {
    std::vector<std::byte> plain(
        stored.size() < crypto::kTagSize ? 0 : stored.size() - crypto::kTagSize);
    if (!cipher_->open_page(page, format::page_aead_context(m), stored, plain)) {
      throw Error(ErrorCode::kCorrupt,
                  "'" + file_->name() + "' failed authentication: " + where + " was modified");
    }
    stored = std::move(plain);
  }
  std::vector<unsigned char> raw(m.raw_length);
  try {
    thread_decompressor().decompress(m.codec, stored, std::as_writable_bytes(std::span(raw)));
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorrupt,
                "'" + file_->name() + "' is corrupt: " + where + ": " + e.what());
  }
  if (!page_digests_.empty() &&
      !(hash::chunk_digest(raw.data(), raw.size()) == page_digests_[page])) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() + "' is corrupt: " + where +
                                         " changed after it was checked against the signed "
                                         "identity");
  }
  return raw;
}

size_t SnapshotReader::BlockKeyHash::operator()(const BlockKey& k) const {
  uint64_t h = k.ref.offset * 0x9E3779B97F4A7C15ull;
  h ^= (static_cast<uint64_t>(k.source) << 56) ^ k.ref.checksum;
  h ^=
      (static_cast<uint64_t>(k.ref.stored_length) << 32 | k.ref.raw_length) * 0xC2B2AE3D27D4EB4Full;
  h ^= static_cast<uint64_t>(k.ref.codec) << 48;
  return static_cast<size_t>(h ^ (h >> 29));
}

std::shared_ptr<const IndexPage> SnapshotReader::load_page(uint32_t page, Use use) const {
  if (auto hit = pages_.get(page)) return hit;
  auto decoded = decode_page(page);
  if (use == Use::kDemand) ++demand_page_misses_;
  if (use == Use::kPrefetch) ++prefetched_pages_;
  pages_.put(page, decoded, decoded->cost());
  return decoded;
}

std::shared_ptr<const IndexPage> SnapshotReader::demand_page(Stream stream, uint64_t offset) const {
  const uint32_t p = page_for(stream, offset);
  if (recorder_) recorder_->page(stream, p, offset);
  return load_page(p, Use::kDemand);
}

std::shared_ptr<const IndexPage> SnapshotReader::decode_page(
    uint32_t page, std::vector<unsigned char>* raw) const {
  const auto& m = master_[page];
  std::vector<unsigned char> bytes = read_page_bytes(page);
  if (raw != nullptr) *raw = bytes;
  auto decoded =
      std::make_shared<const IndexPage>(std::move(bytes), m, header_.base_count, stored_overhead());
  // The page must end where the next page (or the stream) begins.
  const auto& rec = header_.streams[static_cast<int>(m.stream)];
  const uint64_t expected_end = page + 1 < rec.first_page + rec.page_count
                                    ? master_[page + 1].first_logical
                                    : rec.logical_size;
  if (decoded->end_offset() != expected_end) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() + "' is corrupt: index page " + num(page) +
                                         " does not cover its range of the " +
                                         stream_name(m.stream) + " stream");
  }
  return decoded;
}

std::shared_ptr<const SnapshotReader::Block> SnapshotReader::fetch_block(
    uint8_t source, const format::BlockRef& ref, uint32_t need) const {
  if (source != 0) {
    if (source > base_readers_.size()) {
      throw Error(ErrorCode::kInternal,
                  "base snapshot " + num(source) + " of '" + file_->name() + "' is not open");
    }
    return base_readers_[source - 1]->fetch_local_block(ref, need);
  }
  return fetch_local_block(ref, need);
}

std::shared_ptr<const SnapshotReader::Block> SnapshotReader::fetch_local_block(
    const format::BlockRef& ref, uint32_t need) const {
  if (ref.offset < format::kHeaderSize || ref.offset > header_.tail_offset ||
      ref.stored_length > header_.tail_offset - ref.offset) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() + "' is corrupt: block location " +
                                         num(ref.offset) + " lies outside the data region");
  }
  // The entry may come from a thin snapshot, whose pages were checked against its own (not
  // this file's) encryption overhead: check the stored form against this file's rules here.
  if (ref.stored_length <= stored_overhead() ||
      (ref.codec == Codec::kNone && ref.stored_length != ref.raw_length + stored_overhead())) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() + "' is corrupt: block at file offset " +
                                         num(ref.offset) + " has an invalid stored length");
  }
  Block stored(ref.stored_length);
  file_->read_at(ref.offset, stored);
  if (cipher_) {
    // Integrity comes from the GCM tag; the checksum field holds the block's sequence number.
    Block plain(stored.size() - crypto::kTagSize);
    if (!cipher_->open_block(ref.checksum, ref.raw_length, ref.codec, stored, plain)) {
      throw Error(ErrorCode::kCorrupt, "'" + file_->name() +
                                           "' failed authentication: data block at file offset " +
                                           num(ref.offset) + " was modified or moved");
    }
    stored = std::move(plain);
  } else if (hash::checksum64(stored.data(), stored.size()) != ref.checksum) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() +
                                         "' is corrupt: data block at file offset " +
                                         num(ref.offset) + " failed its checksum");
  }
  if (ref.codec == Codec::kNone) {
    if (stored.size() != ref.raw_length) {
      throw Error(ErrorCode::kCorrupt, "'" + file_->name() +
                                           "' is corrupt: raw block at file offset " +
                                           num(ref.offset) + " has the wrong size");
    }
    return std::make_shared<const Block>(std::move(stored));
  }
  auto block = std::make_shared<Block>(ref.raw_length);
  try {
    const size_t valid = thread_decompressor().decompress_prefix(
        ref.codec, stored, *block, std::min(need, ref.raw_length), dictionary_.get());
    block->resize(valid);
  } catch (const Error& e) {
    throw Error(ErrorCode::kCorrupt, "'" + file_->name() +
                                         "' is corrupt: data block at file offset " +
                                         num(ref.offset) + ": " + e.what());
  }
  return block;
}

std::shared_ptr<const SnapshotReader::Block> SnapshotReader::load_block(uint8_t source,
                                                                        const format::BlockRef& ref,
                                                                        uint32_t need,
                                                                        Use use) const {
  const BlockKey key{source, ref};
  need = std::min(need, ref.raw_length);
  // A cached prefix that falls short: decode the whole block this time, not a longer prefix,
  // so that reading a block chunk by chunk decodes it at most twice.
  bool had_prefix = false;
  std::optional<std::promise<std::shared_ptr<const Block>>> promise;  // made on a miss only
  for (;;) {
    if (auto hit = blocks_.get(key)) {
      if (hit->size() >= need) {
        if (use == Use::kDemand) note_use(key);
        return hit;
      }
      had_prefix = true;
    }
    std::unique_lock lock(inflight_mu_);
    auto it = inflight_.find(key);
    if (it == inflight_.end()) {
      promise.emplace();
      inflight_.emplace(key, promise->get_future().share());
      break;
    }
    auto fut = it->second;
    lock.unlock();
    if (use == Use::kDemand) ++demand_waits_;
    if (auto b = fut.get(); b->size() >= need) {
      if (use == Use::kDemand) note_use(key);
      return b;
    }
    had_prefix = true;  // another thread decoded too short a prefix; try again
  }
  std::shared_ptr<const Block> block;
  try {
    if (use == Use::kDemand) ++demand_block_misses_;
    block = fetch_block(source, ref, had_prefix ? ref.raw_length : need);
    blocks_.put(key, block, block->capacity() + sizeof(Block));
    if (use == Use::kPrefetch) {
      ++prefetched_blocks_;
      prefetched_bytes_ += ref.stored_length;
      std::lock_guard plock(prefetched_mu_);
      if (unused_.emplace(key, std::make_pair(ref.stored_length, ref.raw_length)).second) {
        unused_stored_ += ref.stored_length;
        unused_raw_ += ref.raw_length;
      }
    }
    promise->set_value(block);
  } catch (...) {
    promise->set_exception(std::current_exception());
    std::lock_guard lock(inflight_mu_);
    inflight_.erase(key);
    throw;
  }
  std::lock_guard lock(inflight_mu_);
  inflight_.erase(key);
  return block;
}

void SnapshotReader::for_each_block(
    Stream stream, uint64_t offset, uint64_t length,
    const std::function<void(uint8_t, const format::BlockRef&)>& fn) const {
  const uint64_t end = offset + length;
  uint64_t at = offset;
  std::optional<BlockKey> last;
  while (at < end) {
    const auto page = load_page(page_for(stream, at));
    for (uint32_t i = page->find(at); i < page->entry_count() && at < end; ++i) {
      const auto& e = page->entry(i);
      if (e.kind == format::ChunkKind::kData && !(last && *last == BlockKey{e.source, e.block})) {
        last = BlockKey{e.source, e.block};
        fn(e.source, e.block);
      }
      at = page->entry_offset(i + 1);
    }
  }
}

void SnapshotReader::prefetch(Stream stream, uint64_t offset, uint64_t length,
                              size_t skip_first) const {
  if (!pool_ || length == 0) return;
  size_t n = 0;
  for_each_block(stream, offset, length, [&](uint8_t source, const format::BlockRef& ref) {
    const BlockKey key{source, ref};
    if (n++ < skip_first || blocks_.get(key)) return;
    {
      std::lock_guard lock(inflight_mu_);
      if (inflight_.count(key) != 0) return;
    }
    pool_->submit([this, source, ref](size_t) {
      try {
        load_block(source, ref);
      } catch (const std::exception&) {
        // A prefetch failure surfaces when (and if) the block is really read.
      }
      return 0;
    });
  });
}

void SnapshotReader::read(Stream stream, uint64_t offset, std::span<std::byte> out) const {
  check_range(stream, offset, out.size());
  const int s = static_cast<int>(stream);
  const uint64_t end = offset + out.size();
  if (pool_) {
    // Multi-block reads: decode all but the first block on the pool while we do the first.
    if (out.size() > header_.block_size) prefetch(stream, offset, out.size(), 1);
    // Sequential reader: keep decoded ahead of it twice what it has read in a row so far (up
    // to readahead_bytes), so that a reader that jumps around does not pull in what it never
    // reads, and one that streams soon has readahead_bytes ahead.
    const bool sequential = offset == last_end_[s].load(std::memory_order_relaxed) && offset != 0;
    uint64_t run = out.size();
    if (sequential) {
      run += sequential_bytes_[s].fetch_add(out.size(), std::memory_order_relaxed);
    } else {
      sequential_bytes_[s].store(out.size(), std::memory_order_relaxed);
    }
    if (options_.readahead_bytes != 0 && sequential) {
      const uint64_t window = std::min(options_.readahead_bytes, 2 * run);
      uint64_t mark = readahead_mark_[s].load(std::memory_order_relaxed);
      if (mark < end || mark > end + window) mark = end;  // another run's mark
      const uint64_t want = std::min(size(stream), end + window);
      if (mark < want && want - mark >= window / 2) {
        readahead_mark_[s].store(want, std::memory_order_relaxed);
        prefetch(stream, mark, want - mark, 0);
      }
    }
    last_end_[s].store(end, std::memory_order_relaxed);
  }
  size_t done = 0;
  std::optional<BlockKey> ahead_key;  // the block whose later chunks ahead_need covers
  uint64_t ahead_need = 0;
  while (done < out.size()) {
    const uint64_t at = offset + done;
    const auto page = demand_page(stream, at);
    for (uint32_t i = page->find(at); i < page->entry_count() && done < out.size(); ++i) {
      const auto& e = page->entry(i);
      const uint64_t cur = offset + done;
      const uint64_t within = cur - page->entry_offset(i);
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(e.length - within, out.size() - done));
      if (e.kind == format::ChunkKind::kZero) {
        std::memset(out.data() + done, 0, n);
      } else {
        // Entries sharing a block must agree on its size; a crafted file might not.
        // A verified read decodes (and hashes) the whole chunk, not just the part it returns.
        uint64_t need =
            static_cast<uint64_t>(e.offset_in_block) + (chunk_check_ ? e.length : within + n);
        // A read that goes on past this chunk decodes at once as much of the block as its later
        // chunks need: decoding a prefix for the first chunk and the whole block for the
        // second checksummed and decoded every block twice in a sequential read (callgrind).
        if (!(ahead_key && *ahead_key == BlockKey{e.source, e.block})) {
          ahead_key = BlockKey{e.source, e.block};
          ahead_need = 0;
          uint64_t at_j = page->entry_offset(i + 1);
          for (uint32_t j = i + 1; j < page->entry_count() && at_j < end; ++j) {
            const auto& f = page->entry(j);
            if (f.kind == format::ChunkKind::kData) {
              if (!(f.source == e.source && f.block == e.block)) break;
              ahead_need = std::max<uint64_t>(
                  ahead_need,
                  f.offset_in_block +
                      (chunk_check_ ? f.length : std::min<uint64_t>(f.length, end - at_j)));
            }
            at_j = page->entry_offset(j + 1);
          }
        }
        need = std::max(need, ahead_need);
        if (recorder_) recorder_->block(stream, e.source, e.block, cur);
        const auto block = load_block(
            e.source, e.block, static_cast<uint32_t>(std::min<uint64_t>(need, e.block.raw_length)),
            Use::kDemand);
        if (chunk_check_) chunk_check_->check_once(stream, page->entry_offset(i), e, block);
        if (need > block->size()) {
          throw Error(ErrorCode::kCorrupt, "'" + file_->name() + "' is corrupt: a chunk at " +
                                               stream_name(stream) + " offset " + num(cur) +
                                               " lies outside its block");
        }
        std::memcpy(out.data() + done, block->data() + e.offset_in_block + within, n);
      }
      done += n;
    }
  }
}

void SnapshotReader::for_each_extent(
    Stream stream, uint64_t offset, uint64_t length,
    const std::function<void(uint64_t, uint64_t, bool)>& fn) const {
  check_range(stream, offset, length);
  const uint64_t end = offset + length;
  uint64_t run_start = offset;
  uint64_t run_end = offset;
  bool run_zero = false;
  uint64_t at = offset;
  while (at < end) {
    const auto page = demand_page(stream, at);
    for (uint32_t i = page->find(at); i < page->entry_count() && at < end; ++i) {
      const bool zero = page->entry(i).kind == format::ChunkKind::kZero;
      const uint64_t e_end = std::min(page->entry_offset(i + 1), end);
      if (run_end > run_start && zero != run_zero) {
        fn(run_start, run_end - run_start, run_zero);
        run_start = at;
      }
      run_zero = zero;
      run_end = e_end;
      at = e_end;
    }
  }
  if (run_end > run_start) fn(run_start, run_end - run_start, run_zero);
}

ChunkPlacement SnapshotReader::locate(Stream stream, uint64_t offset) const {
  check_range(stream, offset, 1);
  const auto page = demand_page(stream, offset);
  const uint32_t i = page->find(offset);
  const format::IndexEntry& e = page->entry(i);
  const bool zero = e.kind == format::ChunkKind::kZero;
  // Neighbours belong to the run if they are zero chunks too, or data of the same block.
  const auto same = [&](const format::IndexEntry& other) {
    if (zero) return other.kind == format::ChunkKind::kZero;
    return other.kind == format::ChunkKind::kData && other.source == e.source &&
           other.block == e.block;
  };
  uint32_t lo = i;
  while (lo > 0 && same(page->entry(lo - 1))) --lo;
  uint32_t hi = i + 1;
  while (hi < page->entry_count() && same(page->entry(hi))) ++hi;
  ChunkPlacement p;
  p.chunk_offset = page->entry_offset(i);
  p.chunk_length = e.length;
  p.zero = zero;
  p.run_offset = page->entry_offset(lo);
  p.run_length = page->entry_offset(hi) - p.run_offset;
  return p;
}

SnapshotInfo SnapshotReader::info() const {
  SnapshotInfo i = header_info(header_);
  i.header_only = false;
  i.attachments = attachments();
  for (const auto& sig : signatures_) {
    i.signature_keys_hex.push_back(hash::to_hex(sig.key.data(), sig.key.size()));
  }
  i.index_pages = master_.size();
  i.index_bytes = header_.master_length;
  for (const auto& m : master_) i.index_bytes += m.stored_length;
  for (size_t b = 0; b < bases_.size(); ++b) {
    BaseInfo bi;
    bi.name = bases_[b].name;
    bi.path = b < base_paths_.size() ? base_paths_[b] : "";
    bi.identity_hex = hash::to_hex(bases_[b].identity.data(), bases_[b].identity.size());
    i.bases.push_back(bi);
  }
  if (header_.encrypted()) {
    // Counters are not in the plaintext header: derive them from the index, as the writer
    // counted them (a data chunk is a duplicate if it refers to a base or its stored copy was
    // seen before; a block of this file belongs to the stream that first stored it).
    std::set<std::pair<uint64_t, uint32_t>> seen_chunks;
    std::unordered_set<uint64_t> seen_blocks;
    for (int s = 0; s < kStreamCount; ++s) {
      auto& o = i.streams[s];
      for_each_entry(static_cast<Stream>(s), [&](uint64_t, const format::IndexEntry& e) {
        ++o.chunks;
        if (e.kind == format::ChunkKind::kZero) {
          ++o.zero_chunks;
          return;
        }
        if (e.source != 0) {  // an encrypted thin snapshot's chunk stored in a base
          ++o.dup_chunks;
          return;
        }
        const uint64_t block_key = e.block.offset;
        if (!seen_chunks.insert({block_key, e.offset_in_block}).second) {
          ++o.dup_chunks;
        } else if (seen_blocks.insert(block_key).second) {
          ++o.blocks;
          o.stored_bytes += e.block.stored_length;
        }
      });
    }
  }
  for (int s = 0; s < kStreamCount; ++s) {
    for_each_entry(static_cast<Stream>(s), [&](uint64_t, const format::IndexEntry& e) {
      i.chunk_histogram[std::bit_width(e.length) - 1]++;
      if (e.source != 0) i.bases[e.source - 1].bytes_referenced[s] += e.length;
    });
  }
  return i;
}

namespace {

/// Adds one problem to a report (keeping at most kMaxVerifyProblems of them).
void add_problem(VerifyReport& report, VerifyProblem::Kind kind, std::string message) {
  if (report.ok) report.first_error = message;
  report.ok = false;
  ++report.problem_count;
  if (report.problems.size() < kMaxVerifyProblems) {
    report.problems.push_back({kind, std::move(message)});
  }
}

/// Adds the problem an exception describes; rethrows an abort requested by the caller.
void add_problem(VerifyReport& report, const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kAborted) throw;
    const bool unreadable = e.code() == ErrorCode::kIo || e.code() == ErrorCode::kNotFound;
    add_problem(report,
                unreadable ? VerifyProblem::Kind::kUnreadable : VerifyProblem::Kind::kCorrupt,
                e.what());
  } catch (const std::bad_alloc&) {
    add_problem(report, VerifyProblem::Kind::kUnreadable, "out of memory while verifying");
  } catch (const std::exception& e) {
    add_problem(report, VerifyProblem::Kind::kCorrupt, e.what());
  }
}

}  // namespace

VerifyReport SnapshotReader::verify(const ProgressFn& progress) const {
  // Every check below goes through the functions read() uses (decode_page, load_block), so a
  // file that verifies reads back; verify only adds the digest, counter and identity checks.
  VerifyReport report;
  uint64_t total = 0;
  for (const auto& r : header_.streams) total += r.logical_size;
  uint64_t done = 0;
  hash::Blake3 identity;
  bool identity_known = true;  // false once a page could not be hashed
  std::unordered_set<BlockKey, BlockKeyHash> good_blocks;
  std::unordered_set<BlockKey, BlockKeyHash> bad_blocks;  // reported once, then skipped
  std::optional<ChainDigests> chain;  // digests of the chunks referenced in bases
  try {
    chain.emplace(*this);
  } catch (...) {
    add_problem(report, std::current_exception());
  }
  std::optional<ChunkCheck> checker;  // the per-chunk check verified reads use
  if (chain) checker.emplace(file_->name(), cipher_.get(), &*chain);
  for (int s = 0; s < kStreamCount; ++s) {
    const auto& rec = header_.streams[s];
    const Stream stream = static_cast<Stream>(s);
    uint64_t chunks = 0;
    uint64_t zeros = 0;
    uint64_t covered = 0;
    bool complete = true;  // every page of the stream decoded
    for (uint32_t p = rec.first_page; p < rec.first_page + rec.page_count; ++p) {
      std::vector<unsigned char> raw;
      std::shared_ptr<const IndexPage> page;
      try {
        page = decode_page(p, &raw);
      } catch (...) {
        add_problem(report, std::current_exception());
        complete = identity_known = false;
        continue;
      }
      identity.update(raw.data(), raw.size());
      for (uint32_t i = 0; i < page->entry_count(); ++i) {
        const auto& e = page->entry(i);
        ++chunks;
        covered += e.length;
        if (e.kind == format::ChunkKind::kZero) {
          ++zeros;
          continue;
        }
        const BlockKey key{e.source, e.block};
        if (bad_blocks.count(key) != 0) continue;
        try {
          const auto block = load_block(e.source, e.block);
          if (good_blocks.insert(key).second) ++report.blocks_checked;
          if (!checker) continue;  // already reported: the bases' digests could not be read
          checker->check(stream, page->entry_offset(i), e, *block);  // as verified reads do
          ++report.chunks_checked;
        } catch (...) {
          if (good_blocks.count(key) == 0) bad_blocks.insert(key);
          add_problem(report, std::current_exception());
        }
      }
      done += page->end_offset() - master_[p].first_logical;
      if (progress) progress(done, total);
    }
    const bool counted = !header_.encrypted();  // encrypted headers carry no counters
    if (complete && (covered != rec.logical_size ||
                     (counted && (chunks != rec.chunks || zeros != rec.zero_chunks)))) {
      add_problem(report, VerifyProblem::Kind::kCorrupt,
                  "'" + file_->name() + "' is corrupt: the " + stream_name(stream) +
                      " stream index does not match the header's counts");
    }
  }
  if (identity_known) {
    format::absorb_identity_trailer(identity, header_.streams);
    if (identity.finish() != header_.index_digest) {
      add_problem(report, VerifyProblem::Kind::kCorrupt,
                  "'" + file_->name() +
                      "' is corrupt: the snapshot identity does not match its "
                      "index");
    }
  }
  for (size_t a = 0; a < attachments_.records.size(); ++a) {
    try {
      read_attachment_content(*file_, header_, cipher_.get(), attachments_, a);
    } catch (...) {
      add_problem(report, std::current_exception());
    }
  }
  if (progress && report.ok) progress(total, total);
  return report;
}

}  // namespace hexz::read

namespace hexz {

SnapshotInfo Snapshot::peek(const std::string& path, const OpenOptions& options) {
  const auto file = io::open_storage(path, {options.endpoint, options.cache_dir});
  std::array<unsigned char, format::kHeaderSize> bytes{};
  const format::Header h = read::read_header(*file, bytes);
  SnapshotInfo info = read::header_info(h);
  // What the clear tail says too: an unencrypted file's attachment table, and the signatures.
  if (!h.encrypted() && (h.required_features & format::kFeatureAttachments) != 0) {
    file->will_read(h.tail_offset, h.tail_length);
    for (const auto& r : read::read_attachment_table(*file, h, nullptr).records) {
      info.attachments.push_back({r.name, r.raw_length, r.stored_length});
    }
  }
  if (file->size() > h.file_size) {
    for (const auto& sig : read::read_signature_trailer(*file, h.file_size, file->size())) {
      info.signature_keys_hex.push_back(hash::to_hex(sig.key.data(), sig.key.size()));
    }
  }
  return info;
}

std::unique_ptr<Snapshot> Snapshot::open(const std::string& path, const OpenOptions& options) {
  return std::make_unique<read::SnapshotReader>(
      io::open_storage(path, {options.endpoint, options.cache_dir}), options, true);
}

}  // namespace hexz
