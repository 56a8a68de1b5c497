// make_rewritten_snapshot DIR: writes DIR/rewritten.img (1 MiB of random bytes) and
// DIR/rewritten.hxz, a snapshot of it (disk and memory streams, raw 64 KiB blocks) whose first
// block was rewritten by an attacker: 16 bytes at file offset 600 changed and the block's XXH3
// checksum recomputed, so plain reads return the changed bytes in [88, 104) of either stream
// and only verified reads (the chunk digests) notice. Used by the front-end tests of
// --verify-reads (mount, nbdkit, serve-memory). Exits 1 with a message on any error.
#include <xxhash.h>

#include <cstdio>
#include <exception>
#include <string>

#include "hexz/hexz.hpp"
#include "support/layout.hpp"
#include "support/test_data.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_rewritten_snapshot DIR\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    const hexz_test::Bytes image = hexz_test::random_bytes(1 << 20, 2026);
    hexz_test::write_file(dir + "/rewritten.img", image);
    hexz::PackOptions o;
    o.disk_path = dir + "/rewritten.img";
    o.memory_path = dir + "/rewritten.img";
    o.output_path = dir + "/rewritten.hxz";
    o.force = true;
    o.codec = hexz::Codec::kNone;
    o.block_size = 65536;  // the first block is [512, 66048), stored raw
    hexz::pack(o);
    hexz_test::Bytes file = hexz_test::read_file(o.output_path);
    for (size_t i = 0; i < 16; ++i) file[600 + i] ^= 0x5a;
    const uint64_t sum = XXH3_64bits(file.data() + 512, 65536);
    hexz_test::write_file(o.output_path, hexz_test::layout::with_block_checksum(file, 0, 512, sum));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_rewritten_snapshot: %s\n", e.what());
    return 1;
  }
}
