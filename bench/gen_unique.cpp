// Writes SIZE GiB of unique, compressible data to stdout, fast: every 4 KiB page starts with
// RANDOM bytes (default 64) of a splitmix64 stream seeded by the page number and is zero after
// them, so no two pages (and no two 4 KiB chunks) are alike and none is all zero. For measuring
// pack's memory and throughput on large unique inputs without a large output or a slow
// generator (docs/benchmarks.md, "Dedup memory at scale").
//
// Usage: gen_unique SIZE_GIB [RANDOM_BYTES_PER_PAGE] | hexz pack --disk - -o out.hxz ...
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kPagesPerWrite = 256;  // 1 MiB writes

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: gen_unique SIZE_GIB [RANDOM_BYTES_PER_PAGE]\n");
    return 2;
  }
  const uint64_t gib = std::strtoull(argv[1], nullptr, 10);
  const size_t random_bytes = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 64;
  if (gib == 0 || random_bytes < 8 || random_bytes > kPage) {
    std::fprintf(stderr, "gen_unique: SIZE_GIB must be > 0 and RANDOM_BYTES 8..4096\n");
    return 2;
  }
  const uint64_t pages = gib << 18;  // 2^30 / 4096
  std::vector<unsigned char> buf(kPage * kPagesPerWrite, 0);
  for (uint64_t first = 0; first < pages; first += kPagesPerWrite) {
    for (size_t p = 0; p < kPagesPerWrite; ++p) {
      uint64_t state = first + p;
      unsigned char* page = buf.data() + p * kPage;
      for (size_t i = 0; i < random_bytes; i += 8) {
        const uint64_t v = splitmix64(state);
        std::memcpy(page + i, &v, std::min<size_t>(8, random_bytes - i));
      }
    }
    size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::write(1, buf.data() + done, buf.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 1;  // a closed pipe ends the run
      done += static_cast<size_t>(n);
    }
  }
  return 0;
}
