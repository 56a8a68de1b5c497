// Reads an input stream as a sequence of chunked segments, never reading holes.
#pragma once

#include <cstdint>
#include <optional>

#include "io/input_file.hpp"
#include "pack/segment.hpp"

namespace hexz::packing {

/// Produces consecutive Segments covering a whole input. Holes (SEEK_DATA/SEEK_HOLE) are
/// zero-filled without reading, and a segment lying entirely in a hole carries no data.
class SegmentReader {
 public:
  /// `segment_size` must be a multiple of `chunk_size`.
  SegmentReader(const io::InputFile& input, Stream stream, uint32_t chunk_size, uint64_t segment_size);

  /// The next segment, or nullopt at the end of the input.
  std::optional<Segment> next();

 private:
  const io::InputFile& input_;
  Stream stream_;
  uint32_t chunk_size_;
  uint64_t segment_size_;
  uint64_t pos_ = 0;
  io::Extent data_;  ///< Current or next data extent at/after pos_.
};

}  // namespace hexz::packing
