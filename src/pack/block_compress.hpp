// The compression stage: turns a raw block into the bytes stored in the file.
#pragma once

#include <vector>

#include "codec/codec.hpp"
#include "pack/segment.hpp"

namespace hexz::packing {

/// Compresses `raw` with `compressor`; keeps it raw if compression does not shrink it.
/// Fills the checksum of the stored bytes.
StoredBlock compress_block(codec::Compressor& compressor, std::vector<std::byte> raw);

}  // namespace hexz::packing
