// Validation of PackOptions before any file is touched.
#pragma once

#include "hexz/pack.hpp"
#include "pack/segment_reader.hpp"

namespace hexz::packing {

/// Throws hexz::Error(kInvalidArgument) naming the first invalid option. Input paths are
/// checked only if `needs_input_paths` (flatten takes its inputs from a snapshot).
void validate_options(const PackOptions& options, bool needs_input_paths = true);

/// The chunking the options ask for.
ChunkingParams chunking_of(const PackOptions& options);

}  // namespace hexz::packing
