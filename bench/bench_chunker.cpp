// FastCDC v1 throughput over real data: the whole of disk-v1.img (or $HEXZ_CORPUS / a
// generated image), read into memory once, chunked end to end per iteration. Bytes include
// the skipped sub-minimum prefix of every chunk, as in the FastCDC papers' figures.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "bench_data.hpp"
#include "chunk/fastcdc.hpp"

namespace {

/// Up to 1 GiB of the corpus disk image (a generated image if there is none).
const std::vector<unsigned char>& input() {
  static const std::vector<unsigned char> data = [] {
    std::vector<unsigned char> d;
    const std::string path = hexz::bench::corpus_file();
    const int fd = path.empty() ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st {};
      ::fstat(fd, &st);
      d.resize(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), 1ull << 30));
      size_t done = 0;
      while (done < d.size()) {
        const ssize_t r = ::pread(fd, d.data() + done, d.size() - done, static_cast<off_t>(done));
        if (r <= 0) break;
        done += static_cast<size_t>(r);
      }
      d.resize(done);
      ::close(fd);
    }
    if (d.empty()) {
      d.resize(256u << 20);
      hexz::bench::fill_image(reinterpret_cast<std::byte*>(d.data()), d.size(), 7);
    }
    return d;
  }();
  return data;
}

void BM_FastCdc(benchmark::State& state) {
  const auto& d = input();
  const hexz::chunk::FastCdc cdc(static_cast<uint32_t>(state.range(0)),
                                 static_cast<uint32_t>(state.range(1)),
                                 static_cast<uint32_t>(state.range(2)));
  size_t chunks = 0;
  for (auto _ : state) {
    size_t pos = 0;
    chunks = 0;
    while (pos < d.size()) {
      pos += cdc.cut(d.data() + pos, d.size() - pos);
      ++chunks;
    }
    benchmark::DoNotOptimize(pos);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * d.size()));
  state.counters["avg_chunk"] = static_cast<double>(d.size()) / static_cast<double>(chunks);
}

}  // namespace

// hexz's CDC default (2K/8K/64K), the original project's (16K/64K/128K) and a 4K/16K/64K middle.
BENCHMARK(BM_FastCdc)
    ->Args({2048, 8192, 65536})
    ->Args({4096, 16384, 65536})
    ->Args({16384, 65536, 131072})
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

BENCHMARK_MAIN();
