#include "pack/hole_fill_source.hpp"

#include <algorithm>

#include "hexz/error.hpp"

namespace hexz::packing {

HoleFillSource::HoleFillSource(const io::InputSource& input, const Snapshot& base, Stream stream)
    : input_(input), base_(base), stream_(stream) {
  if (input_.streamed()) {
    throw Error(ErrorCode::kInvalidArgument,
                "--holes-inherit needs a file whose holes can be found, not " + input_.path());
  }
  if (!base_.has_stream(stream_)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("--holes-inherit: the base snapshot has no ") + stream_name(stream_) +
                    " stream for the holes of " + input_.path() + " to inherit");
  }
}

io::Extent HoleFillSource::next_data(uint64_t offset) const {
  const uint64_t size = this->size();
  if (offset >= size) return {size, 0};
  return {offset, size - offset};  // every byte may be non-zero: no holes
}

void HoleFillSource::read_base(uint64_t offset, std::span<std::byte> out) const {
  const uint64_t base_size = base_.size(stream_);
  const uint64_t have =
      offset >= base_size ? 0 : std::min<uint64_t>(out.size(), base_size - offset);
  if (have != 0) base_.read(stream_, offset, out.first(have));
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(have), out.end(), std::byte{0});
}

void HoleFillSource::read_at(uint64_t offset, std::span<std::byte> out) const {
  const uint64_t end = offset + out.size();
  uint64_t cursor = offset;
  while (cursor < end) {
    const io::Extent data = input_.next_data(cursor);
    const uint64_t data_start = data.length == 0 ? end : std::min(data.offset, end);
    if (data_start > cursor) {  // a hole of the input: the base's bytes
      read_base(cursor, out.subspan(cursor - offset, data_start - cursor));
      cursor = data_start;
    }
    if (cursor >= end) break;
    const uint64_t data_end = std::min(data.offset + data.length, end);
    input_.read_at(cursor, out.subspan(cursor - offset, data_end - cursor));
    cursor = data_end;
  }
}

}  // namespace hexz::packing
