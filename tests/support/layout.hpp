// Byte offsets of the .hxz v1 layout, for corruption tests. The authoritative definition is
// src/format/records.{hpp,cpp}; the static_asserts in layout.cpp keep the two in step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "support/test_data.hpp"

namespace hexz_test::layout {

inline constexpr size_t kHeaderSize = 512;
inline constexpr size_t kMagicSize = 8;
inline constexpr size_t kVersionMajor = 8;        // u16
inline constexpr size_t kVersionMinor = 10;       // u16
inline constexpr size_t kRequiredFeatures = 16;   // u64
inline constexpr size_t kOptionalFeatures = 24;   // u64
inline constexpr size_t kFileSize = 32;           // u64
inline constexpr size_t kTailOffset = 96;         // u64
inline constexpr size_t kMasterOffset = 112;      // u64
inline constexpr size_t kMasterLength = 120;      // u64
inline constexpr size_t kPageCount = 136;         // u32
inline constexpr size_t kDictOffset = 144;        // u64
inline constexpr size_t kDictLength = 152;        // u32
inline constexpr size_t kDictChecksum = 160;      // u64 XXH3-64 of the stored dictionary
inline constexpr size_t kIndexDigest = 400;       // 32 bytes, covered by the identity
inline constexpr size_t kStreamTable = 192;       // 2 x 64-byte stream records
inline constexpr size_t kHeaderChecksum = 504;    // u64 XXH3-64 of bytes [0, 504)
inline constexpr size_t kMasterEntrySize = 40;    // u64 offset, u32 stored length, ...
inline constexpr size_t kFirstBlockOffset = 512;  // data starts right after the header

uint64_t get_u64(const Bytes& file, size_t at);
uint32_t get_u32(const Bytes& file, size_t at);
uint16_t get_u16(const Bytes& file, size_t at);
void put_u64(Bytes& file, size_t at, uint64_t v);
void put_u16(Bytes& file, size_t at, uint16_t v);
/// Recomputes the header checksum after a deliberate header edit.
void fix_header_checksum(Bytes& file);
/// Recomputes the dictionary checksum (and then the header checksum) of an unencrypted file
/// after a deliberate edit of its dictionary.
void fix_dict_checksum(Bytes& file);
/// As an attacker who rewrote a block would: sets `block_checksum` of every index entry of
/// `file` (unencrypted) that refers to the block at `block_offset` of `source` to `checksum`.
/// A changed page is recompressed in its old place if it fits (the file keeps its size), else
/// stored raw after the data region (the tail moves); every offset and checksum is fixed up;
/// digests, the index digest and the identity are left as they were.
Bytes with_block_checksum(const Bytes& file, uint8_t source, uint64_t block_offset,
                          uint64_t checksum);

/// Where things are in a packed file.
struct Map {
  uint64_t file_size = 0;
  uint64_t tail_offset = 0;
  uint64_t master_offset = 0;
  uint64_t master_length = 0;
  uint32_t page_count = 0;
  struct Page {
    uint64_t offset;
    uint32_t stored_length;
  };
  std::vector<Page> pages;  ///< From the master index, in order.
};
Map read_map(const Bytes& file);

}  // namespace hexz_test::layout
