// Fuzz target: the reader on encrypted snapshots (password "fuzz-password"). Input: one mode
// byte (bit 2: no caches; bits 3-7: read seed), then the file. Nothing is repaired: every
// change must be caught by the key check, the header MAC or an AEAD tag, and a file that still
// verifies must read back (reader_oracle.hpp).
#include "fuzz_input.hpp"
#include "hexz/error.hpp"
#include "reader_oracle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  auto file = std::make_shared<const std::vector<uint8_t>>(data + 1, data + size);
  try {
    const auto snap = hexz_fuzz::open_memory(file, "fuzz-password", (mode & 4) != 0);
    hexz_fuzz::exercise(*snap, file, "fuzz-password", mode >> 3);
  } catch (const hexz::Error&) {
  }
  return 0;
}
