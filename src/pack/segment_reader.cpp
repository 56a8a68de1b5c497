#include "pack/segment_reader.hpp"

#include <algorithm>

namespace hexz::packing {

SegmentReader::SegmentReader(const io::InputSource& input, Stream stream,
                             const ChunkingParams& chunking, uint64_t segment_size)
    : input_(input), stream_(stream), chunking_(chunking), segment_size_(segment_size) {
  if (chunking_.cdc) cdc_.emplace(chunking_.min, chunking_.avg, chunking_.max);
  if (!input_.streamed()) data_ = input_.next_data(0);
}

std::optional<Segment> SegmentReader::next() {
  if (input_.streamed()) return next_stream();
  return cdc_ ? next_cdc() : next_fixed();
}

bool SegmentReader::read_range(uint64_t offset, std::span<std::byte> out) {
  const uint64_t end = offset + out.size();
  while (data_.length != 0 && data_.offset + data_.length <= offset)
    data_ = input_.next_data(data_.offset + data_.length);
  if (data_.length == 0 || data_.offset >= end) {
    std::fill(out.begin(), out.end(), std::byte{0});
    return true;
  }
  uint64_t cursor = offset;
  while (cursor < end) {
    if (data_.length == 0 || data_.offset >= end) {
      std::fill(out.begin() + static_cast<ptrdiff_t>(cursor - offset), out.end(), std::byte{0});
      break;
    }
    const uint64_t ds = std::max(data_.offset, cursor);
    const uint64_t de = std::min(data_.offset + data_.length, end);
    std::fill(out.begin() + static_cast<ptrdiff_t>(cursor - offset),
              out.begin() + static_cast<ptrdiff_t>(ds - offset), std::byte{0});
    input_.read_at(ds, out.subspan(ds - offset, de - ds));
    cursor = de;
    if (de == data_.offset + data_.length) data_ = input_.next_data(de);
  }
  return false;
}

std::optional<Segment> SegmentReader::next_stream() {
  Segment seg;
  seg.stream = stream_;
  seg.offset = pos_ - carry_.size();
  seg.data = std::move(carry_);
  carry_.clear();
  const size_t have = seg.data.size();
  seg.data.resize(have + segment_size_);
  const size_t got = input_.read_next(std::span(seg.data).subspan(have, segment_size_));
  seg.data.resize(have + got);
  pos_ += got;
  const bool at_end = got < segment_size_;
  if (seg.data.size() == 0) return std::nullopt;
  const size_t n = seg.data.size();
  size_t at = 0;
  if (cdc_) {
    const auto* p = reinterpret_cast<const unsigned char*>(seg.data.data());
    while (at < n && (at_end || n - at >= cdc_->max())) {
      const size_t len = cdc_->cut(p + at, n - at);
      seg.chunk_lengths.push_back(static_cast<uint32_t>(len));
      at += len;
    }
    carry_.assign(seg.data.begin() + static_cast<ptrdiff_t>(at), seg.data.end());
    seg.data.resize(at);
  } else {
    for (; at < n; at += chunking_.chunk_size) {
      seg.chunk_lengths.push_back(
          static_cast<uint32_t>(std::min<uint64_t>(chunking_.chunk_size, n - at)));
    }
    at = n;
  }
  seg.length = at;
  return seg;
}

std::optional<Segment> SegmentReader::next_fixed() {
  const uint64_t size = input_.size();
  if (pos_ >= size) return std::nullopt;
  Segment seg;
  seg.stream = stream_;
  seg.offset = pos_;
  seg.length = std::min(segment_size_, size - pos_);
  const uint64_t end = pos_ + seg.length;
  for (uint64_t c = pos_; c < end; c += chunking_.chunk_size) {
    seg.chunk_lengths.push_back(
        static_cast<uint32_t>(std::min<uint64_t>(chunking_.chunk_size, end - c)));
  }
  // Peek: is the whole segment a hole? Then carry no data at all.
  while (data_.length != 0 && data_.offset + data_.length <= pos_)
    data_ = input_.next_data(data_.offset + data_.length);
  seg.hole = data_.length == 0 || data_.offset >= end;
  if (!seg.hole) {
    seg.data.resize(seg.length);
    read_range(pos_, seg.data);
  }
  pos_ = end;
  return seg;
}

std::optional<Segment> SegmentReader::next_cdc() {
  const uint64_t size = input_.size();
  if (pos_ >= size && carry_.empty()) return std::nullopt;
  Segment seg;
  seg.stream = stream_;
  seg.offset = pos_ - carry_.size();
  seg.data = std::move(carry_);
  carry_.clear();
  const uint64_t want = std::min(segment_size_, size - pos_);
  const size_t have = seg.data.size();
  seg.data.resize(have + want);
  read_range(pos_, std::span(seg.data).subspan(have, want));
  pos_ += want;
  const bool at_end = pos_ >= size;
  const auto* p = reinterpret_cast<const unsigned char*>(seg.data.data());
  size_t at = 0;
  const size_t n = seg.data.size();
  // Cut while a full max-size window is available (or at the end of the input).
  while (at < n && (at_end || n - at >= cdc_->max())) {
    const size_t len = cdc_->cut(p + at, n - at);
    seg.chunk_lengths.push_back(static_cast<uint32_t>(len));
    at += len;
  }
  carry_.assign(seg.data.begin() + static_cast<ptrdiff_t>(at), seg.data.end());
  seg.data.resize(at);
  seg.length = at;
  return seg;
}

}  // namespace hexz::packing
