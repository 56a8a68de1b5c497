// Micro-benchmarks of random 4 KiB reads through hexz::Snapshot::read.
//
// A generated VM-like image (default 256 MiB; $HEXZ_BENCH_READ_MB overrides) is packed once per
// process into a temporary folder, with LZ4 and with Zstd level 3 (block size: the default, or
// $HEXZ_BENCH_BLOCK_KB KiB). Two access patterns:
//   cold  every read misses the block cache (OpenOptions::block_cache_bytes = 0), so each read
//         is an index lookup + pread of the block + decode + checksum + copy. The .hxz file
//         itself is in the OS page cache (it was just written), so no device I/O is measured.
//   warm  reads cycle over a small hot set (64 chunks in at most 64 blocks) that stays in the
//         block cache: lookup + copy.
// Each read is timed on its own; p50 and p99 (nanoseconds) are reported as counters, averaged
// over the benchmark threads. Threads(2) shares one Snapshot between two threads.
// The *_verified cases open the snapshot with OpenOptions::verify_reads (every chunk returned
// is checked against its BLAKE3 digest; warm reads of a chunk already checked in its cached
// block hash nothing). BM_StreamRead reads the whole image in 1 MiB pieces through an 8 MiB
// block cache (every block decoded again on each pass), one thread, no readahead, verified
// and not, so the pair gives the cost of verification on a streaming read.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bench_data.hpp"
#include "hexz/pack.hpp"
#include "hexz/snapshot.hpp"

namespace {

namespace fs = std::filesystem;

constexpr uint64_t kReadSize = 4096;
constexpr size_t kHotSet = 64;

/// The packed images, made on first use and deleted at exit.
class Images {
 public:
  static Images& get() {
    static Images images;
    return images;
  }
  const std::string& path(hexz::Codec codec) const {
    return codec == hexz::Codec::kLz4 ? lz4_ : zstd_;
  }
  uint64_t image_size() const { return size_; }

  /// A shared Snapshot of `codec` opened for the `cold` or warm pattern (`cold` with a block
  /// cache of `cold_cache` bytes), with or without verified reads.
  const hexz::Snapshot& snapshot(hexz::Codec codec, bool cold, bool verified = false,
                                 uint64_t cold_cache = 0) {
    std::lock_guard lock(mu_);
    auto& slot = open_[{codec, cold, verified, cold_cache}];
    if (!slot) {
      hexz::OpenOptions o;
      o.threads = 1;  // Decode on the reading thread; random reads get no readahead anyway.
      o.readahead_bytes = 0;
      o.verify_reads = verified;
      if (cold) o.block_cache_bytes = cold_cache;  // 0: every read decodes its block.
      slot = hexz::Snapshot::open(path(codec), o);
    }
    return *slot;
  }

  ~Images() {
    open_.clear();
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  Images(const Images&) = delete;
  Images& operator=(const Images&) = delete;

 private:
  Images() {
    uint64_t mb = 256;
    if (const char* env = std::getenv("HEXZ_BENCH_READ_MB"); env && std::atoi(env) > 0) {
      mb = static_cast<uint64_t>(std::atoi(env));
    }
    size_ = mb << 20;
    std::string tmpl = (fs::temp_directory_path() / "hexz-bench-read.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    const std::string raw = (dir_ / "image.raw").string();
    {
      std::vector<std::byte> piece(8u << 20);
      std::FILE* f = std::fopen(raw.c_str(), "wb");
      if (f == nullptr) throw std::runtime_error("cannot create " + raw);
      for (uint64_t done = 0, seed = 1; done < size_; done += piece.size(), ++seed) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(piece.size(), size_ - done));
        hexz::bench::fill_image(piece.data(), n, seed);
        std::fwrite(piece.data(), 1, n, f);
      }
      std::fclose(f);
    }
    lz4_ = (dir_ / "lz4.hxz").string();
    zstd_ = (dir_ / "zstd3.hxz").string();
    for (auto [codec, level, out] :
         {std::tuple{hexz::Codec::kLz4, 0, lz4_}, std::tuple{hexz::Codec::kZstd, 3, zstd_}}) {
      hexz::PackOptions o;
      o.disk_path = raw;
      o.output_path = out;
      o.codec = codec;
      o.level = level;
      if (const char* env = std::getenv("HEXZ_BENCH_BLOCK_KB"); env && std::atoi(env) > 0) {
        o.block_size = static_cast<uint32_t>(std::atoi(env)) << 10;
      }
      hexz::pack(o);
    }
    fs::remove(raw);
  }

  std::mutex mu_;
  fs::path dir_;
  std::string lz4_, zstd_;
  uint64_t size_ = 0;
  std::map<std::tuple<hexz::Codec, bool, bool, uint64_t>, std::unique_ptr<hexz::Snapshot>> open_;
};

void BM_RandomRead(benchmark::State& state, hexz::Codec codec, bool cold, bool verified = false) {
  Images& images = Images::get();
  const hexz::Snapshot& snap = images.snapshot(codec, cold, verified);
  const uint64_t chunks = snap.size(hexz::Stream::kDisk) / kReadSize;
  hexz::bench::Rng rng(0x5eed + static_cast<uint64_t>(state.thread_index()) * 7919 +
                       (cold ? 1 : 0));

  // Warm: a fixed hot set, read once before timing so that it is in the block cache.
  std::vector<uint64_t> hot;
  std::vector<std::byte> buf(kReadSize);
  if (!cold) {
    hexz::bench::Rng hot_rng(42);  // The same hot set in every thread.
    for (size_t i = 0; i < kHotSet; ++i) hot.push_back(hot_rng.below(chunks) * kReadSize);
    for (const uint64_t off : hot) snap.read(hexz::Stream::kDisk, off, buf);
  }

  std::vector<double> ns;
  ns.reserve(1u << 20);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t off = cold ? rng.below(chunks) * kReadSize : hot[i++ % kHotSet];
    const auto t0 = std::chrono::steady_clock::now();
    snap.read(hexz::Stream::kDisk, off, buf);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(buf.data());
    if (ns.size() < ns.capacity())
      ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  if (!ns.empty()) {
    std::sort(ns.begin(), ns.end());
    const auto pct = [&ns](double p) {
      return ns[std::min(ns.size() - 1, static_cast<size_t>(p * static_cast<double>(ns.size())))];
    };
    state.counters["p50_ns"] = benchmark::Counter(pct(0.50), benchmark::Counter::kAvgThreads);
    state.counters["p99_ns"] = benchmark::Counter(pct(0.99), benchmark::Counter::kAvgThreads);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kReadSize));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

/// Whole-image sequential reads in 1 MiB pieces; bytes/s is the streaming throughput.
void BM_StreamRead(benchmark::State& state, hexz::Codec codec, bool verified) {
  Images& images = Images::get();
  const hexz::Snapshot& snap = images.snapshot(codec, true, verified, 8u << 20);
  std::vector<std::byte> buf(1u << 20);
  const uint64_t size = snap.size(hexz::Stream::kDisk);
  for (auto _ : state) {
    for (uint64_t off = 0; off < size; off += buf.size()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - off));
      snap.read(hexz::Stream::kDisk, off, std::span(buf.data(), n));
      benchmark::DoNotOptimize(buf.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

BENCHMARK_CAPTURE(BM_StreamRead, lz4, hexz::Codec::kLz4, false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StreamRead, lz4_verified, hexz::Codec::kLz4, true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StreamRead, zstd3, hexz::Codec::kZstd, false)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StreamRead, zstd3_verified, hexz::Codec::kZstd, true)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RandomRead, lz4_cold_verified, hexz::Codec::kLz4, true, true)
    ->Threads(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, lz4_warm_verified, hexz::Codec::kLz4, false, true)
    ->Threads(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, zstd3_cold_verified, hexz::Codec::kZstd, true, true)
    ->Threads(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, zstd3_warm_verified, hexz::Codec::kZstd, false, true)
    ->Threads(1)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, lz4_cold, hexz::Codec::kLz4, true)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, lz4_warm, hexz::Codec::kLz4, false)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, zstd3_cold, hexz::Codec::kZstd, true)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead, zstd3_warm, hexz::Codec::kZstd, false)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
