// Fuzz target: the whole reader, fed from memory through the byte-source interface.
// Input: one mode byte, then the snapshot file. Mode bit 0: repair every checksum first (so
// mutations reach the decoders behind them); bit 1: also repair chunk digests and the
// identity (so mutated files can verify, exercising the verify-then-read oracle); bit 2: open
// without caches; bits 3-7: seed of the read offsets. See reader_oracle.hpp for the checks.
#include "fuzz_input.hpp"
#include "hexz/error.hpp"
#include "reader_oracle.hpp"
#include "support/craft.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  auto file = std::make_shared<std::vector<uint8_t>>(data + 1, data + size);
  if (mode & 1) hexz_test::craft::reseal(*file, (mode & 2) != 0);
  try {
    const auto snap = hexz_fuzz::open_memory(file, "", (mode & 4) != 0);
    hexz_fuzz::exercise(*snap, file, "", mode >> 3);
  } catch (const hexz::Error&) {
  }
  return 0;
}
