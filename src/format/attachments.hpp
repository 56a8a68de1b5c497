// The attachment table (FORMAT.md section 10.6, format 1.1, feature bit 4): named opaque blobs
// stored in the metadata tail. This file knows the table's byte layout and the naming rules.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hexz/types.hpp"

namespace hexz::format {

/// Most attachments one snapshot holds.
inline constexpr size_t kMaxAttachments = 64;
/// Longest attachment name in bytes.
inline constexpr size_t kMaxAttachmentName = 64;
/// Largest decoded attachment (64 MiB).
inline constexpr uint64_t kMaxAttachmentSize = 64ull << 20;
/// Bytes of an attachment record before its name.
inline constexpr size_t kAttachmentRecordFixed = 72;

/// One record of the (decoded, decrypted) attachment table.
struct AttachmentRecord {
  /// Where the stored attachment starts, relative to the start of the stored table
  /// (header attach_offset): the table and its attachments can move together unchanged.
  uint64_t offset = 0;
  uint32_t stored_length = 0;  ///< Stored bytes (including the 16-byte tag when encrypted).
  uint32_t raw_length = 0;     ///< Decoded size, at most kMaxAttachmentSize.
  Codec codec = Codec::kNone;  ///< How the inner stored form is compressed.
  uint64_t checksum = 0;       ///< XXH3-64 of the stored bytes.
  uint64_t nonce = 0;          ///< Encrypted: the seal's nonce counter (random); else 0.
  /// BLAKE3-256 of the decoded content (keyed under K_dedup when encrypted).
  std::array<unsigned char, 32> digest{};
  std::string name;  ///< 1..kMaxAttachmentName bytes of [A-Za-z0-9._-], first alphanumeric.
};

/// Empty if `name` is a valid attachment name, else why not (one clause, for messages).
std::string attachment_name_problem(const std::string& name);

/// Serialises records back to back (FORMAT.md section 10.6).
std::vector<unsigned char> encode_attachment_table(const std::vector<AttachmentRecord>& records);

/// Parses exactly `count` records filling `in` and checks them (rule A3): names valid and
/// distinct, sizes and codecs valid, each attachment inside [table_length, region_length) of
/// the region that starts at the table, computed without wrapping. `overhead` is the tag size
/// of an encrypted file (0 otherwise). Throws kCorrupt naming the problem.
std::vector<AttachmentRecord> decode_attachment_table(std::span<const unsigned char> in,
                                                      uint32_t count, uint64_t table_length,
                                                      uint64_t region_length, uint32_t overhead,
                                                      const std::string& name);

/// Associated data context of an encrypted attachment: LE32(index), LE32(raw_length),
/// u8 codec, u8 name_length, name.
std::vector<unsigned char> attachment_aead_context(uint32_t index, const AttachmentRecord& r);

}  // namespace hexz::format
