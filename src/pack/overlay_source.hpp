// A writable layer folded over its base: the overlay's own clusters, the base elsewhere.
#pragma once

#include <string>
#include <vector>

#include "io/input_file.hpp"

namespace hexz::packing {

/// The disk an overlay shows: bytes in `allocated` (the overlay's own extents, merged and in
/// order) come from `overlay`, all others from `base` (zeros past the base's end). Of the base
/// only its data extents are read; of the overlay only its own clusters.
class OverlaySource final : public io::InputSource {
 public:
  /// `overlay` gives the size; both sources must outlive this object.
  OverlaySource(const io::InputSource& overlay, std::vector<io::Extent> allocated,
                const io::InputSource& base, std::string name);

  uint64_t size() const override { return overlay_.size(); }
  const std::string& path() const override { return name_; }
  io::Extent next_data(uint64_t offset) const override;
  void read_at(uint64_t offset, std::span<std::byte> out) const override;
  uint64_t bytes_read() const override { return overlay_.bytes_read() + base_.bytes_read(); }
  /// Bytes of the overlay's own extents.
  uint64_t allocated_bytes() const;

 private:
  /// The first allocated extent ending after `offset`, or end().
  std::vector<io::Extent>::const_iterator allocated_after(uint64_t offset) const;

  const io::InputSource& overlay_;
  std::vector<io::Extent> allocated_;
  const io::InputSource& base_;
  std::string name_;
};

}  // namespace hexz::packing
