#include "support/layout.hpp"

#include <xxhash.h>

#include <cstring>

#include "format/records.hpp"

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
