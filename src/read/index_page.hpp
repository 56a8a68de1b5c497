// A decoded index page: finds the entry covering a logical offset.
#pragma once

#include <cstdint>
#include <vector>

#include "format/records.hpp"

namespace hexz::read {

/// The raw entries of one index page plus the logical offset of each entry.
class IndexPage {
 public:
  /// Takes the decoded page bytes. Throws kCorrupt if an entry is malformed or if the entries'
  /// lengths do not tile [first_logical, first_logical + sum).
  /// `base_count` bounds the entries' source ids.
  IndexPage(std::vector<unsigned char> raw, const format::MasterEntry& master, uint32_t base_count,
            uint32_t stored_overhead);

  uint32_t entry_count() const { return count_; }
  /// Logical stream offset where entry `i` starts. REQUIRES: i <= entry_count().
  uint64_t entry_offset(uint32_t i) const { return offsets_[i]; }
  /// Logical offset just past the page's last entry.
  uint64_t end_offset() const { return offsets_[count_]; }
  /// Decodes entry `i`. REQUIRES: i < entry_count().
  const format::IndexEntry& entry(uint32_t i) const { return entries_[i]; }
  /// Index of the entry containing `offset`. REQUIRES: entry_offset(0) <= offset < end_offset().
  uint32_t find(uint64_t offset) const;
  /// Approximate memory held, for the page cache budget.
  uint64_t cost() const;

 private:
  uint32_t count_;
  std::vector<format::IndexEntry> entries_;
  std::vector<uint64_t> offsets_;
};

}  // namespace hexz::read
