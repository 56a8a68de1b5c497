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
#include "io/url.hpp"
#include "read/chain_digests.hpp"

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
                               bool resolve_bases)
    : file_(std::move(file)),
      pages_(options.page_cache_bytes),
      blocks_(options.block_cache_bytes),
      options_(options) {
  // The reader keeps no copy of the password: it lives here until the keys are derived, and is
  // wiped on every way out. A password means "encrypted"; so do the bases of a thin snapshot
  // opened with one (they get no password: they need none, FORMAT.md forbids encrypted bases).
  std::string password = std::move(options_.password);
  const crypto::ScopedWipe wipe_password(password);
  crypto::wipe(options_.password);  // a moved short string may keep its bytes
  if (!password.empty()) options_.require_encryption = true;
  const size_t threads = options.threads == 0 ? util::hardware_threads() : options.threads;
  if (threads > 1) pool_ = std::make_unique<util::ThreadPool>(threads);
  const std::string& name = file_->name();
  const uint64_t actual = file_->size();
  if (actual < format::kMagic.size()) {
    throw Error(ErrorCode::kNotASnapshot, "'" + name + "' is not a hexz snapshot (file too small)");
  }
  std::array<unsigned char, format::kHeaderSize> hbytes{};
  const size_t have = static_cast<size_t>(std::min<uint64_t>(actual, format::kHeaderSize));
  file_->read_at(0, std::as_writable_bytes(std::span(hbytes.data(), have)));
  if (std::memcmp(hbytes.data(), format::kMagic.data(), format::kMagic.size()) != 0) {
    throw Error(ErrorCode::kNotASnapshot, "'" + name + "' is not a hexz snapshot (bad magic)");
  }
  if (have < format::kHeaderSize) {
    throw Error(ErrorCode::kTruncated, "'" + name + "' is truncated: the header is incomplete");
  }
  header_ = format::decode_header(hbytes, name);
  file_->will_read(header_.tail_offset, header_.tail_length);  // one request when remote
  if (actual < header_.file_size) {
    throw Error(ErrorCode::kTruncated, "'" + name + "' is truncated: expected " +
                                           num(header_.file_size) + " bytes, found " + num(actual));
  }
  if (actual > header_.file_size) {
    throw Error(ErrorCode::kCorrupt, "'" + name +
                                         "' is corrupt: " + num(actual - header_.file_size) +
                                         " unexpected bytes after the end of the snapshot");
  }
  if (header_.encrypted()) {
    unlock(hbytes, password);
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
  if (header_.base_count != 0) {
    std::vector<unsigned char> bbytes(header_.bases_length);
    file_->read_at(header_.bases_offset, std::as_writable_bytes(std::span(bbytes)));
    if (hash::checksum64(bbytes.data(), bbytes.size()) != header_.bases_checksum) {
      throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: base table checksum mismatch");
    }
    bases_ = format::decode_bases(bbytes, header_.base_count);
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
  if (resolve_bases) {
    for (size_t b = 0; b < bases_.size(); ++b) {
      base_readers_.push_back(open_base(b));
      base_paths_.push_back(base_readers_.back()->file_->name());
    }
  }
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
    std::unique_ptr<SnapshotReader> reader;
    try {
      reader = std::make_unique<SnapshotReader>(io::open_storage(candidate, storage_options()),
                                                base_options, false);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kNotFound && io::is_remote(candidate)) continue;  // absent
      mismatch = candidate + " cannot be used (" + e.what() + ")";                 // keep searching
      continue;
    }
    if (reader->header_.identity == rec.identity && reader->header_.file_size == rec.file_size) {
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

void SnapshotReader::unlock(std::span<const unsigned char, format::kHeaderSize> header_bytes,
                            const std::string& password) {
  const std::string& name = file_->name();
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
  const auto check =
      cipher_->key_check(header_bytes.subspan(format::kKdfFieldsOffset, format::kKdfFieldsSize));
  if (CRYPTO_memcmp(check.data(), header_.encryption.key_check.data(), check.size()) != 0) {
    throw Error(ErrorCode::kWrongPassword,
                "wrong password or not this snapshot's key ('" + name + "')");
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
  return raw;
}

std::shared_ptr<const IndexPage> SnapshotReader::load_page(uint32_t page) const {
  if (auto hit = pages_.get(page)) return hit;
  const auto& m = master_[page];
  auto decoded = std::make_shared<const IndexPage>(read_page_bytes(page), m, header_.base_count,
                                                   stored_overhead());
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
  pages_.put(page, decoded, decoded->cost());
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
                                                                        uint32_t need) const {
  const uint64_t key = (static_cast<uint64_t>(source) << 56) | ref.offset;
  need = std::min(need, ref.raw_length);
  // A cached prefix that falls short: decode the whole block this time, not a longer prefix,
  // so that reading a block chunk by chunk decodes it at most twice.
  bool had_prefix = false;
  std::optional<std::promise<std::shared_ptr<const Block>>> promise;  // made on a miss only
  for (;;) {
    if (auto hit = blocks_.get(key)) {
      if (hit->size() >= need) return hit;
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
    if (auto b = fut.get(); b->size() >= need) return b;
    had_prefix = true;  // another thread decoded too short a prefix; try again
  }
  std::shared_ptr<const Block> block;
  try {
    block = fetch_block(source, ref, had_prefix ? ref.raw_length : need);
    blocks_.put(key, block, block->capacity() + sizeof(Block));
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
  uint64_t last = UINT64_MAX;
  uint8_t last_source = 0;
  while (at < end) {
    const auto page = load_page(page_for(stream, at));
    for (uint32_t i = page->find(at); i < page->entry_count() && at < end; ++i) {
      const auto& e = page->entry(i);
      if (e.kind == format::ChunkKind::kData &&
          (e.block.offset != last || e.source != last_source)) {
        last = e.block.offset;
        last_source = e.source;
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
    const uint64_t key = (static_cast<uint64_t>(source) << 56) | ref.offset;
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
    // Sequential reader: keep readahead_bytes decoded ahead of it.
    if (options_.readahead_bytes != 0 && offset == last_end_[s].load(std::memory_order_relaxed) &&
        offset != 0) {
      const uint64_t mark = std::max(readahead_mark_[s].load(std::memory_order_relaxed), end);
      const uint64_t want = std::min(size(stream), end + options_.readahead_bytes);
      if (mark < want && want - mark >= options_.readahead_bytes / 2) {
        readahead_mark_[s].store(want, std::memory_order_relaxed);
        prefetch(stream, mark, want - mark, 0);
      }
    }
    last_end_[s].store(end, std::memory_order_relaxed);
  }
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t at = offset + done;
    const auto page = load_page(page_for(stream, at));
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
        const uint64_t need = static_cast<uint64_t>(e.offset_in_block) + within + n;
        const auto block = load_block(
            e.source, e.block, static_cast<uint32_t>(std::min<uint64_t>(need, e.block.raw_length)));
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
    const auto page = load_page(page_for(stream, at));
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

SnapshotInfo SnapshotReader::info() const {
  SnapshotInfo i;
  i.version_major = header_.version_major;
  i.version_minor = header_.version_minor;
  i.required_features = header_.required_features;
  i.optional_features = header_.optional_features;
  i.codec = header_.codec;
  i.level = header_.level;
  i.chunk_size = header_.chunk_size;
  i.cdc = header_.chunking == format::Chunking::kFastCdcV1;
  i.min_chunk = header_.min_chunk;
  i.max_chunk = header_.max_chunk;
  i.block_size = header_.block_size;
  i.file_size = header_.file_size;
  i.index_pages = master_.size();
  i.index_bytes = header_.master_length;
  i.dictionary_bytes =
      header_.dict_length - (cipher_ && header_.dict_length != 0 ? crypto::kTagSize : 0);
  i.encrypted = header_.encrypted();
  i.kdf_iterations = header_.encryption.kdf.iterations;
  i.kdf_memory_kib = header_.encryption.kdf.memory_kib;
  i.kdf_parallelism = header_.encryption.kdf.parallelism;
  for (const auto& m : master_) i.index_bytes += m.stored_length;
  i.identity_hex = hash::to_hex(header_.identity.data(), header_.identity.size());
  for (int s = 0; s < kStreamCount; ++s) {
    const auto& r = header_.streams[s];
    auto& o = i.streams[s];
    o.present = r.present != 0;
    o.logical_size = r.logical_size;
    o.chunks = r.chunks;
    o.zero_chunks = r.zero_chunks;
    o.dup_chunks = r.dup_chunks;
    o.blocks = r.blocks;
    o.stored_bytes = r.stored_bytes;
  }
  for (size_t b = 0; b < bases_.size(); ++b) {
    BaseInfo bi;
    bi.name = bases_[b].name;
    bi.path = b < base_paths_.size() ? base_paths_[b] : "";
    bi.identity_hex = hash::to_hex(bases_[b].identity.data(), bases_[b].identity.size());
    i.bases.push_back(bi);
  }
  if (header_.encrypted()) {
    // Counters are not in the plaintext header: derive them from the index, as the writer
    // counted them (a data chunk is a duplicate if its stored copy was seen before; a block
    // belongs to the stream that first stored it).
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
        const uint64_t block_key = (static_cast<uint64_t>(e.source) << 56) | e.block.offset;
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

VerifyReport SnapshotReader::verify(const ProgressFn& progress) const {
  VerifyReport report;
  uint64_t total = 0;
  for (const auto& r : header_.streams) total += r.logical_size;
  uint64_t done = 0;
  hash::Blake3 identity;
  std::unordered_set<uint64_t> checked_blocks;
  try {
    const ChainDigests chain(*this);  // digests of the chunks referenced in bases
    for (int s = 0; s < kStreamCount; ++s) {
      const auto& rec = header_.streams[s];
      const Stream stream = static_cast<Stream>(s);
      uint64_t chunks = 0;
      uint64_t zeros = 0;
      uint64_t covered = 0;
      uint64_t last_block = UINT64_MAX;
      std::shared_ptr<const Block> block;
      for (uint32_t p = rec.first_page; p < rec.first_page + rec.page_count; ++p) {
        const auto& m = master_[p];
        std::vector<unsigned char> raw = read_page_bytes(p);
        identity.update(raw.data(), raw.size());
        const IndexPage page(std::move(raw), m, header_.base_count, stored_overhead());
        for (uint32_t i = 0; i < page.entry_count(); ++i) {
          const auto& e = page.entry(i);
          ++chunks;
          covered += e.length;
          if (e.kind == format::ChunkKind::kZero) {
            ++zeros;
            continue;
          }
          const uint64_t key = (static_cast<uint64_t>(e.source) << 56) | e.block.offset;
          if (key != last_block) {
            block = load_block(e.source, e.block);
            last_block = key;
            if (checked_blocks.insert(key).second) ++report.blocks_checked;
          }
          if (static_cast<uint64_t>(e.offset_in_block) + e.length > block->size()) {
            throw Error(ErrorCode::kCorrupt, "chunk at " + std::string(stream_name(stream)) +
                                                 " offset " + num(page.entry_offset(i)) +
                                                 " lies outside its block");
          }
          const hash::ChunkDigest* expected = chain.find(e);
          if (expected == nullptr) {
            throw Error(ErrorCode::kCorrupt, "chunk at " + std::string(stream_name(stream)) +
                                                 " offset " + num(page.entry_offset(i)) +
                                                 " refers to a chunk its base does not record");
          }
          const auto* bytes = block->data() + e.offset_in_block;
          const auto digest = cipher_ ? cipher_->chunk_digest(bytes, e.length)
                                      : hash::chunk_digest(bytes, e.length);
          if (!(digest == *expected)) {
            throw Error(ErrorCode::kCorrupt, "chunk at " + std::string(stream_name(stream)) +
                                                 " offset " + num(page.entry_offset(i)) +
                                                 " does not match its digest");
          }
          ++report.chunks_checked;
        }
        done += page.end_offset() - m.first_logical;
        if (progress) progress(done, total);
      }
      const bool counted = !header_.encrypted();  // encrypted headers carry no counters
      if (covered != rec.logical_size ||
          (counted && (chunks != rec.chunks || zeros != rec.zero_chunks))) {
        throw Error(ErrorCode::kCorrupt, std::string(stream_name(stream)) +
                                             " stream index does not match the header's counts");
      }
    }
    format::absorb_identity_trailer(identity, header_.streams);
    if (identity.finish() != header_.identity) {
      throw Error(ErrorCode::kCorrupt, "the snapshot identity does not match its index");
    }
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kAborted) throw;  // the caller's progress callback stopped us
    report.ok = false;
    report.first_error = e.what();
    const bool unreadable = e.code() == ErrorCode::kIo || e.code() == ErrorCode::kNotFound;
    report.problems.push_back(
        {unreadable ? VerifyProblem::Kind::kUnreadable : VerifyProblem::Kind::kCorrupt, e.what()});
    report.problem_count = 1;
  }
  if (progress && report.ok) progress(total, total);
  return report;
}

}  // namespace hexz::read

namespace hexz {

std::unique_ptr<Snapshot> Snapshot::open(const std::string& path, const OpenOptions& options) {
  return std::make_unique<read::SnapshotReader>(
      io::open_storage(path, {options.endpoint, options.cache_dir}), options, true);
}

}  // namespace hexz
