// Building the attachment region of a snapshot's tail (FORMAT.md section 10.6): the stored
// attachment table followed by the stored attachments, position-independent (offsets are
// relative to the table), so pack() and update_attachments() write the same bytes anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/snapshot_cipher.hpp"
#include "format/records.hpp"
#include "hexz/types.hpp"

namespace hexz::packing {

/// One attachment to store: its name and decoded content.
struct AttachmentInput {
  std::string name;
  std::vector<std::byte> bytes;
};

/// The stored region and what the header records about it.
struct AttachmentRegion {
  std::vector<std::byte> bytes;      ///< Stored table, then the stored attachments.
  std::vector<unsigned char> table;  ///< The decoded (plaintext) table: the identity's input.
  uint32_t table_length = 0;         ///< Stored table length (tag included when encrypted).
  uint32_t count = 0;                ///< Records in the table.
  uint64_t table_checksum = 0;       ///< XXH3-64 of the stored table.
  uint64_t table_nonce = 0;          ///< Encrypted: nonce counter of the table seal.
};

/// Throws kInvalidArgument unless the list is storable: 1 to 64 attachments (0 is allowed and
/// means none), valid distinct names, each at most 64 MiB. Messages name the attachment.
void check_attachments(const std::vector<AttachmentInput>& list);

/// Compresses each attachment with `codec` at `level` (raw storage rule, no dictionary), seals
/// it under `cipher` if not null (fresh random nonces), and lays out the region.
/// REQUIRES: check_attachments(list) passed and list is not empty.
AttachmentRegion build_attachment_region(const std::vector<AttachmentInput>& list, Codec codec,
                                         int level, const crypto::SnapshotCipher* cipher);

/// Records `region`, stored at file offset `at`, in `header`: the attachment fields, feature
/// bit 4 and minor version 1; with a null region, clears them (minor version 0).
void record_attachment_region(format::Header& header, const AttachmentRegion* region, uint64_t at);

}  // namespace hexz::packing
