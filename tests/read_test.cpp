// Random-access reads, boundary reads, read errors, concurrent readers and extent listing.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::Codec;
using hexz::ErrorCode;
using hexz::Stream;

struct ReadConfig {
  Codec codec;
  int level;
  uint32_t chunk;
  uint32_t block;
  const char* name;
};

void PrintTo(const ReadConfig& c, std::ostream* os) {
  *os << c.name;
}

/// A packed snapshot of a realistic disk+memory pair, kept with its sources.
class ReadFixture : public HexzTest {
 protected:
  void pack_images(const ReadConfig& cfg, size_t disk_size = (1536u << 10) + 1234,
                   size_t memory_size = (1024u << 10) + 77) {
    chunk_ = cfg.chunk;
    src_[0] = make_disk_image(disk_size, 11);
    src_[1] = make_memory_image(memory_size, src_[0], 22);
    src_[0].back() = 0x11;
    src_[1].back() = 0x22;
    auto opts = options(input("disk.img", src_[0]), input("mem.img", src_[1]), output("snap.hxz"));
    opts.codec = cfg.codec;
    opts.level = cfg.level;
    opts.chunk_size = cfg.chunk;
    opts.block_size = cfg.block;
    hexz::pack(opts);
    path_ = opts.output_path;
    snap_ = hexz::Snapshot::open(path_);
  }

  /// Reads [offset, offset+len) and compares it with the source; returns false on mismatch.
  ::testing::AssertionResult check(Stream s, uint64_t offset, size_t len) const {
    const Bytes& src = src_[static_cast<int>(s)];
    Bytes got = read_range(*snap_, s, offset, len);
    if (std::equal(got.begin(), got.end(), src.begin() + static_cast<long>(offset))) {
      return ::testing::AssertionSuccess();
    }
    size_t i = 0;
    while (got[i] == src[offset + i]) ++i;
    return ::testing::AssertionFailure()
           << hexz::stream_name(s) << " read [" << offset << ", +" << len
           << ") differs at stream offset " << offset + i << ": got " << int(got[i]) << ", want "
           << int(src[offset + i]);
  }

  /// Starts of runs of whole all-zero chunks (chunk index where a zero run begins/ends).
  std::vector<uint64_t> zero_run_edges(Stream s) const {
    const Bytes& src = src_[static_cast<int>(s)];
    std::vector<uint64_t> edges;
    bool prev = false;
    for (uint64_t off = 0; off < src.size(); off += chunk_) {
      size_t len = std::min<size_t>(chunk_, src.size() - off);
      bool zero =
          std::all_of(src.begin() + static_cast<long>(off),
                      src.begin() + static_cast<long>(off + len), [](uint8_t b) { return b == 0; });
      if (zero != prev) edges.push_back(off);
      prev = zero;
    }
    return edges;
  }

  uint32_t chunk_ = 0;
  Bytes src_[2];
  std::string path_;
  std::unique_ptr<hexz::Snapshot> snap_;
};

class RandomReads : public ReadFixture, public ::testing::WithParamInterface<ReadConfig> {};

TEST_P(RandomReads, ThousandsOfRandomRangesMatchTheSource) {
  pack_images(GetParam());
  std::mt19937_64 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    auto s = static_cast<Stream>(rng() % 2);
    const uint64_t size = src_[static_cast<int>(s)].size();
    uint64_t len = 0;
    switch (rng() % 5) {
      case 0:
        len = rng() % 16;
        break;  // tiny
      case 1:
        len = rng() % chunk_ + 1;
        break;  // within about a chunk
      case 2:
        len = rng() % (3 * chunk_) + 1;
        break;  // a few chunks
      case 3:
        len = rng() % (100u << 10) + 1;
        break;  // several blocks
      case 4:
        len = rng() % (GetParam().block * 2) + 1;
        break;
    }
    len = std::min(len, size);
    const uint64_t offset = rng() % (size - len + 1);
    ASSERT_TRUE(check(s, offset, len)) << "read #" << i;
  }
}

TEST_P(RandomReads, ReadsAcrossChunkAndBlockBoundaries) {
  pack_images(GetParam());
  const uint32_t block = GetParam().block;
  for (int si = 0; si < 2; ++si) {
    auto s = static_cast<Stream>(si);
    const uint64_t size = src_[si].size();
    // Every chunk boundary in the first 64 chunks, and a sample further on.
    for (uint64_t b = chunk_; b < size; b += (b < 64 * chunk_ ? chunk_ : 7 * chunk_)) {
      for (uint64_t before : {1u, 3u, 100u}) {
        uint64_t off = b - std::min<uint64_t>(before, b);
        ASSERT_TRUE(check(s, off, std::min<uint64_t>(size - off, 2 * before + 1)));
      }
    }
    // Around multiples of the block size (where blocks of new data tend to end), and reads
    // spanning several whole blocks.
    for (uint64_t b = block; b < size; b += block) {
      ASSERT_TRUE(check(s, b - 7, std::min<uint64_t>(size - (b - 7), 14)));
      ASSERT_TRUE(check(s, b - 1, std::min<uint64_t>(size - (b - 1), 2)));
    }
    ASSERT_TRUE(check(s, block / 2, std::min<uint64_t>(size - block / 2, 3 * block + 5)));
    // Across the edges of zero runs.
    for (uint64_t edge : zero_run_edges(s)) {
      uint64_t off = edge - std::min<uint64_t>(edge, 100);
      ASSERT_TRUE(check(s, off, std::min<uint64_t>(size - off, 200)));
      ASSERT_TRUE(check(s, edge, std::min<uint64_t>(size - edge, chunk_ + 1)));
    }
    // Reads ending exactly at the end of the stream.
    for (uint64_t n : {uint64_t{1}, uint64_t{2}, uint64_t{100}, uint64_t{chunk_ - 1},
                       uint64_t{chunk_}, uint64_t{chunk_ + 1}, uint64_t{block + 3}, size}) {
      n = std::min(n, size);
      ASSERT_TRUE(check(s, size - n, n)) << "tail read of " << n;
    }
    // The whole stream in one call.
    ASSERT_TRUE(check(s, 0, size));
  }
}

TEST_P(RandomReads, ExtentsMatchTheZeroChunks) {
  pack_images(GetParam());
  std::mt19937_64 rng(77);
  for (int si = 0; si < 2; ++si) {
    auto s = static_cast<Stream>(si);
    const Bytes& src = src_[si];
    const uint64_t size = src.size();
    std::vector<std::pair<uint64_t, uint64_t>> ranges = {
        {0, size}, {1, size - 2}, {chunk_, chunk_}};
    for (int i = 0; i < 50; ++i) {
      uint64_t off = rng() % size;
      ranges.emplace_back(off, rng() % (size - off) + 1);
    }
    std::vector<bool> zero_chunk;
    for (uint64_t c = 0; c < size; c += chunk_) {
      uint64_t ce = std::min<uint64_t>(c + chunk_, size);
      zero_chunk.push_back(std::all_of(src.begin() + static_cast<long>(c),
                                       src.begin() + static_cast<long>(ce),
                                       [](uint8_t b) { return b == 0; }));
    }
    for (const auto& [off, len] : ranges) {
      // Expected: per-chunk kinds clipped to the range, adjacent equal kinds merged.
      std::vector<std::tuple<uint64_t, uint64_t, bool>> want;
      for (uint64_t c = off / chunk_ * chunk_; c < off + len; c += chunk_) {
        uint64_t ce = std::min<uint64_t>(c + chunk_, size);
        bool zero = zero_chunk[c / chunk_];
        uint64_t a = std::max(c, off), e = std::min(ce, off + len);
        if (!want.empty() && std::get<2>(want.back()) == zero) {
          std::get<1>(want.back()) += e - a;
        } else {
          want.emplace_back(a, e - a, zero);
        }
      }
      std::vector<std::tuple<uint64_t, uint64_t, bool>> got;
      snap_->for_each_extent(s, off, len,
                             [&](uint64_t o, uint64_t l, bool z) { got.emplace_back(o, l, z); });
      ASSERT_EQ(got, want) << hexz::stream_name(s) << " extents of [" << off << ", +" << len << ")";
    }
  }
}

const ReadConfig kReadConfigs[] = {
    {Codec::kLz4, 0, 4096, 65536, "lz4_4K_64K"},
    {Codec::kZstd, 3, 4096, 16384, "zstd_4K_16K"},
    {Codec::kLz4, 0, 512, 1024, "lz4_512_1K"},
    {Codec::kZstd, 1, 16384, 1u << 20, "zstd_16K_1M"},
};

INSTANTIATE_TEST_SUITE_P(Configs, RandomReads, ::testing::ValuesIn(kReadConfigs),
                         [](const ::testing::TestParamInfo<ReadConfig>& p) {
                           return p.param.name;
                         });

// --- Read contract -------------------------------------------------------------------------

class ReadContract : public ReadFixture {
 protected:
  void SetUp() override { pack_images({Codec::kLz4, 0, 4096, 65536, "default"}, 300000, 200001); }
};

TEST_F(ReadContract, ZeroLengthReadsSucceedAnywhereInTheStream) {
  for (int si = 0; si < 2; ++si) {
    auto s = static_cast<Stream>(si);
    const uint64_t size = snap_->size(s);
    for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{4096}, size / 2, size - 1, size}) {
      EXPECT_NO_THROW(snap_->read(s, off, std::span<std::byte>())) << "offset " << off;
    }
  }
}

TEST_F(ReadContract, ReadsPastTheEndThrowOutOfRange) {
  for (int si = 0; si < 2; ++si) {
    auto s = static_cast<Stream>(si);
    const uint64_t size = snap_->size(s);
    std::vector<std::byte> buf(8192);
    auto read = [&](uint64_t off, size_t len) {
      return
          [this, s, off, len, &buf] { snap_->read(s, off, std::span<std::byte>(buf.data(), len)); };
    };
    EXPECT_TRUE(ThrowsHexz(read(size, 1), {ErrorCode::kOutOfRange}));
    EXPECT_TRUE(ThrowsHexz(read(size - 1, 2), {ErrorCode::kOutOfRange}));
    EXPECT_TRUE(ThrowsHexz(read(size - 4095, 4096), {ErrorCode::kOutOfRange}));
    EXPECT_TRUE(ThrowsHexz(read(size + 100, 10), {ErrorCode::kOutOfRange}));
    // offset + length overflows 64 bits: must not wrap around to a valid range.
    EXPECT_TRUE(ThrowsHexz(read(UINT64_MAX - 10, 100), {ErrorCode::kOutOfRange}));
    EXPECT_TRUE(ThrowsHexz(read(UINT64_MAX, 1), {ErrorCode::kOutOfRange}));
    // The snapshot still works after failed reads.
    EXPECT_TRUE(check(s, size - 100, 100));
  }
}

TEST_F(ReadContract, ReadingAnAbsentStreamThrowsOutOfRange) {
  auto opts = options(input("only-disk.img", text_bytes(10000, 3)), "", output("disk-only.hxz"));
  hexz::pack(opts);
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_FALSE(snap->has_stream(Stream::kMemory));
  EXPECT_EQ(snap->size(Stream::kMemory), 0u);
  std::vector<std::byte> buf(16);
  EXPECT_TRUE(ThrowsHexz([&] { snap->read(Stream::kMemory, 0, buf); }, {ErrorCode::kOutOfRange}));
}

TEST_F(ReadContract, ReadsFillTheWholeBufferIncludingZeroChunks) {
  // A buffer pre-filled with garbage must come back fully overwritten, zero chunks included.
  for (int si = 0; si < 2; ++si) {
    auto s = static_cast<Stream>(si);
    for (uint64_t edge : zero_run_edges(s)) {
      const uint64_t size = src_[si].size();
      uint64_t off = edge >= 4096 ? edge - 4096 : 0;
      ASSERT_TRUE(check(s, off, std::min<uint64_t>(3 * 4096, size - off)));
    }
  }
}

TEST_F(ReadContract, TwoSnapshotsOfTheSameFileAreIndependent) {
  auto other = hexz::Snapshot::open(path_);
  snap_.reset();
  Bytes back = read_stream(*other, Stream::kDisk);
  EXPECT_EQ(first_difference(back, src_[0]), -1);
}

TEST_F(ReadFixture, OpenOptionsDoNotChangeWhatIsRead) {
  pack_images({Codec::kZstd, 3, 4096, 16384, "zstd"});
  struct Variant {
    const char* name;
    hexz::OpenOptions oo;
  };
  std::vector<Variant> variants(4);
  variants[0].name = "single-threaded";
  variants[0].oo.threads = 1;
  variants[1].name = "no readahead";
  variants[1].oo.readahead_bytes = 0;
  variants[2].name = "tiny caches";
  variants[2].oo.block_cache_bytes = 1;
  variants[2].oo.page_cache_bytes = 1;
  variants[3].name = "many threads, big readahead";
  variants[3].oo.threads = 8;
  variants[3].oo.readahead_bytes = 64ull << 20;
  for (const auto& v : variants) {
    SCOPED_TRACE(v.name);
    auto snap = hexz::Snapshot::open(path_, v.oo);
    // Sequential reading (readahead) in odd-sized pieces, then random reads.
    EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk, 12345), src_[0]), -1);
    EXPECT_EQ(first_difference(read_stream(*snap, Stream::kMemory, 1u << 20), src_[1]), -1);
    std::mt19937_64 rng(9);
    for (int i = 0; i < 200; ++i) {
      const int si = static_cast<int>(rng() % 2);
      uint64_t len = rng() % 70000 + 1;
      uint64_t off = rng() % (src_[si].size() - len + 1);
      Bytes got = read_range(*snap, static_cast<Stream>(si), off, len);
      ASSERT_TRUE(std::equal(got.begin(), got.end(), src_[si].begin() + static_cast<long>(off)))
          << "read #" << i;
    }
  }
}

// --- Concurrency ---------------------------------------------------------------------------

class ConcurrentReads : public ReadFixture, public ::testing::WithParamInterface<uint64_t> {};

TEST_P(ConcurrentReads, EightThreadsReadRandomRanges) {
  const uint64_t cache_bytes = GetParam();
  pack_images({Codec::kZstd, 3, 4096, 16384, "zstd"});
  hexz::OpenOptions oo;
  oo.block_cache_bytes = cache_bytes;
  oo.page_cache_bytes = cache_bytes == 0 ? 0 : std::min<uint64_t>(cache_bytes, 64u << 10);
  auto snap = hexz::Snapshot::open(path_, oo);
  std::atomic<int> mismatches{0};
  std::atomic<int> errors{0};
  std::atomic<uint64_t> bytes_checked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + static_cast<uint64_t>(t));
      for (int i = 0; i < 200; ++i) {
        const int si = static_cast<int>(rng() % 2);
        const Bytes& src = src_[si];
        uint64_t len = (rng() % 8 == 0) ? rng() % (100u << 10) + 1 : rng() % 6000 + 1;
        len = std::min<uint64_t>(len, src.size());
        uint64_t off = rng() % (src.size() - len + 1);
        Bytes buf(len, 0xCD);
        try {
          snap->read(static_cast<Stream>(si), off, std::as_writable_bytes(std::span<uint8_t>(buf)));
        } catch (...) {
          ++errors;
          continue;
        }
        if (!std::equal(buf.begin(), buf.end(), src.begin() + static_cast<long>(off))) ++mismatches;
        bytes_checked += len;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_GT(bytes_checked.load(), 0u);
  // Concurrent use left the snapshot consistent.
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kMemory), src_[1]), -1);
}

INSTANTIATE_TEST_SUITE_P(CacheBudgets, ConcurrentReads,
                         ::testing::Values(uint64_t{64} << 20, uint64_t{100} << 10, uint64_t{0}),
                         [](const ::testing::TestParamInfo<uint64_t>& p) {
                           return p.param == 0 ? std::string("NoCache")
                                               : "Budget" + std::to_string(p.param);
                         });

// A random read decodes only the prefix of an LZ4 block it needs; later reads of the same block
// that need more must decode it whole. Reads in every order, and from threads racing on the same
// blocks, must all see the right bytes.
TEST_F(ReadFixture, Lz4PrefixDecodesServeLaterReadsOfTheSameBlock) {
  pack_images({Codec::kLz4, 1, 4096, 65536, "lz4"}, 4u << 20, 1u << 20);
  for (const uint64_t budget : {uint64_t{64} << 20, uint64_t{0}}) {
    hexz::OpenOptions oo;
    oo.block_cache_bytes = budget;
    snap_ = hexz::Snapshot::open(path_, oo);
    // First chunk of each block, then the rest from the block's end backwards.
    for (uint64_t block = 0; block + 65536 <= src_[0].size(); block += 65536) {
      ASSERT_TRUE(check(Stream::kDisk, block, 100));
      for (uint64_t off = block + 65536 - 4096; off > block; off -= 4096) {
        ASSERT_TRUE(check(Stream::kDisk, off, 4096));
      }
    }
    snap_ = hexz::Snapshot::open(path_, oo);
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(77 + static_cast<uint64_t>(t));
        for (int i = 0; i < 400; ++i) {
          const uint64_t off = rng() % (src_[0].size() / 4096) * 4096 + rng() % 4000;
          if (!check(Stream::kDisk, off, 96)) ++mismatches;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(mismatches.load(), 0);
    EXPECT_EQ(first_difference(read_stream(*snap_, Stream::kDisk), src_[0]), -1);
  }
}

TEST_F(ReadFixture, ConcurrentVerifyAndReads) {
  pack_images({Codec::kLz4, 0, 4096, 65536, "lz4"}, 600000, 400000);
  std::atomic<int> bad{0};
  std::thread verifier([&] {
    hexz::VerifyReport r = snap_->verify();
    if (!r.ok) ++bad;
  });
  std::thread reader([&] {
    for (int i = 0; i < 5; ++i) {
      if (read_stream(*snap_, Stream::kDisk, 7777) != src_[0]) ++bad;
    }
  });
  verifier.join();
  reader.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace hexz_test
