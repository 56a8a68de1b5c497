#include "pack/segment_reader.hpp"

#include <algorithm>

namespace hexz::packing {

SegmentReader::SegmentReader(const io::InputFile& input, Stream stream, uint32_t chunk_size,
                             uint64_t segment_size)
    : input_(input), stream_(stream), chunk_size_(chunk_size), segment_size_(segment_size) {
  data_ = input_.next_data(0);
}

std::optional<Segment> SegmentReader::next() {
  const uint64_t size = input_.size();
  if (pos_ >= size) return std::nullopt;
  Segment seg;
  seg.stream = stream_;
  seg.offset = pos_;
  seg.length = std::min(segment_size_, size - pos_);
  const uint64_t end = pos_ + seg.length;
  for (uint64_t c = pos_; c < end; c += chunk_size_) {
    seg.chunk_lengths.push_back(static_cast<uint32_t>(std::min<uint64_t>(chunk_size_, end - c)));
  }
  while (data_.length != 0 && data_.offset + data_.length <= pos_) data_ = input_.next_data(data_.offset + data_.length);
  seg.hole = data_.length == 0 || data_.offset >= end;
  if (!seg.hole) {
    seg.data.resize(seg.length);
    uint64_t cursor = pos_;
    while (cursor < end) {
      if (data_.length == 0 || data_.offset >= end) {
        std::fill(seg.data.begin() + static_cast<ptrdiff_t>(cursor - pos_), seg.data.end(), std::byte{0});
        break;
      }
      const uint64_t ds = std::max(data_.offset, cursor);
      const uint64_t de = std::min(data_.offset + data_.length, end);
      std::fill(seg.data.begin() + static_cast<ptrdiff_t>(cursor - pos_),
                seg.data.begin() + static_cast<ptrdiff_t>(ds - pos_), std::byte{0});
      input_.read_at(ds, std::span(seg.data).subspan(ds - pos_, de - ds));
      cursor = de;
      if (de == data_.offset + data_.length) data_ = input_.next_data(de);
    }
  }
  pos_ = end;
  return seg;
}

}  // namespace hexz::packing
