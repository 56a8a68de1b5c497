// Reading and checking a snapshot's header: the first step of every open, and all of a peek.
#pragma once

#include <array>

#include "format/records.hpp"
#include "hexz/snapshot.hpp"
#include "io/readable_file.hpp"

namespace hexz::read {

/// Reads the 512-byte header of `file` into `bytes` and validates it (FORMAT.md rules H1-H16
/// and F1: magic, length, checksum, version, features, structure, and a file at least as long
/// as the header says). Throws hexz::Error (kNotASnapshot, kTruncated, kCorrupt, kUnsupported).
format::Header read_header(const io::ReadableFile& file,
                           std::array<unsigned char, format::kHeaderSize>& bytes);

/// The SnapshotInfo a header alone gives (SnapshotInfo::header_only set): settings, sizes,
/// identity, encryption and KDF cost, and for an unencrypted file the stream counters.
SnapshotInfo header_info(const format::Header& header);

}  // namespace hexz::read
