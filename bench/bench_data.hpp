// Test data for the micro-benchmarks: realistic blocks read from the corpus when one is present,
// otherwise generated data that compresses roughly like a VM image (text, structured binary,
// random bytes and zero pages).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <sys/stat.h>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace hexz::bench {

/// SplitMix64: a tiny deterministic PRNG (quality is irrelevant here, speed and repeatability
/// are what matter).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n).
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  uint64_t state_;
};

/// Fills `out` with text-like bytes: words from a small vocabulary with a skewed (Zipf-ish)
/// distribution, spaces, punctuation and newlines. Compresses about 2.5-4x with LZ4/Zstd.
inline void fill_text(std::byte* out, size_t n, Rng& rng) {
  static const std::array<const char*, 48> kWords = {
      "the",     "of",      "and",      "to",      "in",       "is",     "for",    "that",
      "return",  "int",     "const",    "void",    "static",   "struct", "if",     "else",
      "while",   "error",   "config",   "value",   "buffer",   "size_t", "uint64", "kernel",
      "module",  "device",  "system",   "library", "function", "string", "file",   "path",
      "usr",     "lib",     "share",    "include", "define",   "GNU",    "Linux",  "version",
      "license", "License", "Software", "data",    "0x0000",   "NULL",   "true",   "false"};
  size_t pos = 0;
  while (pos < n) {
    // Squaring a uniform variate favours the first words, as in natural text.
    const uint64_t r = rng.below(kWords.size());
    const char* w = kWords[(r * r) / kWords.size()];
    const size_t len = std::strlen(w);
    for (size_t i = 0; i < len && pos < n; ++i) out[pos++] = static_cast<std::byte>(w[i]);
    if (pos >= n) break;
    const uint64_t sep = rng.below(16);
    out[pos++] = static_cast<std::byte>(sep == 0 ? '\n' : sep == 1 ? ',' : sep == 2 ? '.' : ' ');
  }
}

/// Fills `out` with structured binary: little records of small integers and pointers, like
/// heap pages or filesystem metadata.
inline void fill_structured(std::byte* out, size_t n, Rng& rng) {
  const uint64_t base = 0x00007f0000000000ull + (rng.next() & 0xffffff000ull);
  for (size_t pos = 0; pos + 8 <= n; pos += 8) {
    uint64_t v = 0;
    switch (rng.below(4)) {
      case 0:
        v = 0;
        break;
      case 1:
        v = rng.below(256);
        break;
      case 2:
        v = base + rng.below(1u << 16) * 16;
        break;
      default:
        v = rng.below(1u << 20);
        break;
    }
    std::memcpy(out + pos, &v, sizeof v);
  }
}

inline void fill_random(std::byte* out, size_t n, Rng& rng) {
  for (size_t pos = 0; pos < n; pos += 8) {
    const uint64_t v = rng.next();
    std::memcpy(out + pos, &v, std::min<size_t>(8, n - pos));
  }
}

/// `n` bytes of text-like data.
inline std::vector<std::byte> make_text(size_t n, uint64_t seed) {
  std::vector<std::byte> v(n);
  Rng rng(seed);
  fill_text(v.data(), n, rng);
  return v;
}

/// Fills `out` (a multiple of 4 KiB) like a VM image, in runs of 1-16 pages of one kind:
/// ~30% zero pages, ~35% text, ~20% structured binary, ~10% random (incompressible) and ~5%
/// repeats of an earlier page (dedup hits).
inline void fill_image(std::byte* out, size_t n, uint64_t seed) {
  constexpr size_t kPage = 4096;
  Rng rng(seed);
  size_t pos = 0;
  while (pos < n) {
    const size_t run = std::min<size_t>((1 + rng.below(16)) * kPage, n - pos);
    const uint64_t kind = rng.below(100);
    if (kind < 30) {
      std::memset(out + pos, 0, run);
    } else if (kind < 65) {
      fill_text(out + pos, run, rng);
    } else if (kind < 85) {
      fill_structured(out + pos, run, rng);
    } else if (kind < 95 || pos < 64 * kPage) {
      fill_random(out + pos, run, rng);
    } else {
      for (size_t p = 0; p < run; p += kPage) {
        const size_t from = rng.below(pos / kPage) * kPage;
        std::memmove(out + pos + p, out + from, std::min(kPage, run - p));
      }
    }
    pos += run;
  }
}

/// The realistic input for codec benchmarks, if any: $HEXZ_BENCH_DATA (a file), else
/// $HEXZ_CORPUS (a file, or a folder holding disk-v1.img), else /work/corpus/disk-v1.img.
/// Empty if none exists.
inline std::string corpus_file() {
  const auto is_file = [](const std::string& p) {
    struct stat st {};
    return !p.empty() && ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
  };
  if (const char* d = std::getenv("HEXZ_BENCH_DATA"); d && is_file(d)) return d;
  if (const char* c = std::getenv("HEXZ_CORPUS"); c && *c) {
    if (is_file(c)) return c;
    if (is_file(std::string(c) + "/disk-v1.img")) return std::string(c) + "/disk-v1.img";
  }
  if (is_file("/work/corpus/disk-v1.img")) return "/work/corpus/disk-v1.img";
  return {};
}

/// Up to `count` blocks of `block_size` bytes spread evenly over `path`, skipping all-zero
/// blocks (they say nothing about a codec). Empty if the file cannot be read.
inline std::vector<std::vector<std::byte>> read_blocks(const std::string& path, size_t count,
                                                       size_t block_size) {
  std::vector<std::vector<std::byte>> blocks;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return blocks;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < block_size) {
    ::close(fd);
    return blocks;
  }
  const uint64_t total = static_cast<uint64_t>(st.st_size) / block_size;
  // Up to 8 passes, each over `count` positions spread evenly across the whole file and
  // shifted a little from the previous pass, until enough non-zero blocks are found.
  constexpr uint64_t kPasses = 8;
  const uint64_t slots = count * kPasses;
  std::vector<std::byte> buf(block_size);
  for (uint64_t pass = 0; pass < kPasses && blocks.size() < count; ++pass) {
    for (uint64_t k = 0; k < count && blocks.size() < count; ++k) {
      const uint64_t slot = k * kPasses + (pass * 5) % kPasses;  // 0, 5, 2, 7, 4, 1, 6, 3
      const auto offset = static_cast<off_t>((slot * total / slots) * block_size);
      if (::pread(fd, buf.data(), block_size, offset) != static_cast<ssize_t>(block_size)) {
        continue;
      }
      if (std::all_of(buf.begin(), buf.end(), [](std::byte b) { return b == std::byte{0}; })) {
        continue;
      }
      blocks.push_back(buf);
    }
  }
  ::close(fd);
  return blocks;
}

}  // namespace hexz::bench
