#include "pack/dedup_table.hpp"

namespace hexz::packing {

DedupTable::DedupTable() : slots_(1024) {}

size_t DedupTable::probe(const hash::ChunkDigest& digest) const {
  const size_t mask = slots_.size() - 1;
  size_t i = static_cast<size_t>(digest.prefix64()) & mask;
  while (slots_[i].used() && !(slots_[i].digest == digest)) i = (i + 1) & mask;
  return i;
}

const ChunkLocation* DedupTable::find(const hash::ChunkDigest& digest) const {
  const Slot& s = slots_[probe(digest)];
  return s.used() ? &s.loc : nullptr;
}

void DedupTable::insert(const hash::ChunkDigest& digest, ChunkLocation loc) {
  if (digest == hash::ChunkDigest{}) return;
  if ((size_ + 1) * 10 > slots_.size() * 7) grow();
  Slot& s = slots_[probe(digest)];
  s.digest = digest;
  s.loc = loc;
  ++size_;
}

void DedupTable::grow() {
  std::vector<Slot> old(slots_.size() * 2);
  old.swap(slots_);
  for (const Slot& s : old) {
    if (s.used()) slots_[probe(s.digest)] = s;
  }
}

}  // namespace hexz::packing
