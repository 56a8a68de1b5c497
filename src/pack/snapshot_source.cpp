#include "pack/snapshot_source.hpp"

#include <algorithm>

namespace hexz::packing {

SnapshotSource::SnapshotSource(const Snapshot& snapshot, Stream stream, std::string name)
    : snapshot_(snapshot), stream_(stream), name_(std::move(name)) {
  if (size() == 0) return;
  snapshot_.for_each_extent(stream_, 0, size(), [&](uint64_t start, uint64_t len, bool zero) {
    if (!zero) data_.push_back({start, len});
  });
}

io::Extent SnapshotSource::next_data(uint64_t offset) const {
  const uint64_t size = this->size();
  if (offset >= size) return {size, 0};
  // First run that ends after offset.
  const auto it =
      std::upper_bound(data_.begin(), data_.end(), offset,
                       [](uint64_t off, const io::Extent& e) { return off < e.offset + e.length; });
  if (it == data_.end()) return {size, 0};
  const uint64_t start = std::max(offset, it->offset);
  return {start, it->offset + it->length - start};
}

}  // namespace hexz::packing
