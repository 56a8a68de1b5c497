// Little-endian loads and stores used by every on-disk record.
#pragma once

#include <cstdint>
#include <cstring>

namespace hexz::util {

/// Stores `v` at `p` in little-endian byte order.
template <typename T>
inline void store_le(unsigned char* p, T v) {
  for (size_t i = 0; i < sizeof(T); ++i)
    p[i] = static_cast<unsigned char>(static_cast<uint64_t>(v) >> (8 * i));
}

/// Loads a little-endian T from `p`.
template <typename T>
inline T load_le(const unsigned char* p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return static_cast<T>(v);
}

}  // namespace hexz::util
