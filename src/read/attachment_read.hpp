// Reading a snapshot's attachment table and attachments (FORMAT.md section 10.6, rules A1-A7).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "crypto/snapshot_cipher.hpp"
#include "format/attachments.hpp"
#include "format/records.hpp"
#include "io/readable_file.hpp"

namespace hexz::read {

/// A checked, decoded attachment table.
struct AttachmentTable {
  std::vector<format::AttachmentRecord> records;
  std::vector<unsigned char> plain;  ///< The decoded table bytes (the identity covers them).
};

/// Reads the table the header locates: checksum (A1, kCorrupt), seal (A2, kCorrupt when
/// `cipher` is set), records (A3, kCorrupt). An empty table when the header has no bit 4.
AttachmentTable read_attachment_table(const io::ReadableFile& file, const format::Header& header,
                                      const crypto::SnapshotCipher* cipher);

/// Reads, checks (A4 checksum, A5 seal, A6 decoding, A7 digest: kCorrupt naming the
/// attachment) and returns the content of record `index` of `table`.
std::vector<std::byte> read_attachment_content(const io::ReadableFile& file,
                                               const format::Header& header,
                                               const crypto::SnapshotCipher* cipher,
                                               const AttachmentTable& table, size_t index);

}  // namespace hexz::read
