#include "support/layout.hpp"

#include <xxhash.h>

#include <cstring>

#include "codec/codec.hpp"
#include "format/records.hpp"
#include "read/index_page.hpp"

namespace hexz_test::layout {

static_assert(kHeaderSize == hexz::format::kHeaderSize);
static_assert(kHeaderChecksum == hexz::format::kHeaderChecksumOffset);
static_assert(kMasterEntrySize == hexz::format::kMasterEntrySize);
static_assert(kStreamTable == hexz::format::kStreamTableOffset);
static_assert(kMagicSize == hexz::format::kMagic.size());

uint64_t get_u64(const Bytes& file, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | file.at(at + static_cast<size_t>(i));
  return v;
}

uint32_t get_u32(const Bytes& file, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | file.at(at + static_cast<size_t>(i));
  return v;
}

uint16_t get_u16(const Bytes& file, size_t at) {
  return static_cast<uint16_t>(file.at(at) | (file.at(at + 1) << 8));
}

void put_u64(Bytes& file, size_t at, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) file.at(at + i) = static_cast<uint8_t>(v >> (8 * i));
}

void put_u16(Bytes& file, size_t at, uint16_t v) {
  file.at(at) = static_cast<uint8_t>(v);
  file.at(at + 1) = static_cast<uint8_t>(v >> 8);
}

void fix_header_checksum(Bytes& file) {
  put_u64(file, kHeaderChecksum, XXH3_64bits(file.data(), kHeaderChecksum));
}

void fix_dict_checksum(Bytes& file) {
  const uint64_t at = get_u64(file, kDictOffset);
  const uint32_t len = get_u32(file, kDictLength);
  put_u64(file, kDictChecksum, XXH3_64bits(file.data() + at, len));
  fix_header_checksum(file);
}

Bytes with_block_checksum(const Bytes& file, uint8_t source, uint64_t block_offset,
                          uint64_t checksum) {
  namespace fmt = hexz::format;
  const auto hspan = std::span<const unsigned char, fmt::kHeaderSize>(file.data(), kHeaderSize);
  fmt::Header h = fmt::decode_header(hspan, "tampered");
  std::vector<fmt::MasterEntry> master;
  for (uint32_t i = 0; i < h.page_count; ++i)
    master.push_back(
        fmt::decode_master_entry(file.data() + h.master_offset + i * kMasterEntrySize));
  Bytes data(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(h.tail_offset));
  hexz::codec::Decompressor dec;
  for (auto& m : master) {
    std::vector<unsigned char> raw(m.raw_length);
    const auto* stored = reinterpret_cast<const std::byte*>(file.data() + m.offset);
    dec.decompress(m.codec, std::span(stored, m.stored_length),
                   std::as_writable_bytes(std::span(raw)));
    const hexz::read::IndexPage page(raw, m, h.base_count, 0);
    std::vector<fmt::IndexEntry> entries;
    bool changed = false;
    for (uint32_t i = 0; i < page.entry_count(); ++i) {
      fmt::IndexEntry e = page.entry(i);
      if (e.kind == fmt::ChunkKind::kData && e.source == source && e.block.offset == block_offset) {
        e.block.checksum = checksum;
        changed = true;
      }
      entries.push_back(e);
    }
    if (!changed) continue;
    const std::vector<unsigned char> page_bytes = fmt::encode_index_page(entries);
    // Recompressed harder, the page usually fits where it was (the file keeps its size, as an
    // attacker would want); otherwise it goes, raw, after the data region.
    hexz::codec::Compressor zstd(hexz::Codec::kZstd, 19);
    std::vector<std::byte> packed(zstd.bound(page_bytes.size()));
    const size_t n = zstd.compress(std::as_bytes(std::span(page_bytes)), packed);
    m.raw_length = static_cast<uint32_t>(page_bytes.size());
    if (n != 0 && n <= m.stored_length) {
      std::memcpy(data.data() + m.offset, packed.data(), n);
      m.stored_length = static_cast<uint32_t>(n);
      m.codec = hexz::Codec::kZstd;
      m.checksum = XXH3_64bits(packed.data(), n);
      continue;
    }
    m.offset = data.size();
    m.stored_length = static_cast<uint32_t>(page_bytes.size());
    m.codec = hexz::Codec::kNone;
    m.checksum = XXH3_64bits(page_bytes.data(), page_bytes.size());
    data.insert(data.end(), page_bytes.begin(), page_bytes.end());
  }
  const uint64_t shift = data.size() - h.tail_offset;
  data.insert(data.end(), file.begin() + static_cast<std::ptrdiff_t>(h.tail_offset), file.end());
  h.tail_offset += shift;
  h.master_offset += shift;
  if (h.dict_length != 0) h.dict_offset += shift;
  if (h.base_count != 0) h.bases_offset += shift;
  h.file_size = data.size();
  for (size_t i = 0; i < master.size(); ++i)
    fmt::encode_master_entry(master[i], data.data() + h.master_offset + i * kMasterEntrySize);
  h.master_checksum = XXH3_64bits(data.data() + h.master_offset, h.master_length);
  fmt::encode_header(h, std::span<unsigned char, fmt::kHeaderSize>(data.data(), kHeaderSize));
  return data;
}

Map read_map(const Bytes& file) {
  Map m;
  m.file_size = get_u64(file, kFileSize);
  m.tail_offset = get_u64(file, kTailOffset);
  m.master_offset = get_u64(file, kMasterOffset);
  m.master_length = get_u64(file, kMasterLength);
  m.page_count = get_u32(file, kPageCount);
  for (uint32_t i = 0; i < m.page_count; ++i) {
    size_t e = m.master_offset + i * kMasterEntrySize;
    m.pages.push_back({get_u64(file, e), get_u32(file, e + 8)});
  }
  return m;
}

}  // namespace hexz_test::layout
