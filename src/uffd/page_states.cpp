#include "uffd/page_states.hpp"

#include <algorithm>

namespace hexz::uffd {

PageStates::PageStates(std::span<const MemoryRegion> regions)
    : regions_(regions.begin(), regions.end()) {
  for (const MemoryRegion& r : regions_) {
    const uint64_t pages = r.size / r.page_size;
    auto states = std::make_unique<std::atomic<uint8_t>[]>(pages);
    for (uint64_t p = 0; p < pages; ++p) states[p].store(0, std::memory_order_relaxed);
    states_.push_back(std::move(states));
  }
}

int PageStates::region_of(uint64_t address) const {
  for (size_t i = 0; i < regions_.size(); ++i) {
    const MemoryRegion& r = regions_[i];
    if (address >= r.host_address && address - r.host_address < r.size) return static_cast<int>(i);
  }
  return -1;
}

void PageStates::mark_filled(int r, uint64_t page) {
  uint8_t expected = static_cast<uint8_t>(PageState::kMissing);
  states_[r][page].compare_exchange_strong(expected, static_cast<uint8_t>(PageState::kFilled),
                                           std::memory_order_acq_rel);
}

void PageStates::mark_zeroed(int r, uint64_t page) {
  states_[r][page].store(static_cast<uint8_t>(PageState::kFilled), std::memory_order_release);
}

uint64_t PageStates::mark_removed(uint64_t start, uint64_t end) {
  uint64_t count = 0;
  for (size_t i = 0; i < regions_.size(); ++i) {
    const MemoryRegion& r = regions_[i];
    const uint64_t lo = std::max(start, r.host_address);
    const uint64_t hi = std::min(end, r.host_address + r.size);
    if (lo >= hi) continue;
    // A page partly removed is removed (the kernel zaps whole pages).
    const uint64_t first = (lo - r.host_address) / r.page_size;
    const uint64_t last = (hi - r.host_address + r.page_size - 1) / r.page_size;
    for (uint64_t p = first; p < last; ++p) {
      states_[i][p].store(static_cast<uint8_t>(PageState::kRemoved), std::memory_order_release);
      ++count;
    }
  }
  return count;
}

}  // namespace hexz::uffd
