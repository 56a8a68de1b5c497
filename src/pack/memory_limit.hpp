// The default memory limit of a pack.
#pragma once

#include <cstdint>

namespace hexz::packing {

/// A quarter of the machine's physical RAM (MemTotal), or 1 GiB if that cannot be found.
uint64_t default_memory_limit();

}  // namespace hexz::packing
