// Zero-chunk detection.
#pragma once

#include <cstddef>

namespace hexz::chunk {

/// True if all `size` bytes at `data` are zero.
bool is_all_zero(const void* data, size_t size);

}  // namespace hexz::chunk
