// The machine's floor for pack and cat on one input: the per-core throughput of the
// primitives hexz cannot avoid (LZ4 and zstd-3 encode and decode of 64 KiB blocks, BLAKE3 of
// 4 KiB chunks), measured on the input's own non-zero bytes, and the time they take for the
// whole input on N cores:
//
//   pack floor = non-zero bytes x (1/encode + 1/BLAKE3) / cores
//   cat floor  = non-zero bytes x (1/decode) / cores
//
// bench/run_benchmarks.sh runs it in the same invocation as the tool comparison, and
// bench/floor_table.py puts hexz, the peer and this floor side by side.
//
// Usage: bench_floor IMAGE [--cores N] [--sample-mib M] > floor.json
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "chunk/zero.hpp"
#include "codec/codec.hpp"
#include "hash/digest.hpp"

namespace {

constexpr size_t kChunk = 4096;
constexpr size_t kBlock = 64 * 1024;

/// Seconds per pass of `fn` over the sample: repeated until at least 0.5 s, the best pass.
double best_pass(const std::function<void()>& fn) {
  using clock = std::chrono::steady_clock;
  double best = 1e30, total = 0;
  for (int i = 0; i < 20 && (i < 2 || total < 0.5); ++i) {
    const auto t0 = clock::now();
    fn();
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    best = std::min(best, s);
    total += s;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_floor IMAGE [--cores N] [--sample-mib M]\n");
    return 2;
  }
  const std::string path = argv[1];
  unsigned cores = std::thread::hardware_concurrency();
  uint64_t sample_limit = 256ull << 20;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--cores") == 0) cores = static_cast<unsigned>(std::atoi(argv[i + 1]));
    if (std::strcmp(argv[i], "--sample-mib") == 0)
      sample_limit = std::strtoull(argv[i + 1], nullptr, 10) << 20;
  }
  if (cores == 0) cores = 1;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "bench_floor: cannot open %s\n", path.c_str());
    return 1;
  }
  // Every non-zero 4 KiB chunk counts; the first sample_limit bytes of them, spread evenly
  // over the file (every k-th), are the sample.
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  const uint64_t stride = std::max<uint64_t>(1, size / std::max<uint64_t>(1, sample_limit));
  std::vector<std::byte> sample;
  std::vector<std::byte> chunk(kChunk);
  uint64_t nonzero = 0, index = 0;
  for (uint64_t at = 0; at < size; at += kChunk, ++index) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, size - at));
    in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(n));
    if (hexz::chunk::is_all_zero(chunk.data(), n)) continue;
    nonzero += n;
    if (index % stride == 0 && sample.size() < sample_limit)
      sample.insert(sample.end(), chunk.begin(), chunk.begin() + static_cast<long>(n));
  }
  sample.resize(sample.size() / kBlock * kBlock);
  if (sample.empty()) {
    std::fprintf(stderr, "bench_floor: %s has too few non-zero bytes\n", path.c_str());
    return 1;
  }
  const size_t blocks = sample.size() / kBlock;
  const double mb = static_cast<double>(sample.size()) / 1e6;

  struct Codec {
    const char* name;
    hexz::Codec codec;
    int level;
    double enc = 0, dec = 0;
  };
  Codec codecs[] = {{"lz4", hexz::Codec::kLz4, 1}, {"zstd3", hexz::Codec::kZstd, 3}};
  for (Codec& c : codecs) {
    hexz::codec::Compressor comp(c.codec, c.level);
    std::vector<std::vector<std::byte>> packed(blocks);
    for (auto& p : packed) p.resize(comp.bound(kBlock));
    std::vector<size_t> lengths(blocks);
    c.enc = mb / best_pass([&] {
              for (size_t b = 0; b < blocks; ++b) {
                lengths[b] = comp.compress(
                    std::span<const std::byte>(sample.data() + b * kBlock, kBlock), packed[b]);
              }
            });
    hexz::codec::Decompressor dec;
    std::vector<std::byte> out(kBlock);
    c.dec = mb / best_pass([&] {
              for (size_t b = 0; b < blocks; ++b) {
                if (lengths[b] == 0) {
                  std::memcpy(out.data(), sample.data() + b * kBlock, kBlock);  // stored raw
                  continue;
                }
                dec.decompress(c.codec, std::span(packed[b].data(), lengths[b]), out);
              }
            });
  }
  volatile unsigned char sink = 0;
  const double blake3 =
      mb / best_pass([&] {
        for (size_t at = 0; at < sample.size(); at += kChunk)
          sink = sink ^ hexz::hash::chunk_digest(sample.data() + at, kChunk).bytes[0];
      });
  const double nz_mb = static_cast<double>(nonzero) / 1e6;
  std::printf(
      "{\"input\": \"%s\", \"size\": %llu, \"nonzero_bytes\": %llu, \"sample_bytes\": %zu, "
      "\"cores\": %u,\n \"per_core_mbps\": {\"lz4_encode\": %.1f, \"lz4_decode\": %.1f, "
      "\"zstd3_encode\": %.1f, \"zstd3_decode\": %.1f, \"blake3\": %.1f},\n"
      " \"floor_seconds\": {\"pack_lz4\": %.3f, \"pack_zstd3\": %.3f, \"cat_lz4\": %.3f, "
      "\"cat_zstd3\": %.3f}}\n",
      path.c_str(), static_cast<unsigned long long>(size), static_cast<unsigned long long>(nonzero),
      sample.size(), cores, codecs[0].enc, codecs[0].dec, codecs[1].enc, codecs[1].dec, blake3,
      nz_mb * (1 / codecs[0].enc + 1 / blake3) / cores,
      nz_mb * (1 / codecs[1].enc + 1 / blake3) / cores, nz_mb / codecs[0].dec / cores,
      nz_mb / codecs[1].dec / cores);
  return 0;
}
