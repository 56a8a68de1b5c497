#include "chunk/fastcdc.hpp"

#include <algorithm>
#include <bit>

namespace hexz::chunk {

namespace {

constexpr uint64_t kGearSeed = 0x6865787a2d636463ull;  // "hexz-cdc"

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

constexpr std::array<uint64_t, 256> make_gear() {
  std::array<uint64_t, 256> g{};
  for (uint64_t i = 0; i < 256; ++i) g[i] = splitmix64(kGearSeed + i);
  return g;
}

constexpr std::array<uint64_t, 256> kGear = make_gear();

/// A mask of the `bits` most significant bits.
constexpr uint64_t high_mask(unsigned bits) {
  return bits == 0 ? 0 : ~0ull << (64 - bits);
}

}  // namespace

const std::array<uint64_t, 256>& gear_table() {
  return kGear;
}

const char* validate_cdc_params(uint32_t min, uint32_t avg, uint32_t max) {
  if (min < 64) return "minimum chunk size must be at least 64 bytes";
  if (!(min < avg && avg < max)) return "chunk sizes must satisfy min < avg < max";
  if (max > (16u << 20)) return "maximum chunk size must be at most 16 MiB";
  return "";
}

FastCdc::FastCdc(uint32_t min, uint32_t avg, uint32_t max) : min_(min), avg_(avg), max_(max) {
  const unsigned bits = static_cast<unsigned>(std::bit_width(avg) - 1);  // floor(log2(avg))
  mask_small_ = high_mask(std::min(bits + 2, 63u));
  mask_large_ = high_mask(bits > 2 ? bits - 2 : 1);
}

namespace {

/// Scans [i, end) for the first position whose gear hash has its top bits clear (f < bound,
/// i.e. (f & high_mask) == 0). Returns the cut length (position + 1), or 0 if none; `fp` is
/// updated to the hash at end - 1 when no cut is found.
inline size_t scan(const unsigned char* p, size_t i, size_t end, uint64_t& fp, uint64_t bound) {
  uint64_t h = fp;
  // Four bytes per step with one branch: the four hashes are computed from h independently,
  // so the loop-carried chain is one shift and one add per four bytes.
  for (; i + 4 <= end; i += 4) {
    const uint64_t g0 = kGear[p[i]], g1 = kGear[p[i + 1]], g2 = kGear[p[i + 2]],
                   g3 = kGear[p[i + 3]];
    const uint64_t f2 = (h << 2) + ((g0 << 1) + g1);  // carried: h -> f2 -> f4
    const uint64_t f4 = (f2 << 2) + ((g2 << 1) + g3);
    const uint64_t f1 = (h << 1) + g0;  // off the carried chain
    const uint64_t f3 = (f2 << 1) + g2;
    if ((f1 < bound) | (f2 < bound) | (f3 < bound) | (f4 < bound)) {
      if (f1 < bound) return i + 1;
      if (f2 < bound) return i + 2;
      if (f3 < bound) return i + 3;
      return i + 4;
    }
    h = f4;
  }
  for (; i < end; ++i) {
    h = (h << 1) + kGear[p[i]];
    if (h < bound) return i + 1;
  }
  fp = h;
  return 0;
}

}  // namespace

size_t FastCdc::cut(const unsigned char* p, size_t size) const {
  if (size <= min_) return size;
  const size_t limit = std::min<size_t>(size, max_);
  const size_t normal = std::min<size_t>(avg_, limit);
  uint64_t fp = 0;
  // A hash whose masked high bits are all zero is exactly a hash below 2^(64 - bits).
  if (const size_t c = scan(p, min_, normal, fp, ~mask_small_ + 1)) return c;
  if (const size_t c = scan(p, normal, limit, fp, ~mask_large_ + 1)) return c;
  return limit;
}

}  // namespace hexz::chunk
