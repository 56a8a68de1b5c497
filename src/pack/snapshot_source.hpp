// A stream of an open snapshot used as pack input (flatten, re-pack).
#pragma once

#include <string>
#include <vector>

#include "hexz/snapshot.hpp"
#include "io/input_file.hpp"

namespace hexz::packing {

/// Presents one stream of `snapshot` as an InputSource; zero chunks appear as holes, so they
/// are never read or decoded.
class SnapshotSource final : public io::InputSource {
 public:
  /// Reads the stream's extent list from the index (no data is read).
  SnapshotSource(const Snapshot& snapshot, Stream stream, std::string name);

  uint64_t size() const override { return snapshot_.size(stream_); }
  const std::string& path() const override { return name_; }
  io::Extent next_data(uint64_t offset) const override;
  void read_at(uint64_t offset, std::span<std::byte> out) const override {
    snapshot_.read(stream_, offset, out);
  }

 private:
  const Snapshot& snapshot_;
  Stream stream_;
  std::string name_;
  std::vector<io::Extent> data_;  ///< Non-zero runs, in order.
};

}  // namespace hexz::packing
