// Byte-level Shannon entropy, used to skip incompressible samples.
#pragma once

#include <cstddef>

namespace hexz::chunk {

/// Shannon entropy of the byte histogram of `size` bytes at `data`, in bits per byte (0..8).
double shannon_entropy(const void* data, size_t size);

}  // namespace hexz::chunk
