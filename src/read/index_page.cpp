#include "read/index_page.hpp"

#include <algorithm>

#include "hexz/error.hpp"

namespace hexz::read {

IndexPage::IndexPage(std::vector<unsigned char> raw, const format::MasterEntry& master,
                     uint32_t base_count, uint32_t stored_overhead)
    : count_(master.entry_count),
      entries_(format::decode_index_page(raw, count_, base_count, stored_overhead)) {
  offsets_.reserve(count_ + 1);
  uint64_t at = master.first_logical;
  for (uint32_t i = 0; i < count_; ++i) {
    offsets_.push_back(at);
    at += entries_[i].length;
  }
  offsets_.push_back(at);
}

uint32_t IndexPage::find(uint64_t offset) const {
  // Last entry whose start is <= offset: O(log n) for chunks of any size.
  const auto it = std::upper_bound(offsets_.begin(), offsets_.begin() + count_, offset);
  return static_cast<uint32_t>(it - offsets_.begin()) - 1;
}

uint64_t IndexPage::cost() const {
  return sizeof(*this) + entries_.capacity() * sizeof(format::IndexEntry) +
         offsets_.capacity() * sizeof(uint64_t);
}

}  // namespace hexz::read
