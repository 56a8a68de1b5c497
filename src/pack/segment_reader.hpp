// Reads an input stream as a sequence of chunked segments, never reading holes.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "chunk/fastcdc.hpp"
#include "io/input_file.hpp"
#include "pack/segment.hpp"

namespace hexz::packing {

/// How a stream is cut into chunks.
struct ChunkingParams {
  bool cdc = false;
  uint32_t chunk_size = 4096;          ///< Fixed chunking.
  uint32_t min = 0, avg = 0, max = 0;  ///< FastCDC.
};

/// Produces consecutive Segments covering a whole input. Holes (SEEK_DATA/SEEK_HOLE) are
/// zero-filled without reading; with fixed chunking a segment lying entirely in a hole carries
/// no data at all. With CDC, segments end on cut points and the bytes after the last cut are
/// carried into the next segment.
class SegmentReader {
 public:
  /// `segment_size` must be a multiple of the fixed chunk size.
  SegmentReader(const io::InputSource& input, Stream stream, const ChunkingParams& chunking,
                uint64_t segment_size);

  /// The next segment, or nullopt at the end of the input.
  std::optional<Segment> next();

 private:
  std::optional<Segment> next_fixed();
  std::optional<Segment> next_cdc();
  /// A streamed input: read in order until it ends (fixed chunks or CDC cuts).
  std::optional<Segment> next_stream();
  /// Fills `out` with input bytes [offset, offset + out.size()), zeros for holes. Returns true
  /// if the whole range was a hole (nothing read).
  bool read_range(uint64_t offset, std::span<std::byte> out);

  const io::InputSource& input_;
  Stream stream_;
  ChunkingParams chunking_;
  std::optional<chunk::FastCdc> cdc_;
  uint64_t segment_size_;
  uint64_t pos_ = 0;    ///< Next input byte not yet read.
  io::Extent data_;     ///< Current or next data extent at/after pos_.
  util::Buffer carry_;  ///< CDC: bytes read but not yet cut.
};

}  // namespace hexz::packing
