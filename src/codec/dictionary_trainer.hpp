// Training Zstd dictionaries from sample chunks (fastCover).
#pragma once

#include <cstddef>
#include <vector>

namespace hexz::codec {

/// Largest dictionary hexz trains (the size the zstd CLI uses).
inline constexpr size_t kMaxDictionarySize = 110 * 1024;

/// Trains a dictionary of at most `capacity` bytes from `samples` (concatenated) whose sizes are
/// `sizes`, tuned for Zstd `level`. Returns an empty vector if the samples are too few or a
/// dictionary would not help. Deterministic for the same inputs.
std::vector<std::byte> train_dictionary(const std::vector<std::byte>& samples,
                                        const std::vector<size_t>& sizes, size_t capacity,
                                        int level);

}  // namespace hexz::codec
