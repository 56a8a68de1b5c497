// Diff memory snapshots (Firecracker diff snapshots): an input whose holes mean "unchanged since
// the base", not zeros. Presented as an input whose holes read as the base's stream.
#pragma once

#include <string>

#include "hexz/snapshot.hpp"
#include "io/input_file.hpp"

namespace hexz::packing {

/// `input` with every hole (SEEK_HOLE/SEEK_DATA) filled with the bytes of stream `stream` of
/// `base` at the same offsets, and zeros past the end of the base's stream. Its size is the
/// input's. It has no holes of its own: zero chunks are found by the hashing stage as usual, and
/// chunks equal to the base's (those inside holes, with the base's chunking) dedup against it.
class HoleFillSource final : public io::InputSource {
 public:
  /// `input` and `base` must outlive this. Throws kInvalidArgument if `base` lacks `stream` or
  /// `input` is a stream (it has no holes to find).
  HoleFillSource(const io::InputSource& input, const Snapshot& base, Stream stream);

  uint64_t size() const override { return input_.size(); }
  const std::string& path() const override { return input_.path(); }
  io::Extent next_data(uint64_t offset) const override;
  void read_at(uint64_t offset, std::span<std::byte> out) const override;

 private:
  /// Fills `out` with the base's bytes at `offset` (zeros past its end).
  void read_base(uint64_t offset, std::span<std::byte> out) const;

  const io::InputSource& input_;
  const Snapshot& base_;
  Stream stream_;
};

}  // namespace hexz::packing
