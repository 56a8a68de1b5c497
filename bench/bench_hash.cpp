// Micro-benchmarks of the hashing layer: the BLAKE3 chunk digest (dedup key of every 4 KiB
// chunk), the XXH3-64 block checksum (every ~64 KiB block) and the zero-chunk test.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <vector>

#include "bench_data.hpp"
#include "chunk/zero.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"

namespace {

/// Hashes consecutive `size`-byte pieces of a 4 MiB text-like buffer (larger than L2, like a
/// pack worker walking a segment).
void BM_Blake3ChunkDigest(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const std::vector<std::byte> data = hexz::bench::make_text(4u << 20, 1);
  size_t offset = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(hexz::hash::chunk_digest(data.data() + offset, size));
    offset += size;
    if (offset + size > data.size()) offset = 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Blake3ChunkDigest)->Arg(4096)->Arg(64 * 1024);

void BM_Xxh3Checksum(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const std::vector<std::byte> data = hexz::bench::make_text(4u << 20, 2);
  size_t offset = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(hexz::hash::checksum64(data.data() + offset, size));
    offset += size;
    if (offset + size > data.size()) offset = 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Xxh3Checksum)->Arg(64 * 1024)->Arg(4096);

/// The zero test on an all-zero chunk: the worst case, every byte is looked at.
void BM_IsAllZero(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  const std::vector<std::byte> data(size);
  for (auto _ : state) {
    benchmark::DoNotOptimize(hexz::chunk::is_all_zero(data.data(), size));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_IsAllZero)->Arg(4096);

// TODO: FastCDC chunker throughput (bench_chunker) once the content-defined chunker lands.

}  // namespace

BENCHMARK_MAIN();
