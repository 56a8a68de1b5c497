// Micro-benchmarks of the codec layer: LZ4 (fast mode) and Zstd level 3 compressing and
// decompressing 64 KiB blocks. The blocks come from the benchmark corpus when one is found
// (see hexz::bench::corpus_file), else from generated text-like data; the label says which.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "bench_data.hpp"
#include "codec/codec.hpp"

namespace {

constexpr size_t kBlockSize = 64 * 1024;
constexpr size_t kBlockCount = 256;  // 16 MiB: bigger than the caches, like a real pack.

struct Corpus {
  std::vector<std::vector<std::byte>> blocks;
  std::string label;
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus r;
    const std::string path = hexz::bench::corpus_file();
    if (!path.empty()) {
      r.blocks = hexz::bench::read_blocks(path, kBlockCount, kBlockSize);
      r.label = path;
    }
    if (r.blocks.size() < 16) {
      r.blocks.clear();
      for (size_t i = 0; i < kBlockCount; ++i)
        r.blocks.push_back(hexz::bench::make_text(kBlockSize, i));
      r.label = "generated text";
    }
    return r;
  }();
  return c;
}

void BM_Compress(benchmark::State& state, hexz::Codec codec, int level) {
  const Corpus& c = corpus();
  hexz::codec::Compressor comp(codec, level);
  std::vector<std::byte> out(comp.bound(kBlockSize));
  size_t i = 0;
  uint64_t raw = 0, stored = 0;
  for (auto _ : state) {
    const auto& block = c.blocks[i];
    const size_t n = comp.compress(block, out);
    benchmark::DoNotOptimize(out.data());
    raw += block.size();
    stored += n == 0 ? block.size() : n;
    if (++i == c.blocks.size()) i = 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(raw));
  state.counters["ratio"] =
      stored == 0 ? 0.0 : static_cast<double>(raw) / static_cast<double>(stored);
  state.SetLabel(c.label);
}

void BM_Decompress(benchmark::State& state, hexz::Codec codec, int level) {
  const Corpus& c = corpus();
  hexz::codec::Compressor comp(codec, level);
  // Compress once up front; blocks the codec cannot shrink would be stored raw, so skip them.
  std::vector<std::vector<std::byte>> packed;
  for (const auto& block : c.blocks) {
    std::vector<std::byte> out(comp.bound(block.size()));
    const size_t n = comp.compress(block, out);
    if (n == 0) continue;
    out.resize(n);
    packed.push_back(std::move(out));
  }
  if (packed.empty()) {
    state.SkipWithError("no compressible blocks");
    return;
  }
  hexz::codec::Decompressor dec;
  std::vector<std::byte> out(kBlockSize);
  size_t i = 0;
  for (auto _ : state) {
    dec.decompress(codec, packed[i], out);
    benchmark::DoNotOptimize(out.data());
    if (++i == packed.size()) i = 0;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kBlockSize));
  state.SetLabel(c.label);
}

BENCHMARK_CAPTURE(BM_Compress, lz4, hexz::Codec::kLz4, 1);
BENCHMARK_CAPTURE(BM_Compress, zstd3, hexz::Codec::kZstd, 3);
BENCHMARK_CAPTURE(BM_Decompress, lz4, hexz::Codec::kLz4, 1);
BENCHMARK_CAPTURE(BM_Decompress, zstd3, hexz::Codec::kZstd, 3);

}  // namespace

BENCHMARK_MAIN();
