// Signed snapshots on the read side: the signature trailer after file_size, and the check that
// one of the caller's trusted keys signed the identity (FORMAT.md section 21).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "format/signatures.hpp"
#include "io/readable_file.hpp"

namespace hexz::read {

/// The signature records in the `actual - file_size` bytes after the snapshot's end. Throws
/// kCorrupt (rule F2) if those bytes are not a valid signature trailer.
std::vector<format::SignatureRecord> read_signature_trailer(io::ReadableFile& file,
                                                            uint64_t file_size, uint64_t actual);

/// Throws kCorrupt unless some record in `records` is a valid Ed25519 signature of `identity`'s
/// signature message by one of `trusted` (a file that is not signed, or only by other keys, or
/// with a signature that does not verify).
void require_trusted_signature(const std::vector<format::SignatureRecord>& records,
                               const std::array<unsigned char, 32>& identity,
                               const std::vector<std::array<unsigned char, 32>>& trusted,
                               const std::string& name);

}  // namespace hexz::read
