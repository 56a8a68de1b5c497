// FastCDC content-defined chunking, algorithm version 1 (docs/FORMAT.md, "Chunking").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace hexz::chunk {

/// Version of the cut-point algorithm and gear table recorded in snapshots. Any change to
/// cut points needs a new version.
inline constexpr uint8_t kFastCdcVersion = 1;

/// The 256-entry gear table of version 1: entry i is splitmix64(kGearSeed + i).
const std::array<uint64_t, 256>& gear_table();

/// Content-defined chunker (Xia et al., FastCDC): a gear rolling hash, cut decisions on its
/// high bits, normalized chunking (a stricter mask before the average size, a looser one
/// after), and no hashing of the first `min` bytes of a chunk.
class FastCdc {
 public:
  /// REQUIRES: 64 <= min < avg < max <= 16 MiB (checked by validate_params()).
  FastCdc(uint32_t min, uint32_t avg, uint32_t max);

  /// Length of the chunk that starts at `data`, given `size` available bytes. If size < max
  /// and more input follows, the caller must supply more bytes before cutting (see
  /// SegmentReader); at the end of the input, pass what is left and the result is <= size.
  size_t cut(const unsigned char* data, size_t size) const;

  uint32_t min() const { return min_; }
  uint32_t avg() const { return avg_; }
  uint32_t max() const { return max_; }

 private:
  uint32_t min_, avg_, max_;
  uint64_t mask_small_;  ///< Applied before avg: more bits, fewer cuts.
  uint64_t mask_large_;  ///< Applied after avg: fewer bits, more cuts.
};

/// Returns an error message if the parameters are invalid, or an empty string.
const char* validate_cdc_params(uint32_t min, uint32_t avg, uint32_t max);

}  // namespace hexz::chunk
