#include "hash/checksum.hpp"

#include <xxhash.h>

namespace hexz::hash {

uint64_t checksum64(const void* data, size_t size) {
  return XXH3_64bits(data, size);
}

}  // namespace hexz::hash
