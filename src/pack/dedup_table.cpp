#include "pack/dedup_table.hpp"

#include <bit>

namespace hexz::packing {

namespace {

constexpr uint64_t kInitialSlots = 1024;
constexpr uint64_t kMinSlots = 16;

}  // namespace

DedupTable::DedupTable(uint64_t memory_limit) : limit_(memory_limit) {
  uint64_t slots = kInitialSlots;
  while (slots > kMinSlots && slots * kSlotBytes > limit_) slots /= 2;
  slots_.resize(slots);
  bits_ = std::countr_zero(slots);
}

uint64_t DedupTable::prefix_of(const hash::ChunkDigest& digest) {
  uint64_t v = 0;
  for (int i = 0; i < kPrefixBits / 8; ++i) v = (v << 8) | digest.bytes[static_cast<size_t>(i)];
  return v;
}

const ChunkLocation* DedupTable::find(const hash::ChunkDigest& digest) {
  const uint64_t mask = slots_.size() - 1;
  const uint64_t prefix = prefix_of(digest);
  for (uint64_t i = home(prefix);; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.ref == 0) return nullptr;
    if (s.prefix() == prefix && log_.get(s.ref - 1) == digest) {
      found_.block = s.block;
      found_.offset_in_block =
          static_cast<uint32_t>(s.prefix_offset & ((uint64_t{1} << kOffsetBits) - 1));
      return &found_;
    }
  }
}

void DedupTable::place(const Slot& s) {
  const uint64_t mask = slots_.size() - 1;
  uint64_t i = home(s.prefix());
  while (slots_[i].ref != 0) i = (i + 1) & mask;
  slots_[i] = s;
}

bool DedupTable::try_grow() {
  if (capped_) return false;
  const uint64_t bigger = slots_.size() * 2;
  // While rehashing both arrays exist; the prefix must still have bits to choose a slot.
  if ((slots_.size() + bigger) * kSlotBytes > limit_ || bits_ + 1 > kPrefixBits) {
    capped_ = true;
    return false;
  }
  std::vector<Slot> old(bigger);
  old.swap(slots_);
  ++bits_;
  for (const Slot& s : old) {
    if (s.ref != 0) place(s);
  }
  return true;
}

bool DedupTable::insert(const hash::ChunkDigest& digest, ChunkLocation loc) {
  const uint64_t n = slots_.size();
  const bool full = (size_ + 1) * 4 > n * 3 && !try_grow() && (size_ + 1) * 8 > n * 7;
  // The log numbers fit the slot's 32 bits, the offset its 24 (blocks are at most 16 MiB).
  if (full || log_.size() >= UINT32_MAX - 1 || loc.offset_in_block >> kOffsetBits != 0) {
    ++refused_;
    return false;
  }
  const uint64_t number = log_.append(digest);
  place({prefix_of(digest) << kOffsetBits | loc.offset_in_block, static_cast<uint32_t>(number + 1),
         loc.block});
  ++size_;
  return true;
}

}  // namespace hexz::packing
