#include "chunk/zero.hpp"

#include <cstdint>
#include <cstring>

namespace hexz::chunk {

bool is_all_zero(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  // OR together 64-byte stripes; compilers vectorise this loop.
  size_t i = 0;
  while (i + 64 <= size) {
    uint64_t acc = 0;
    for (size_t k = 0; k < 64; k += 8) {
      uint64_t w;
      std::memcpy(&w, p + i + k, 8);
      acc |= w;
    }
    if (acc != 0) return false;
    i += 64;
  }
  for (; i < size; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace hexz::chunk
