// What the memory server knows about each page of the guest regions it serves.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "hexz/memory.hpp"

namespace hexz::uffd {

/// State of one page.
enum class PageState : uint8_t {
  kMissing = 0,  ///< Never filled (or unknown): a fault fills it from the snapshot.
  kFilled = 1,   ///< Filled by this server.
  kRemoved = 2,  ///< Removed by the VMM (UFFD_EVENT_REMOVE): it must read as zeros from now on.
};

/// Per-page states of a set of regions, safe for concurrent use.
class PageStates {
 public:
  explicit PageStates(std::span<const MemoryRegion> regions);

  /// The regions, as given.
  const std::vector<MemoryRegion>& regions() const { return regions_; }
  /// Index of the region holding host address `address`, or -1.
  int region_of(uint64_t address) const;
  /// Pages of region `r`.
  uint64_t page_count(int r) const { return regions_[r].size / regions_[r].page_size; }
  PageState get(int r, uint64_t page) const {
    return static_cast<PageState>(states_[r][page].load(std::memory_order_acquire));
  }
  /// Marks a missing page filled (a removed page stays removed).
  void mark_filled(int r, uint64_t page);
  /// Marks every page of the regions that intersects [start, end) removed; returns how many.
  uint64_t mark_removed(uint64_t start, uint64_t end);
  /// Marks a removed page filled (with zeros).
  void mark_zeroed(int r, uint64_t page);

 private:
  std::vector<MemoryRegion> regions_;
  std::vector<std::unique_ptr<std::atomic<uint8_t>[]>> states_;
};

}  // namespace hexz::uffd
