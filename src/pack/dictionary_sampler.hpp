// Picks the sample chunks a Zstd dictionary is trained on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/input_file.hpp"

namespace hexz::packing {

/// Concatenated sample chunks and their sizes, in input order.
struct Samples {
  std::vector<std::byte> bytes;
  std::vector<size_t> sizes;
};

/// Reads about `target` chunks of `chunk_size` bytes spread evenly over all `inputs` taken as
/// one sequence (stratified sampling), skipping holes, all-zero chunks and chunks whose byte
/// entropy exceeds `max_entropy` bits/byte. Deterministic.
Samples sample_chunks(const std::vector<const io::InputSource*>& inputs, uint32_t chunk_size,
                      size_t target, double max_entropy);

}  // namespace hexz::packing
