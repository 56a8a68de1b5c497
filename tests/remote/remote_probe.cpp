// Test and measurement helper for remote snapshots (driven by the scripts in this folder).
//   remote_probe open LOCATION N                 open latency: prints p50/max in ms over N opens
//   remote_probe random LOCATION IMAGE N         N random 4 KiB disk reads, each on a fresh open
//                                                (cold caches), compared with IMAGE; prints
//                                                p50/p99 in ms
//   remote_probe interrupt LOCATION IMAGE CMD    opens, reads 4 KiB, runs CMD (sh -c), then reads
//                                                the rest of the disk stream: exits 0 if that
//                                                fails with an error (and no read returned wrong
//                                                bytes), 1 if it succeeded, 2 on wrong bytes
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::vector<char> load(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: see remote_probe.cpp\n");
    return 64;
  }
  const std::string cmd = argv[1];
  const std::string location = argv[2];
  hexz::OpenOptions options;
  options.threads = 1;
  try {
    if (cmd == "open") {
      const int n = std::atoi(argv[3]);
      std::vector<double> t;
      for (int i = 0; i < n; ++i) {
        const auto start = Clock::now();
        auto s = hexz::Snapshot::open(location, options);
        t.push_back(ms_since(start));
      }
      std::printf("open: p50 %.2f ms, max %.2f ms over %d opens\n", pct(t, 0.5),
                  *std::max_element(t.begin(), t.end()), n);
      return 0;
    }
    const std::vector<char> image = load(argv[3]);
    if (cmd == "random" && argc >= 5) {
      const int n = std::atoi(argv[4]);
      std::mt19937_64 rng(42);
      std::vector<double> t;
      std::vector<std::byte> buf(4096);
      for (int i = 0; i < n; ++i) {
        auto s = hexz::Snapshot::open(location, options);
        const uint64_t off = (rng() % (image.size() / 4096)) * 4096;
        const auto start = Clock::now();
        s->read(hexz::Stream::kDisk, off, buf);
        t.push_back(ms_since(start));
        if (std::memcmp(buf.data(), image.data() + off, buf.size()) != 0) {
          std::fprintf(stderr, "wrong bytes at %llu\n", static_cast<unsigned long long>(off));
          return 2;
        }
      }
      std::printf("random 4 KiB reads (cold): p50 %.2f ms, p99 %.2f ms over %d reads\n",
                  pct(t, 0.5), pct(t, 0.99), n);
      return 0;
    }
    if (cmd == "interrupt" && argc >= 5) {
      auto s = hexz::Snapshot::open(location, options);
      std::vector<std::byte> buf(4096);
      s->read(hexz::Stream::kDisk, 0, buf);
      if (std::system(argv[4]) != 0) std::fprintf(stderr, "note: command failed\n");
      const uint64_t size = s->size(hexz::Stream::kDisk);
      std::vector<std::byte> chunk(1 << 20);
      for (uint64_t off = 0; off < size; off += chunk.size()) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - off));
        try {
          s->read(hexz::Stream::kDisk, off, std::span(chunk.data(), n));
        } catch (const hexz::Error& e) {
          std::printf("error as expected: %s\n", e.what());
          return 0;
        }
        if (std::memcmp(chunk.data(), image.data() + off, n) != 0) {
          std::fprintf(stderr, "WRONG BYTES at %llu\n", static_cast<unsigned long long>(off));
          return 2;
        }
      }
      std::printf("read succeeded\n");
      return 1;
    }
  } catch (const hexz::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 3;
  }
  std::fprintf(stderr, "bad arguments\n");
  return 64;
}
