// The compression stage: turns a raw block into the bytes stored in the file.
#pragma once

#include <vector>

#include "codec/codec.hpp"
#include "crypto/snapshot_cipher.hpp"
#include "pack/segment.hpp"

namespace hexz::packing {

/// Compresses `raw` with `compressor`; keeps it raw if compression does not shrink it. Without
/// `cipher`, fills the XXH3 checksum of the stored bytes; with it, encrypts them as block `seq`
/// and stores `seq` in the checksum field (FORMAT.md, "Encryption").
StoredBlock compress_block(codec::Compressor& compressor, util::Buffer raw,
                           const crypto::SnapshotCipher* cipher, uint32_t seq);

}  // namespace hexz::packing
