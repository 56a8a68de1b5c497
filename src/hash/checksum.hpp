// Fast non-cryptographic checksums for detecting corruption (XXH3-64).
#pragma once

#include <cstddef>
#include <cstdint>

namespace hexz::hash {

/// XXH3-64 (seed 0) of `size` bytes at `data`. Used for every block, page and metadata section.
uint64_t checksum64(const void* data, size_t size);

}  // namespace hexz::hash
