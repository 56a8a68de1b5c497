#include "format/records.hpp"

#include <cstring>

#include "hash/checksum.hpp"
#include "hexz/error.hpp"
#include "util/endian.hpp"

namespace hexz::format {

using util::load_le;
using util::store_le;

namespace {

bool valid_codec(uint8_t id) {
  return id <= static_cast<uint8_t>(Codec::kZstd);
}

/// True if [offset, offset + length) lies inside [lo, hi), computed without wrapping.
bool within(uint64_t offset, uint64_t length, uint64_t lo, uint64_t hi) {
  return lo <= offset && offset <= hi && length <= hi - offset;
}

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

void encode_stream(const StreamRecord& s, unsigned char* p) {
  store_le<uint64_t>(p + 0, s.logical_size);
  store_le<uint64_t>(p + 8, s.chunks);
  store_le<uint64_t>(p + 16, s.zero_chunks);
  store_le<uint64_t>(p + 24, s.dup_chunks);
  store_le<uint64_t>(p + 32, s.blocks);
  store_le<uint64_t>(p + 40, s.stored_bytes);
  store_le<uint32_t>(p + 48, s.first_page);
  store_le<uint32_t>(p + 52, s.page_count);
  p[56] = s.present;
}

StreamRecord decode_stream(const unsigned char* p) {
  StreamRecord s;
  s.logical_size = load_le<uint64_t>(p + 0);
  s.chunks = load_le<uint64_t>(p + 8);
  s.zero_chunks = load_le<uint64_t>(p + 16);
  s.dup_chunks = load_le<uint64_t>(p + 24);
  s.blocks = load_le<uint64_t>(p + 32);
  s.stored_bytes = load_le<uint64_t>(p + 40);
  s.first_page = load_le<uint32_t>(p + 48);
  s.page_count = load_le<uint32_t>(p + 52);
  s.present = p[56];
  return s;
}

}  // namespace

void encode_header(const Header& h, std::span<unsigned char, kHeaderSize> out) {
  unsigned char* p = out.data();
  std::memset(p, 0, kHeaderSize);
  std::memcpy(p, kMagic.data(), kMagic.size());
  store_le<uint16_t>(p + 8, h.version_major);
  store_le<uint16_t>(p + 10, h.version_minor);
  store_le<uint32_t>(p + 12, static_cast<uint32_t>(kHeaderSize));
  store_le<uint64_t>(p + 16, h.required_features);
  store_le<uint64_t>(p + 24, h.optional_features);
  store_le<uint64_t>(p + 32, h.file_size);
  p[40] = static_cast<uint8_t>(h.chunking);
  p[41] = static_cast<uint8_t>(h.codec);
  p[42] = static_cast<unsigned char>(h.level);
  p[43] = static_cast<uint8_t>(h.index_codec);
  store_le<uint32_t>(p + 44, h.chunk_size);
  store_le<uint32_t>(p + 48, h.min_chunk);
  store_le<uint32_t>(p + 52, h.max_chunk);
  store_le<uint32_t>(p + 56, h.block_size);
  std::memcpy(p + 64, h.identity.data(), h.identity.size());
  std::memcpy(p + kIndexDigestOffset, h.index_digest.data(), h.index_digest.size());
  store_le<uint64_t>(p + 96, h.tail_offset);
  store_le<uint64_t>(p + 104, h.tail_length);
  store_le<uint64_t>(p + 112, h.master_offset);
  store_le<uint64_t>(p + 120, h.master_length);
  store_le<uint64_t>(p + 128, h.master_checksum);
  store_le<uint32_t>(p + 136, h.page_count);
  store_le<uint64_t>(p + 144, h.dict_offset);
  store_le<uint32_t>(p + 152, h.dict_length);
  store_le<uint64_t>(p + 160, h.dict_checksum);
  store_le<uint64_t>(p + 168, h.bases_offset);
  store_le<uint32_t>(p + 176, h.bases_length);
  store_le<uint32_t>(p + 180, h.base_count);
  store_le<uint64_t>(p + 184, h.bases_checksum);
  store_le<uint64_t>(p + 432, h.attach_offset);
  store_le<uint32_t>(p + 440, h.attach_length);
  store_le<uint32_t>(p + 444, h.attach_count);
  store_le<uint64_t>(p + 448, h.attach_checksum);
  store_le<uint64_t>(p + 456, h.attach_nonce);
  store_le<uint64_t>(p + 464, h.base_keys_offset);
  store_le<uint32_t>(p + 472, h.base_keys_length);
  store_le<uint64_t>(p + 480, h.base_keys_checksum);
  for (int i = 0; i < kStreamCount; ++i) {
    encode_stream(h.streams[i],
                  p + kStreamTableOffset + kStreamRecordSize * static_cast<size_t>(i));
  }
  if (h.encrypted()) {
    const auto& e = h.encryption;
    p[320] = e.kdf.algorithm;
    store_le<uint32_t>(p + 324, e.kdf.iterations);
    store_le<uint32_t>(p + 328, e.kdf.memory_kib);
    store_le<uint32_t>(p + 332, e.kdf.parallelism);
    std::memcpy(p + 336, e.salt.data(), e.salt.size());
    std::memcpy(p + 352, e.id.data(), e.id.size());
    std::memcpy(p + 368, e.key_check.data(), e.key_check.size());
    std::memcpy(p + kHeaderMacOffset, e.header_mac.data(), e.header_mac.size());
  }
  store_le<uint64_t>(p + kHeaderChecksumOffset, hash::checksum64(p, kHeaderChecksumOffset));
}

std::vector<unsigned char> header_mac_input(std::span<const unsigned char, kHeaderSize> bytes) {
  constexpr size_t kAfterMac = kHeaderMacOffset + crypto::kTagSize;
  std::vector<unsigned char> in(kHeaderMacOffset + (kHeaderChecksumOffset - kAfterMac));
  std::memcpy(in.data(), bytes.data(), kHeaderMacOffset);
  std::memcpy(in.data() + kHeaderMacOffset, bytes.data() + kAfterMac,
              kHeaderChecksumOffset - kAfterMac);
  return in;
}

void reseal_header_checksum(std::span<unsigned char, kHeaderSize> bytes) {
  store_le<uint64_t>(bytes.data() + kHeaderChecksumOffset,
                     hash::checksum64(bytes.data(), kHeaderChecksumOffset));
}

uint16_t minor_version_for(uint64_t f) {
  if ((f & kFeatureEncrypted) != 0 && (f & kFeatureBases) != 0) return kVersionMinorEncryptedThin;
  if ((f & kFeatureAttachments) != 0) return kVersionMinorAttachments;
  return 0;
}

Header decode_header(std::span<const unsigned char, kHeaderSize> in, const std::string& name) {
  const unsigned char* p = in.data();
  if (std::memcmp(p, kMagic.data(), kMagic.size()) != 0) {
    throw Error(ErrorCode::kNotASnapshot, "'" + name + "' is not a hexz snapshot (bad magic)");
  }
  Header h;
  h.version_major = load_le<uint16_t>(p + 8);
  h.version_minor = load_le<uint16_t>(p + 10);
  const uint64_t stored_sum = load_le<uint64_t>(p + kHeaderChecksumOffset);
  const bool sum_ok = stored_sum == hash::checksum64(p, kHeaderChecksumOffset);
  if (sum_ok && h.version_major != kVersionMajor) {
    throw Error(ErrorCode::kUnsupported,
                "'" + name + "' uses snapshot format " + std::to_string(h.version_major) + "." +
                    std::to_string(h.version_minor) + "; this hexz reads format " +
                    std::to_string(kVersionMajor) + ".x");
  }
  if (!sum_ok)
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: header checksum mismatch");
  if (load_le<uint32_t>(p + 12) != kHeaderSize) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: unexpected header size");
  }
  h.required_features = load_le<uint64_t>(p + 16);
  h.optional_features = load_le<uint64_t>(p + 24);
  const uint64_t unknown = h.required_features & ~kKnownRequiredFeatures;
  if (unknown != 0) {
    throw Error(ErrorCode::kUnsupported,
                "'" + name + "' needs features this hexz does not support (required feature bits " +
                    hex64(unknown) + "); upgrade hexz");
  }
  h.file_size = load_le<uint64_t>(p + 32);
  if (p[40] > static_cast<uint8_t>(Chunking::kFastCdcV1)) {
    throw Error(ErrorCode::kUnsupported, "'" + name + "' uses an unknown chunking algorithm (" +
                                             std::to_string(p[40]) + "); upgrade hexz");
  }
  h.chunking = static_cast<Chunking>(p[40]);
  if (!valid_codec(p[41]) || !valid_codec(p[43])) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: unknown codec id");
  }
  h.codec = static_cast<Codec>(p[41]);
  h.level = static_cast<int8_t>(p[42]);
  h.index_codec = static_cast<Codec>(p[43]);
  h.chunk_size = load_le<uint32_t>(p + 44);
  h.min_chunk = load_le<uint32_t>(p + 48);
  h.max_chunk = load_le<uint32_t>(p + 52);
  h.block_size = load_le<uint32_t>(p + 56);
  std::memcpy(h.identity.data(), p + 64, h.identity.size());
  std::memcpy(h.index_digest.data(), p + kIndexDigestOffset, h.index_digest.size());
  h.tail_offset = load_le<uint64_t>(p + 96);
  h.tail_length = load_le<uint64_t>(p + 104);
  h.master_offset = load_le<uint64_t>(p + 112);
  h.master_length = load_le<uint64_t>(p + 120);
  h.master_checksum = load_le<uint64_t>(p + 128);
  h.page_count = load_le<uint32_t>(p + 136);
  h.dict_offset = load_le<uint64_t>(p + 144);
  h.dict_length = load_le<uint32_t>(p + 152);
  h.dict_checksum = load_le<uint64_t>(p + 160);
  h.bases_offset = load_le<uint64_t>(p + 168);
  h.bases_length = load_le<uint32_t>(p + 176);
  h.base_count = load_le<uint32_t>(p + 180);
  h.bases_checksum = load_le<uint64_t>(p + 184);
  if ((h.required_features & kFeatureAttachments) != 0) {  // reserved space without bit 4
    h.attach_offset = load_le<uint64_t>(p + 432);
    h.attach_length = load_le<uint32_t>(p + 440);
    h.attach_count = load_le<uint32_t>(p + 444);
    h.attach_checksum = load_le<uint64_t>(p + 448);
    h.attach_nonce = load_le<uint64_t>(p + 456);
  }
  if (h.has_base_keys()) {  // reserved space otherwise
    h.base_keys_offset = load_le<uint64_t>(p + 464);
    h.base_keys_length = load_le<uint32_t>(p + 472);
    h.base_keys_checksum = load_le<uint64_t>(p + 480);
  }
  if (h.encrypted()) {
    auto& e = h.encryption;
    e.kdf.algorithm = p[320];
    e.kdf.iterations = load_le<uint32_t>(p + 324);
    e.kdf.memory_kib = load_le<uint32_t>(p + 328);
    e.kdf.parallelism = load_le<uint32_t>(p + 332);
    std::memcpy(e.salt.data(), p + 336, e.salt.size());
    std::memcpy(e.id.data(), p + 352, e.id.size());
    std::memcpy(e.key_check.data(), p + 368, e.key_check.size());
    std::memcpy(e.header_mac.data(), p + kHeaderMacOffset, e.header_mac.size());
  }
  for (int i = 0; i < kStreamCount; ++i) {
    h.streams[i] =
        decode_stream(p + kStreamTableOffset + kStreamRecordSize * static_cast<size_t>(i));
  }
  // Structural consistency (the checksum passed, so failures here mean a bad writer).
  const auto bad = [&](const char* what) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: " + what);
  };
  if (h.chunking == Chunking::kFixed) {
    if (h.chunk_size == 0 || (h.chunk_size & (h.chunk_size - 1)) != 0) bad("invalid chunk size");
    if ((h.required_features & kFeatureCdc) != 0) bad("CDC feature flag on a fixed-chunk snapshot");
  } else {
    if (!(64 <= h.min_chunk && h.min_chunk < h.chunk_size && h.chunk_size < h.max_chunk &&
          h.max_chunk <= (16u << 20))) {
      bad("invalid content-defined chunk sizes");
    }
    if ((h.required_features & kFeatureCdc) == 0) bad("CDC chunking without its feature flag");
  }
  // Every location is checked by subtraction, never by adding offset and length (which a
  // crafted header can make wrap past 2^64).
  if (h.tail_offset < kHeaderSize || h.tail_offset > h.file_size ||
      h.tail_length != h.file_size - h.tail_offset) {
    bad("invalid tail location");
  }
  if (!within(h.master_offset, h.master_length, h.tail_offset, h.file_size)) {
    bad("invalid master index location");
  }
  const uint64_t tag = h.encrypted() ? crypto::kTagSize : 0;
  if (h.master_length != static_cast<uint64_t>(h.page_count) * kMasterEntrySize + tag)
    bad("invalid master index size");
  if ((h.required_features & kFeatureDictionary) != 0) {
    if (h.dict_length == 0 || !within(h.dict_offset, h.dict_length, h.tail_offset, h.file_size) ||
        h.codec != Codec::kZstd) {
      bad("invalid dictionary location");
    }
  } else if (h.dict_length != 0 || h.dict_offset != 0) {
    bad("dictionary present without its feature flag");
  }
  if ((h.required_features & kFeatureBases) != 0) {
    if (h.base_count == 0 || h.base_count > kMaxBases ||
        !within(h.bases_offset, h.bases_length, h.tail_offset, h.file_size) ||
        h.bases_length < static_cast<uint64_t>(h.base_count) * 43) {
      bad("invalid base table location");
    }
  } else if (h.base_count != 0 || h.bases_length != 0) {
    bad("base table present without its feature flag");
  }
  if ((h.required_features & kFeatureAttachments) != 0) {
    // Rule H17: the table lies inside the tail and holds 1 to 64 records of at least 73 bytes.
    if (h.attach_count == 0 || h.attach_count > 64 ||
        !within(h.attach_offset, h.attach_length, h.tail_offset, h.file_size) ||
        h.attach_length < static_cast<uint64_t>(h.attach_count) * 73 + tag) {
      bad("invalid attachment table location");
    }
  }
  if (h.has_base_keys()) {
    // Rule H16: encryption and bases combine from format 1.2 on, with a base key table.
    if (h.version_minor < kVersionMinorEncryptedThin) {
      throw Error(ErrorCode::kUnsupported,
                  "'" + name + "' is an encrypted thin snapshot of format 1." +
                      std::to_string(h.version_minor) +
                      ", which does not define them (they start with format 1.2)");
    }
    if (!within(h.base_keys_offset, h.base_keys_length, h.tail_offset, h.file_size) ||
        h.base_keys_length != base_key_table_size(h.base_count) + tag) {
      bad("invalid base key table location");
    }
  }
  uint64_t pages = 0;
  for (const auto& s : h.streams) {
    if (s.present > 1) bad("invalid stream flag");
    if (!s.present && (s.logical_size != 0 || s.page_count != 0)) bad("absent stream has data");
    if (s.present && (s.logical_size == 0) != (s.page_count == 0)) {
      bad("stream size and index pages disagree (an empty stream has no pages)");
    }
    if (static_cast<uint64_t>(s.first_page) + s.page_count > h.page_count)
      bad("stream pages out of range");
    if (s.zero_chunks + s.dup_chunks > s.chunks) bad("inconsistent stream counters");
    pages += s.page_count;
  }
  if (pages != h.page_count) bad("page count mismatch");
  return h;
}

std::array<unsigned char, 32> compose_identity(const std::array<unsigned char, 32>& index_digest,
                                               bool has_dictionary,
                                               std::span<const std::byte> dictionary,
                                               bool has_bases,
                                               std::span<const unsigned char> base_table,
                                               const std::vector<unsigned char>* attachment_table) {
  const auto digest_of = [](bool present, const void* data, size_t size) {
    std::array<unsigned char, 32> d{};
    if (present) {
      hash::Blake3 h;
      h.update(data, size);
      d = h.finish();
    }
    return d;
  };
  const auto dict = digest_of(has_dictionary, dictionary.data(), dictionary.size());
  const auto bases = digest_of(has_bases, base_table.data(), base_table.size());
  hash::Blake3 id;
  id.update(index_digest.data(), index_digest.size());
  id.update(dict.data(), dict.size());
  id.update(bases.data(), bases.size());
  if (attachment_table != nullptr) {
    const auto att = digest_of(true, attachment_table->data(), attachment_table->size());
    id.update(att.data(), att.size());
  }
  return id.finish();
}

void absorb_identity_trailer(hash::Blake3& hasher, const StreamRecord (&streams)[kStreamCount]) {
  for (const auto& rec : streams) {
    unsigned char bytes[9];
    bytes[0] = rec.present;
    store_le<uint64_t>(bytes + 1, rec.logical_size);
    hasher.update(bytes, sizeof bytes);
  }
}

std::vector<unsigned char> encode_bases(const std::vector<BaseRecord>& bases) {
  std::vector<unsigned char> out;
  for (const auto& b : bases) {
    const size_t at = out.size();
    out.resize(at + 32 + 8 + 2 + b.name.size());
    unsigned char* p = out.data() + at;
    std::memcpy(p, b.identity.data(), 32);
    store_le<uint64_t>(p + 32, b.file_size);
    store_le<uint16_t>(p + 40, static_cast<uint16_t>(b.name.size()));
    std::memcpy(p + 42, b.name.data(), b.name.size());
  }
  return out;
}

std::vector<BaseRecord> decode_bases(std::span<const unsigned char> in, uint32_t count) {
  std::vector<BaseRecord> out;
  size_t at = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() - at < 42) throw Error(ErrorCode::kCorrupt, "base table is truncated");
    BaseRecord b;
    std::memcpy(b.identity.data(), in.data() + at, 32);
    b.file_size = load_le<uint64_t>(in.data() + at + 32);
    const uint16_t len = load_le<uint16_t>(in.data() + at + 40);
    if (len == 0 || len > 255 || in.size() - at - 42 < len)
      throw Error(ErrorCode::kCorrupt, "base table has a bad name");
    b.name.assign(reinterpret_cast<const char*>(in.data() + at + 42), len);
    if (b.name.find('/') != std::string::npos || b.name == "." || b.name == "..") {
      throw Error(ErrorCode::kCorrupt, "base table names a path, not a file name");
    }
    out.push_back(std::move(b));
    at += 42 + len;
  }
  if (at != in.size()) throw Error(ErrorCode::kCorrupt, "base table has trailing bytes");
  return out;
}

std::array<unsigned char, 17> page_aead_context(const MasterEntry& e) {
  std::array<unsigned char, 17> c{};
  c[0] = static_cast<unsigned char>(e.stream);
  store_le<uint64_t>(c.data() + 1, e.first_logical);
  store_le<uint32_t>(c.data() + 9, e.entry_count);
  store_le<uint32_t>(c.data() + 13, e.raw_length);
  return c;
}

void encode_master_entry(const MasterEntry& e, unsigned char* p) {
  std::memset(p, 0, kMasterEntrySize);
  store_le<uint64_t>(p + 0, e.offset);
  store_le<uint32_t>(p + 8, e.stored_length);
  store_le<uint32_t>(p + 12, e.raw_length);
  store_le<uint64_t>(p + 16, e.first_logical);
  store_le<uint32_t>(p + 24, e.entry_count);
  p[28] = static_cast<uint8_t>(e.stream);
  p[29] = static_cast<uint8_t>(e.codec);
  store_le<uint64_t>(p + 32, e.checksum);
}

MasterEntry decode_master_entry(const unsigned char* p) {
  MasterEntry e;
  e.offset = load_le<uint64_t>(p + 0);
  e.stored_length = load_le<uint32_t>(p + 8);
  e.raw_length = load_le<uint32_t>(p + 12);
  e.first_logical = load_le<uint64_t>(p + 16);
  e.entry_count = load_le<uint32_t>(p + 24);
  if (p[28] >= kStreamCount)
    throw Error(ErrorCode::kCorrupt, "master index names an unknown stream");
  e.stream = static_cast<Stream>(p[28]);
  if (!valid_codec(p[29])) throw Error(ErrorCode::kCorrupt, "master index names an unknown codec");
  e.codec = static_cast<Codec>(p[29]);
  e.checksum = load_le<uint64_t>(p + 32);
  const uint64_t fixed = index_page_raw_size(e.entry_count, 0);
  if (e.entry_count == 0 || e.entry_count > kMaxPageEntries || e.raw_length < fixed ||
      e.raw_length > index_page_raw_size(e.entry_count, e.entry_count) ||
      (e.raw_length - fixed) % kEntryDigestBytes != 0) {
    throw Error(ErrorCode::kCorrupt, "master index entry has an invalid page size");
  }
  return e;
}

namespace {

/// Byte offsets of the columns of a raw page of `n` entries (FORMAT.md section 9.1).
struct PageColumns {
  size_t kind, source, codec, length, offset_in_block, stored_length, raw_length, block_offset,
      block_checksum, digests;
  explicit PageColumns(size_t n)
      : kind(0),
        source(n),
        codec(2 * n),
        length(3 * n),
        offset_in_block(7 * n),
        stored_length(11 * n),
        raw_length(15 * n),
        block_offset(19 * n),
        block_checksum(27 * n),
        digests(35 * n) {}
};

void check_entry(const IndexEntry& e, uint32_t stored_overhead) {
  if (e.length == 0) throw Error(ErrorCode::kCorrupt, "index entry has zero length");
  if (e.kind == ChunkKind::kData) {
    if (e.block.stored_length == 0 || e.block.raw_length == 0 ||
        static_cast<uint64_t>(e.offset_in_block) + e.length > e.block.raw_length ||
        e.block.raw_length > (16u << 20) || e.block.stored_length <= stored_overhead ||
        (e.block.codec == Codec::kNone &&
         e.block.stored_length != e.block.raw_length + stored_overhead)) {
      throw Error(ErrorCode::kCorrupt, "index entry has an inconsistent block location");
    }
  }
}

}  // namespace

std::vector<unsigned char> encode_index_page(std::span<const IndexEntry> entries) {
  const size_t n = entries.size();
  size_t digests = 0;
  for (const auto& e : entries) digests += e.has_digest() ? 1 : 0;
  std::vector<unsigned char> out(index_page_raw_size(n, digests));
  const PageColumns c(n);
  unsigned char* p = out.data();
  size_t d = c.digests;
  for (size_t i = 0; i < n; ++i) {
    const IndexEntry& e = entries[i];
    p[c.kind + i] = static_cast<uint8_t>(e.kind);
    p[c.source + i] = e.source;
    p[c.codec + i] = static_cast<uint8_t>(e.block.codec);
    store_le<uint32_t>(p + c.length + 4 * i, e.length);
    store_le<uint32_t>(p + c.offset_in_block + 4 * i, e.offset_in_block);
    store_le<uint32_t>(p + c.stored_length + 4 * i, e.block.stored_length);
    store_le<uint32_t>(p + c.raw_length + 4 * i, e.block.raw_length);
    store_le<uint64_t>(p + c.block_offset + 8 * i, e.block.offset);
    store_le<uint64_t>(p + c.block_checksum + 8 * i, e.block.checksum);
    if (e.has_digest()) {
      std::memcpy(p + d, e.digest.bytes.data(), kEntryDigestBytes);
      d += kEntryDigestBytes;
    }
  }
  return out;
}

std::vector<IndexEntry> decode_index_page(std::span<const unsigned char> raw, uint32_t count,
                                          uint32_t base_count, uint32_t stored_overhead) {
  const size_t n = count;
  if (raw.size() < index_page_raw_size(n, 0))
    throw Error(ErrorCode::kCorrupt, "index page is shorter than its entries");
  const PageColumns c(n);
  const unsigned char* p = raw.data();
  std::vector<IndexEntry> out(n);
  size_t d = c.digests;
  for (size_t i = 0; i < n; ++i) {
    IndexEntry& e = out[i];
    if (p[c.kind + i] > static_cast<uint8_t>(ChunkKind::kData))
      throw Error(ErrorCode::kCorrupt, "index entry has an unknown kind");
    e.kind = static_cast<ChunkKind>(p[c.kind + i]);
    e.source = p[c.source + i];
    if (e.source > base_count)
      throw Error(ErrorCode::kCorrupt, "index entry references an undeclared base snapshot");
    if (!valid_codec(p[c.codec + i]))
      throw Error(ErrorCode::kCorrupt, "index entry names an unknown codec");
    e.block.codec = static_cast<Codec>(p[c.codec + i]);
    e.length = load_le<uint32_t>(p + c.length + 4 * i);
    e.offset_in_block = load_le<uint32_t>(p + c.offset_in_block + 4 * i);
    e.block.stored_length = load_le<uint32_t>(p + c.stored_length + 4 * i);
    e.block.raw_length = load_le<uint32_t>(p + c.raw_length + 4 * i);
    e.block.offset = load_le<uint64_t>(p + c.block_offset + 8 * i);
    e.block.checksum = load_le<uint64_t>(p + c.block_checksum + 8 * i);
    if (e.has_digest()) {
      if (raw.size() - d < kEntryDigestBytes)
        throw Error(ErrorCode::kCorrupt, "index page is shorter than its entries");
      std::memcpy(e.digest.bytes.data(), p + d, kEntryDigestBytes);
      d += kEntryDigestBytes;
    }
    check_entry(e, stored_overhead);
  }
  if (d != raw.size()) throw Error(ErrorCode::kCorrupt, "index page has trailing bytes");
  return out;
}

}  // namespace hexz::format
