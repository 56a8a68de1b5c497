#include "pack/overlay_source.hpp"

#include <algorithm>

namespace hexz::packing {

OverlaySource::OverlaySource(const io::InputSource& overlay, std::vector<io::Extent> allocated,
                             const io::InputSource& base, std::string name)
    : overlay_(overlay), allocated_(std::move(allocated)), base_(base), name_(std::move(name)) {}

uint64_t OverlaySource::allocated_bytes() const {
  uint64_t n = 0;
  for (const auto& e : allocated_) n += e.length;
  return n;
}

std::vector<io::Extent>::const_iterator OverlaySource::allocated_after(uint64_t offset) const {
  return std::upper_bound(
      allocated_.begin(), allocated_.end(), offset,
      [](uint64_t off, const io::Extent& e) { return off < e.offset + e.length; });
}

io::Extent OverlaySource::next_data(uint64_t offset) const {
  const uint64_t size = this->size();
  if (offset >= size) return {size, 0};
  const auto a = allocated_after(offset);
  const uint64_t a_start = a == allocated_.end() ? size : std::max(offset, a->offset);
  if (a_start == offset) return {offset, std::min(a->offset + a->length, size) - offset};
  // Base data before the next overlay extent (the base is zeros past its end).
  if (offset < base_.size()) {
    const io::Extent b = base_.next_data(offset);
    if (b.length != 0 && b.offset < a_start) {
      const uint64_t end = std::min({b.offset + b.length, a_start, size});
      return {b.offset, end - b.offset};
    }
  }
  if (a_start >= size) return {size, 0};
  return {a_start, std::min(a->offset + a->length, size) - a_start};
}

void OverlaySource::read_at(uint64_t offset, std::span<std::byte> out) const {
  uint64_t at = offset;
  const uint64_t end = offset + out.size();
  auto a = allocated_after(at);
  while (at < end) {
    const auto piece = out.subspan(at - offset);
    if (a != allocated_.end() && a->offset <= at) {
      const uint64_t stop = std::min(end, a->offset + a->length);
      overlay_.read_at(at, piece.first(stop - at));
      at = stop;
      ++a;
      continue;
    }
    const uint64_t stop = std::min(end, a == allocated_.end() ? end : a->offset);
    const uint64_t from_base = at < base_.size() ? std::min(stop, base_.size()) - at : 0;
    if (from_base != 0) base_.read_at(at, piece.first(from_base));
    std::fill(piece.begin() + static_cast<ptrdiff_t>(from_base),
              piece.begin() + static_cast<ptrdiff_t>(stop - at), std::byte{0});
    at = stop;
  }
}

}  // namespace hexz::packing
