// What the reader fuzz targets do with a snapshot that opened: drive every reading entry point
// and check the verify-then-read contract.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "hexz/snapshot.hpp"

namespace hexz_fuzz {

/// Opens `file` from memory (no bases resolved) with one thread; `cold` gives it no caches.
/// Throws hexz::Error like Snapshot::open.
std::unique_ptr<hexz::Snapshot> open_memory(std::shared_ptr<const std::vector<uint8_t>> file,
                                            const std::string& password, bool cold);

/// Calls info(), for_each_extent(), reads at offsets drawn from `seed`, diff() against itself
/// and verify() on `snap`, swallowing hexz::Error from all but verify (which must not throw).
/// If verify() says OK, reopens the file cold and checks that every stream reads back whole,
/// in small pieces and in one piece, with equal bytes: a finding otherwise.
void exercise(const hexz::Snapshot& snap, std::shared_ptr<const std::vector<uint8_t>> file,
              const std::string& password, uint32_t seed);

}  // namespace hexz_fuzz
