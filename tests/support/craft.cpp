#include "support/craft.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "codec/codec.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "util/endian.hpp"

namespace hexz_test::craft {

namespace fmt = hexz::format;
using hexz::util::load_le;
using hexz::util::store_le;

namespace {

bool within(uint64_t offset, uint64_t length, uint64_t size) {
  return offset <= size && length <= size - offset;
}

std::span<const std::byte> as_bytes(const Bytes& b, size_t offset = 0, size_t n = SIZE_MAX) {
  return std::as_bytes(std::span(b).subspan(offset, std::min(n, b.size() - offset)));
}

}  // namespace

void MemoryFile::read_at(uint64_t offset, std::span<std::byte> out) const {
  if (!within(offset, out.size(), data_->size())) {
    throw hexz::Error(hexz::ErrorCode::kTruncated, "read past the end of " + name_);
  }
  std::memcpy(out.data(), data_->data() + offset, out.size());
}

Model take_apart(const Bytes& file) {
  if (file.size() < fmt::kHeaderSize) throw hexz::Error(hexz::ErrorCode::kTruncated, "short");
  Model m;
  m.header = fmt::decode_header(
      std::span<const unsigned char, fmt::kHeaderSize>(file.data(), fmt::kHeaderSize), "craft");
  const auto& h = m.header;
  if (h.encrypted()) throw hexz::Error(hexz::ErrorCode::kUnsupported, "encrypted");
  m.data.assign(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(h.tail_offset));
  m.dictionary.assign(file.begin() + static_cast<std::ptrdiff_t>(h.dict_offset),
                      file.begin() + static_cast<std::ptrdiff_t>(h.dict_offset + h.dict_length));
  m.bases.assign(file.begin() + static_cast<std::ptrdiff_t>(h.bases_offset),
                 file.begin() + static_cast<std::ptrdiff_t>(h.bases_offset + h.bases_length));
  hexz::codec::Decompressor d;
  for (uint32_t i = 0; i < h.page_count; ++i) {
    m.master.push_back(fmt::decode_master_entry(file.data() + h.master_offset +
                                                static_cast<size_t>(i) * fmt::kMasterEntrySize));
    const auto& e = m.master.back();
    Bytes raw(e.raw_length);
    d.decompress(e.codec, as_bytes(file, e.offset, e.stored_length),
                 std::as_writable_bytes(std::span(raw)));
    m.pages.push_back(fmt::decode_index_page(raw, e.entry_count, h.base_count));
  }
  return m;
}

uint64_t block_checksum(const Model& m, const fmt::BlockRef& ref) {
  if (!within(ref.offset, ref.stored_length, m.data.size())) return 0;
  return hexz::hash::checksum64(m.data.data() + ref.offset, ref.stored_length);
}

std::array<unsigned char, 32> index_digest_of(const fmt::Header& header,
                                              const std::vector<Bytes>& pages_in_stream_order) {
  hexz::hash::Blake3 hasher;
  for (const auto& raw : pages_in_stream_order) hasher.update(raw.data(), raw.size());
  fmt::absorb_identity_trailer(hasher, header.streams);
  return hasher.finish();
}

std::array<unsigned char, 32> identity_of(const std::array<unsigned char, 32>& index_digest,
                                          std::span<const uint8_t> dictionary,
                                          std::span<const uint8_t> bases) {
  return fmt::compose_identity(index_digest, !dictionary.empty(), std::as_bytes(dictionary),
                               !bases.empty(), bases);
}

Bytes rebuild(const Model& m, bool identity) {
  Bytes out = m.data;
  fmt::Header h = m.header;
  std::vector<fmt::MasterEntry> master = m.master;
  std::vector<Bytes> raws(master.size());
  for (size_t p = 0; p < master.size(); ++p) {
    raws[p] = fmt::encode_index_page(m.pages[p]);
    auto& e = master[p];
    e.offset = out.size();
    e.stored_length = e.raw_length = static_cast<uint32_t>(raws[p].size());
    e.entry_count = static_cast<uint32_t>(m.pages[p].size());
    e.codec = hexz::Codec::kNone;
    e.checksum = hexz::hash::checksum64(raws[p].data(), raws[p].size());
    out.insert(out.end(), raws[p].begin(), raws[p].end());
  }
  h.tail_offset = out.size();
  h.dict_offset = m.dictionary.empty() ? 0 : out.size();
  h.dict_length = static_cast<uint32_t>(m.dictionary.size());
  h.dict_checksum =
      m.dictionary.empty() ? 0 : hexz::hash::checksum64(m.dictionary.data(), m.dictionary.size());
  out.insert(out.end(), m.dictionary.begin(), m.dictionary.end());
  h.bases_offset = m.bases.empty() ? 0 : out.size();
  h.bases_length = static_cast<uint32_t>(m.bases.size());
  h.bases_checksum = m.bases.empty() ? 0 : hexz::hash::checksum64(m.bases.data(), m.bases.size());
  out.insert(out.end(), m.bases.begin(), m.bases.end());
  Bytes mbytes(master.size() * fmt::kMasterEntrySize);
  for (size_t p = 0; p < master.size(); ++p) {
    fmt::encode_master_entry(master[p], mbytes.data() + p * fmt::kMasterEntrySize);
  }
  h.master_offset = out.size();
  h.master_length = mbytes.size();
  h.master_checksum = hexz::hash::checksum64(mbytes.data(), mbytes.size());
  h.page_count = static_cast<uint32_t>(master.size());
  out.insert(out.end(), mbytes.begin(), mbytes.end());
  h.file_size = out.size();
  h.tail_length = h.file_size - h.tail_offset;
  if (identity) {
    std::vector<Bytes> ordered;
    for (const auto& rec : h.streams) {
      for (uint32_t p = rec.first_page; p < rec.first_page + rec.page_count && p < raws.size(); ++p)
        ordered.push_back(raws[p]);
    }
    h.index_digest = index_digest_of(h, ordered);
    h.identity = identity_of(h.index_digest, m.dictionary, m.bases);
  }
  fmt::encode_header(h, std::span<unsigned char, fmt::kHeaderSize>(out.data(), fmt::kHeaderSize));
  return out;
}

namespace {

/// Header field offsets (FORMAT.md section 4.1), read loosely: reseal() must cope with any
/// bytes, so it does not go through decode_header's validation.
constexpr size_t kIdentity = 64, kMasterOffset = 112, kMasterLength = 120, kMasterChecksum = 128,
                 kPageCount = 136, kDictOffset = 144, kDictLength = 152, kDictChecksum = 160,
                 kBasesOffset = 168, kBasesLength = 176, kBasesChecksum = 184;
/// Largest block reseal() decodes to repair digests (keeps fuzzing iterations cheap).
constexpr uint32_t kMaxResealBlock = 1u << 20;

/// Decoded blocks by file offset and reference, so each is decoded once per reseal.
class BlockDecoder {
 public:
  BlockDecoder(const Bytes& file, const hexz::codec::Dictionary* dict) : file_(file), dict_(dict) {}
  const Bytes* decode(const fmt::BlockRef& ref) {
    const auto key =
        std::make_tuple(ref.offset, ref.stored_length, ref.raw_length, static_cast<int>(ref.codec));
    if (auto it = cache_.find(key); it != cache_.end()) return it->second ? &*it->second : nullptr;
    std::optional<Bytes> out;
    if (ref.raw_length != 0 && ref.raw_length <= kMaxResealBlock &&
        within(ref.offset, ref.stored_length, file_.size())) {
      try {
        Bytes raw(ref.raw_length);
        if (ref.codec == hexz::Codec::kNone) {
          if (ref.stored_length == ref.raw_length)
            std::memcpy(raw.data(), file_.data() + ref.offset, raw.size());
          else
            throw hexz::Error(hexz::ErrorCode::kCorrupt, "size");
        } else {
          decompressor_.decompress(ref.codec, as_bytes(file_, ref.offset, ref.stored_length),
                                   std::as_writable_bytes(std::span(raw)), dict_);
        }
        out = std::move(raw);
      } catch (const std::exception&) {
      }
    }
    auto& slot = cache_[key] = std::move(out);
    return slot ? &*slot : nullptr;
  }

 private:
  const Bytes& file_;
  const hexz::codec::Dictionary* dict_;
  hexz::codec::Decompressor decompressor_;
  std::map<std::tuple<uint64_t, uint32_t, uint32_t, int>, std::optional<Bytes>> cache_;
};

/// Repairs the block checksums (and digests) of one raw page at file[at, at + len).
void reseal_page(Bytes& file, size_t at, size_t len, uint32_t n, bool digests,
                 BlockDecoder& blocks) {
  unsigned char* p = file.data() + at;
  const size_t kind = 0, source = n, codec = 2 * size_t{n}, length = 3 * size_t{n},
               in_block = 7 * size_t{n}, stored = 11 * size_t{n}, raw = 15 * size_t{n},
               offset = 19 * size_t{n}, sum = 27 * size_t{n};
  size_t d = 35 * size_t{n};
  for (uint32_t i = 0; i < n; ++i) {
    if (p[kind + i] != 1 || p[source + i] != 0) continue;
    fmt::BlockRef ref;
    ref.offset = load_le<uint64_t>(p + offset + 8 * i);
    ref.stored_length = load_le<uint32_t>(p + stored + 4 * i);
    ref.raw_length = load_le<uint32_t>(p + raw + 4 * i);
    ref.codec = p[codec + i] <= 2 ? static_cast<hexz::Codec>(p[codec + i]) : hexz::Codec::kNone;
    if (within(ref.offset, ref.stored_length, file.size())) {
      store_le<uint64_t>(p + sum + 8 * i,
                         hexz::hash::checksum64(file.data() + ref.offset, ref.stored_length));
    }
    if (digests && d + fmt::kEntryDigestBytes <= len && p[codec + i] <= 2) {
      const uint32_t chunk_len = load_le<uint32_t>(p + length + 4 * i);
      const uint32_t chunk_at = load_le<uint32_t>(p + in_block + 4 * i);
      if (const Bytes* block = blocks.decode(ref);
          block != nullptr && within(chunk_at, chunk_len, block->size())) {
        const auto digest = hexz::hash::chunk_digest(block->data() + chunk_at, chunk_len);
        std::memcpy(p + d, digest.bytes.data(), fmt::kEntryDigestBytes);
      }
    }
    d += fmt::kEntryDigestBytes;
  }
}

}  // namespace

void reseal(Bytes& file, bool digests) {
  if (file.size() < fmt::kHeaderSize) return;
  unsigned char* h = file.data();
  const uint64_t master_offset = load_le<uint64_t>(h + kMasterOffset);
  const uint64_t master_length = load_le<uint64_t>(h + kMasterLength);
  const uint32_t page_count = load_le<uint32_t>(h + kPageCount);
  const uint64_t dict_offset = load_le<uint64_t>(h + kDictOffset);
  const uint32_t dict_length = load_le<uint32_t>(h + kDictLength);
  std::unique_ptr<hexz::codec::Dictionary> dict;
  if (dict_length != 0 && within(dict_offset, dict_length, file.size())) {
    try {
      std::vector<std::byte> bytes(dict_length);
      std::memcpy(bytes.data(), file.data() + dict_offset, dict_length);
      dict = std::make_unique<hexz::codec::Dictionary>(std::move(bytes), 0);
    } catch (const std::exception&) {
    }
    store_le<uint64_t>(h + kDictChecksum,
                       hexz::hash::checksum64(file.data() + dict_offset, dict_length));
  }
  const uint64_t bases_offset = load_le<uint64_t>(h + kBasesOffset);
  const uint32_t bases_length = load_le<uint32_t>(h + kBasesLength);
  if (bases_length != 0 && within(bases_offset, bases_length, file.size())) {
    store_le<uint64_t>(h + kBasesChecksum,
                       hexz::hash::checksum64(file.data() + bases_offset, bases_length));
  }
  BlockDecoder blocks(file, dict.get());
  std::vector<std::optional<Bytes>> raw_pages;
  if (within(master_offset, master_length, file.size()) &&
      master_length / fmt::kMasterEntrySize >= page_count) {
    raw_pages.resize(page_count);
    for (uint32_t i = 0; i < page_count; ++i) {
      unsigned char* e =
          file.data() + master_offset + static_cast<size_t>(i) * fmt::kMasterEntrySize;
      const uint64_t at = load_le<uint64_t>(e + 0);
      const uint32_t stored = load_le<uint32_t>(e + 8);
      const uint32_t raw = load_le<uint32_t>(e + 12);
      const uint32_t n = load_le<uint32_t>(e + 24);
      if (!within(at, stored, file.size())) continue;
      if (e[29] == 0 && stored == raw && n <= fmt::kMaxPageEntries &&
          raw >= fmt::index_page_raw_size(n, 0)) {
        reseal_page(file, at, stored, n, digests, blocks);
        raw_pages[i] = Bytes(file.begin() + static_cast<std::ptrdiff_t>(at),
                             file.begin() + static_cast<std::ptrdiff_t>(at + stored));
      }
      store_le<uint64_t>(e + 32, hexz::hash::checksum64(file.data() + at, stored));
    }
    store_le<uint64_t>(h + kMasterChecksum,
                       hexz::hash::checksum64(file.data() + master_offset, master_length));
  }
  if (digests) {
    // The identity over the pages in stream order, if every page of each stream is raw.
    std::vector<Bytes> ordered;
    bool complete = true;
    fmt::Header streams_only;
    for (int s = 0; s < hexz::kStreamCount; ++s) {
      const unsigned char* r = h + fmt::kStreamTableOffset + fmt::kStreamRecordSize * size_t(s);
      auto& rec = streams_only.streams[s];
      rec.logical_size = load_le<uint64_t>(r + 0);
      rec.first_page = load_le<uint32_t>(r + 48);
      rec.page_count = load_le<uint32_t>(r + 52);
      rec.present = r[56];
      for (uint64_t p = rec.first_page; p < uint64_t{rec.first_page} + rec.page_count; ++p) {
        if (p >= raw_pages.size() || !raw_pages[p]) {
          complete = false;
          break;
        }
        ordered.push_back(*raw_pages[p]);
      }
    }
    if (complete) {
      const auto index = index_digest_of(streams_only, ordered);
      std::memcpy(h + fmt::kIndexDigestOffset, index.data(), index.size());
      const auto in_file = [&](uint64_t at, uint64_t n) {
        return within(at, n, file.size()) ? std::span<const uint8_t>(file.data() + at, n)
                                          : std::span<const uint8_t>();
      };
      const auto id = identity_of(index, in_file(dict_offset, dict_length),
                                  in_file(bases_offset, bases_length));
      std::memcpy(h + kIdentity, id.data(), id.size());
    }
  }
  fmt::reseal_header_checksum(std::span<unsigned char, fmt::kHeaderSize>(h, fmt::kHeaderSize));
}

void reseal_attachment_table(Bytes& file) {
  if (file.size() < fmt::kHeaderSize) return;
  fmt::Header h;
  try {
    h = fmt::decode_header(
        std::span<const unsigned char, fmt::kHeaderSize>(file.data(), fmt::kHeaderSize), "crafted");
  } catch (const hexz::Error&) {
    return;
  }
  if ((h.required_features & fmt::kFeatureAttachments) == 0 || h.attach_offset > file.size() ||
      h.attach_length > file.size() - h.attach_offset) {
    return;
  }
  const std::vector<unsigned char> table(
      file.begin() + static_cast<std::ptrdiff_t>(h.attach_offset),
      file.begin() + static_cast<std::ptrdiff_t>(h.attach_offset + h.attach_length));
  h.attach_checksum = hexz::hash::checksum64(table.data(), table.size());
  h.identity = fmt::compose_identity(h.index_digest, false, {}, false, {}, &table);
  fmt::encode_header(h, std::span<unsigned char, fmt::kHeaderSize>(file.data(), fmt::kHeaderSize));
}

}  // namespace hexz_test::craft
