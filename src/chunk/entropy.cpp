#include "chunk/entropy.hpp"

#include <cmath>
#include <cstdint>

namespace hexz::chunk {

double shannon_entropy(const void* data, size_t size) {
  if (size == 0) return 0.0;
  uint64_t counts[256] = {};
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) ++counts[p[i]];
  double h = 0.0;
  const double n = static_cast<double>(size);
  for (const uint64_t c : counts) {
    if (c == 0) continue;
    const double f = static_cast<double>(c) / n;
    h -= f * std::log2(f);
  }
  return h;
}

}  // namespace hexz::chunk
