// Exact zero/duplicate accounting, space savings, determinism, and sparse inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::Codec;
using hexz::Stream;

constexpr uint32_t kChunk = 4096;

/// Builds an image chunk by chunk from a plan, remembering each chunk's content.
class ChunkPlan {
 public:
  /// A unique compressible chunk identified by `id`.
  ChunkPlan& unique(uint64_t id) { return add(text_bytes(kChunk, 1000 + id)); }
  /// A unique incompressible chunk identified by `id`.
  ChunkPlan& random(uint64_t id) { return add(random_bytes(kChunk, 5000 + id)); }
  ChunkPlan& zero() { return add(Bytes(kChunk, 0)); }
  ChunkPlan& copy(const Bytes& chunk) { return add(chunk); }
  ChunkPlan& add(const Bytes& chunk) {
    image_.insert(image_.end(), chunk.begin(), chunk.end());
    return *this;
  }
  /// The content of chunk `i` (full chunks only).
  Bytes chunk(size_t i) const {
    return Bytes(image_.begin() + static_cast<long>(i * kChunk),
                 image_.begin() + static_cast<long>((i + 1) * kChunk));
  }
  const Bytes& image() const { return image_; }

 private:
  Bytes image_;
};

class DedupTest : public HexzTest {};

TEST_F(DedupTest, ExactZeroAndDuplicateCounts) {
  // Disk: 36 chunks, block size 64 KiB = 16 chunks.
  ChunkPlan disk;
  disk.unique(1)  // 0
      .unique(2)  // 1
      .unique(1)  // 2  dup of chunk 0, whose block is still open
      .zero()     // 3  zero
      .zero()     // 4  zero
      .random(3)  // 5
      .unique(2)  // 6  dup of chunk 1 (still open block)
      .unique(4)
      .unique(5)
      .unique(6)
      .unique(7)                                          // 7..10
      .zero();                                            // 11 zero
  for (uint64_t id = 8; id <= 26; ++id) disk.unique(id);  // 12..30 (the first block closes here)
  disk.unique(1)   // 31 dup of chunk 0, now in a written block
      .unique(5);  // 32 dup of chunk 8
  {
    Bytes half = text_bytes(kChunk / 2, 27);  // 33: half data, half zeros: a data chunk
    half.resize(kChunk, 0);
    disk.add(half);
  }
  disk.zero();                     // 34 zero
  disk.add(text_bytes(1000, 28));  // 35: short final chunk
  ASSERT_EQ(disk.image().size(), 35u * kChunk + 1000);

  // Memory: 16 chunks.
  ChunkPlan memory;
  Bytes almost_zero(kChunk, 0);
  almost_zero.back() = 1;
  memory
      .zero()                 // 0 zero
      .copy(disk.chunk(5))    // 1 dup (cross-stream, random chunk)
      .copy(disk.chunk(1))    // 2 dup (cross-stream)
      .unique(100)            // 3
      .unique(100)            // 4 dup of memory chunk 3 (same open block)
      .zero()                 // 5 zero
      .zero()                 // 6 zero
      .random(101)            // 7
      .copy(disk.chunk(12))   // 8 dup (cross-stream, second disk block)
      .add(almost_zero)       // 9 data: a single non-zero byte
      .unique(102)            // 10
      .unique(103)            // 11
      .unique(104)            // 12
      .random(101)            // 13 dup of memory chunk 7
      .zero()                 // 14 zero
      .copy(disk.chunk(33));  // 15 dup of the half-zero disk chunk
  ASSERT_EQ(memory.image().size(), 16u * kChunk);

  auto opts = options(input("disk.img", disk.image()), input("mem.img", memory.image()),
                      output("snap.hxz"));
  opts.block_size = 65536;
  hexz::PackResult r = hexz::pack(opts);

  const hexz::StreamStats& d = r.streams[0];
  const hexz::StreamStats& m = r.streams[1];
  EXPECT_EQ(d.chunks, 36u);
  EXPECT_EQ(d.zero_chunks, 4u);
  EXPECT_EQ(d.dup_chunks, 4u);
  EXPECT_EQ(m.chunks, 16u);
  EXPECT_EQ(m.zero_chunks, 4u);
  EXPECT_EQ(m.dup_chunks, 6u);
  // 28 new disk chunks (27 full + 1000 bytes) make two 64 KiB blocks; 6 new memory chunks one.
  EXPECT_EQ(d.blocks, 2u);
  EXPECT_EQ(m.blocks, 1u);

  // The reference model agrees with the hand count.
  ExpectedStats want[2];
  model_stats(&disk.image(), &memory.image(), kChunk, want);
  EXPECT_EQ(want[0].zero_chunks, 4u);
  EXPECT_EQ(want[0].dup_chunks, 4u);
  EXPECT_EQ(want[1].zero_chunks, 4u);
  EXPECT_EQ(want[1].dup_chunks, 6u);

  auto snap = hexz::Snapshot::open(opts.output_path);
  hexz::SnapshotInfo info = snap->info();
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE(s);
    EXPECT_EQ(info.streams[s].chunks, r.streams[s].chunks);
    EXPECT_EQ(info.streams[s].zero_chunks, r.streams[s].zero_chunks);
    EXPECT_EQ(info.streams[s].dup_chunks, r.streams[s].dup_chunks);
    EXPECT_EQ(info.streams[s].blocks, r.streams[s].blocks);
    EXPECT_EQ(info.streams[s].stored_bytes, r.streams[s].stored_bytes);
  }
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), disk.image()), -1);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kMemory), memory.image()), -1);
  // Every duplicate reads back individually too.
  EXPECT_EQ(read_range(*snap, Stream::kDisk, 2 * kChunk, kChunk), disk.chunk(0));
  EXPECT_EQ(read_range(*snap, Stream::kDisk, 31 * kChunk, kChunk), disk.chunk(0));
  EXPECT_EQ(read_range(*snap, Stream::kMemory, 1 * kChunk, kChunk), disk.chunk(5));
  EXPECT_EQ(read_range(*snap, Stream::kMemory, 4 * kChunk, kChunk), memory.chunk(3));
  EXPECT_EQ(read_range(*snap, Stream::kMemory, 15 * kChunk, kChunk), disk.chunk(33));
  EXPECT_TRUE(snap->verify().ok);
}

TEST_F(DedupTest, DuplicateWithinOneOpenBlockOnly) {
  // Four chunks, all the same, in one block: one stored chunk, three duplicates.
  ChunkPlan disk;
  disk.random(1).random(1).random(1).random(1);
  auto opts = options(input("disk.img", disk.image()), "", output("snap.hxz"));
  hexz::PackResult r = hexz::pack(opts);
  EXPECT_EQ(r.streams[0].chunks, 4u);
  EXPECT_EQ(r.streams[0].dup_chunks, 3u);
  EXPECT_EQ(r.streams[0].blocks, 1u);
  EXPECT_EQ(r.streams[0].stored_bytes, kChunk);  // Random data is stored raw, once.
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), disk.image());
}

TEST_F(DedupTest, ShiftedContentIsNotADuplicateButAlignedContentIs) {
  // Fixed-size chunking: the same bytes at a non-aligned offset do not dedup.
  Bytes base = random_bytes(8 * kChunk, 3);
  Bytes disk = base;
  disk.push_back(0x77);  // shift by one byte
  disk.insert(disk.end(), base.begin(), base.end());
  disk.resize(disk.size() + kChunk - 1, 0x33);  // realign to a chunk boundary
  disk.insert(disk.end(), base.begin(), base.end());
  auto opts = options(input("disk.img", disk), "", output("snap.hxz"));
  hexz::PackResult r = hexz::pack(opts);
  ExpectedStats want[2];
  model_stats(&disk, nullptr, kChunk, want);
  EXPECT_EQ(r.streams[0].dup_chunks, want[0].dup_chunks);
  EXPECT_EQ(r.streams[0].dup_chunks, 8u);
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), disk), -1);
}

TEST_F(DedupTest, DuplicateHeavyInputPacksSmall) {
  // 4 MiB disk + 4 MiB memory built from only 16 distinct random chunks.
  std::vector<Bytes> pool;
  for (uint64_t i = 0; i < 16; ++i) pool.push_back(random_bytes(kChunk, 900 + i));
  std::mt19937_64 rng(5);
  Bytes disk, memory;
  for (int i = 0; i < 1024; ++i) {
    const Bytes& c = pool[rng() % pool.size()];
    disk.insert(disk.end(), c.begin(), c.end());
  }
  for (int i = 0; i < 1024; ++i) {
    const Bytes& c = pool[rng() % pool.size()];
    memory.insert(memory.end(), c.begin(), c.end());
  }
  auto opts = options(input("disk.img", disk), input("mem.img", memory), output("snap.hxz"));
  hexz::PackResult r = hexz::pack(opts);
  ExpectedStats want[2];
  model_stats(&disk, &memory, kChunk, want);
  EXPECT_EQ(r.streams[0].dup_chunks, want[0].dup_chunks);
  EXPECT_EQ(r.streams[1].dup_chunks, want[1].dup_chunks);
  EXPECT_EQ(r.streams[0].dup_chunks + r.streams[1].dup_chunks, 2048u - 16u);
  EXPECT_LE(r.streams[0].stored_bytes + r.streams[1].stored_bytes, 16u * kChunk);
  const uint64_t input_size = disk.size() + memory.size();
  EXPECT_LT(r.file_size, input_size / 20)
      << "file " << r.file_size << " for " << input_size << " input bytes";
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), disk), -1);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kMemory), memory), -1);
}

TEST_F(DedupTest, RealisticImagesMatchTheModel) {
  Bytes disk = make_disk_image((2u << 20) + 333, 8);
  Bytes memory = make_memory_image((1u << 20) + 4096 * 3 + 5, disk, 9);
  disk.back() = 1;
  memory.back() = 2;
  for (uint32_t chunk : {4096u, 512u, 16384u}) {
    SCOPED_TRACE(chunk);
    auto opts = options(input("disk.img", disk), input("mem.img", memory),
                        output("snap-" + std::to_string(chunk)));
    opts.chunk_size = chunk;
    opts.codec = Codec::kZstd;
    hexz::PackResult r = hexz::pack(opts);
    ExpectedStats want[2];
    model_stats(&disk, &memory, chunk, want);
    for (int s = 0; s < 2; ++s) {
      EXPECT_EQ(r.streams[s].chunks, want[s].chunks);
      EXPECT_EQ(r.streams[s].zero_chunks, want[s].zero_chunks);
      EXPECT_EQ(r.streams[s].dup_chunks, want[s].dup_chunks);
    }
    if (chunk == 4096) {
      // The generator really produced what the tests rely on.
      EXPECT_GT(want[0].zero_chunks, 10u);
      EXPECT_GT(want[0].dup_chunks, 10u);
      EXPECT_GT(want[1].dup_chunks, 10u);  // Page-cache copies of disk chunks.
      EXPECT_GT(want[1].zero_chunks, 10u);
    }
  }
}

TEST_F(DedupTest, VerifyCountsEachBlockOnce) {
  // Blocks A, B (4 chunks each, 16 KiB blocks), then chunks of A and B again (duplicates).
  ChunkPlan disk;
  for (uint64_t id = 0; id < 8; ++id) disk.random(id);
  disk.random(0).random(5).random(1).random(6);
  auto opts = options(input("disk.img", disk.image()), "", output("snap.hxz"));
  opts.block_size = 16384;
  hexz::PackResult r = hexz::pack(opts);
  ASSERT_EQ(r.streams[0].blocks, 2u);
  ASSERT_EQ(r.streams[0].dup_chunks, 4u);
  hexz::VerifyReport report = hexz::Snapshot::open(opts.output_path)->verify();
  EXPECT_TRUE(report.ok) << report.first_error;
  EXPECT_EQ(report.blocks_checked, 2u) << "the file holds 2 blocks";
  EXPECT_GE(report.chunks_checked, 8u);
  EXPECT_LE(report.chunks_checked, 12u);
}

// --- Determinism ---------------------------------------------------------------------------

TEST_F(DedupTest, PackingTwiceGivesIdenticalFiles) {
  Bytes disk = make_disk_image((1u << 20) + 99, 12);
  Bytes memory = make_memory_image(700001, disk, 13);
  std::string d = input("disk.img", disk);
  std::string m = input("mem.img", memory);
  for (Codec codec : {Codec::kLz4, Codec::kZstd}) {
    SCOPED_TRACE(hexz::codec_name(codec));
    std::string name = hexz::codec_name(codec);
    fs::create_directories(tmp().path() / "other");
    auto a = options(d, m, output(name + "-a.hxz"));
    auto b = options(d, m, (tmp().path() / "other" / (name + "-b.hxz")).string());
    a.codec = b.codec = codec;
    a.level = b.level = codec == Codec::kZstd ? 5 : 0;
    hexz::PackResult ra = hexz::pack(a);
    hexz::PackResult rb = hexz::pack(b);
    EXPECT_EQ(ra.file_size, rb.file_size);
    EXPECT_TRUE(files_equal(a.output_path, b.output_path))
        << "output depends on more than the inputs";
    auto sa = hexz::Snapshot::open(a.output_path);
    auto sb = hexz::Snapshot::open(b.output_path);
    EXPECT_EQ(sa->info().identity_hex, sb->info().identity_hex);
  }
}

TEST_F(DedupTest, OutputIsIdenticalForAnyThreadCount) {
  Bytes disk = make_disk_image((2u << 20) + 5, 14);
  Bytes memory = make_memory_image((1u << 20) + 3, disk, 15);
  std::string d = input("disk.img", disk);
  std::string m = input("mem.img", memory);
  std::string first;
  for (unsigned threads : {1u, 2u, 3u, 8u, 0u}) {
    SCOPED_TRACE("threads=" + std::to_string(threads));
    auto opts = options(d, m, output("t" + std::to_string(threads) + ".hxz"));
    opts.threads = threads;
    opts.codec = Codec::kZstd;
    opts.block_size = 16384;  // many blocks in flight at once
    hexz::pack(opts);
    if (first.empty()) {
      first = opts.output_path;
      EXPECT_EQ(
          first_difference(read_stream(*hexz::Snapshot::open(first), Stream::kMemory), memory), -1);
    } else {
      EXPECT_TRUE(files_equal(first, opts.output_path))
          << "output differs from the single-threaded pack";
    }
  }
}

TEST_F(DedupTest, IdentityDependsOnContent) {
  Bytes disk = make_disk_image(300000, 21);
  auto a = options(input("a.img", disk), "", output("a.hxz"));
  disk[150000] ^= 0x01;
  auto b = options(input("b.img", disk), "", output("b.hxz"));
  hexz::pack(a);
  hexz::pack(b);
  EXPECT_NE(hexz::Snapshot::open(a.output_path)->info().identity_hex,
            hexz::Snapshot::open(b.output_path)->info().identity_hex);
}

// --- Sparse input --------------------------------------------------------------------------

TEST_F(DedupTest, SparseOneGibFileRoundTrips) {
  if (!filesystem_supports_holes(tmp().path())) GTEST_SKIP() << "temp file system has no holes";
  constexpr uint64_t kSize = 1ull << 30;
  // A few MiB of data, partly at unaligned offsets; non-zero bytes at the piece ends, so every
  // chunk a piece touches holds data.
  std::vector<std::pair<uint64_t, Bytes>> pieces;
  pieces.emplace_back(0, text_bytes(1u << 20, 1));
  pieces.emplace_back((300ull << 20) + 1234, random_bytes((1u << 20) + 10, 2));
  {
    Bytes code;
    std::mt19937_64 gen(3);
    append_x86ish(code, 512u << 10, gen);  // has zero bytes, but no all-zero chunk
    pieces.emplace_back(700ull << 20, std::move(code));
  }
  pieces.emplace_back((900ull << 20) - 100, text_bytes(200, 4));  // straddles a chunk boundary
  pieces.emplace_back(kSize - 4196, text_bytes(4196, 5));         // the file's last bytes
  for (auto& [off, bytes] : pieces) {
    bytes.front() = 'A';
    bytes.back() = 'Z';
  }
  std::string path = (tmp().path() / "in" / "sparse.img").string();
  make_sparse_file(path, kSize, pieces);
  ASSERT_LT(allocated_bytes(path), 64ull << 20);

  std::set<uint64_t> data_chunks;
  for (const auto& [off, bytes] : pieces) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != 0) data_chunks.insert((off + i) / kChunk);
    }
  }
  const uint64_t total_chunks = kSize / kChunk;

  auto opts = options(path, "", output("sparse.hxz"));
  hexz::PackResult r = hexz::pack(opts);
  EXPECT_EQ(r.streams[0].logical_size, kSize);
  EXPECT_EQ(r.streams[0].chunks, total_chunks);
  EXPECT_EQ(r.streams[0].zero_chunks, total_chunks - data_chunks.size());
  EXPECT_EQ(r.streams[0].dup_chunks, 0u);
  EXPECT_LT(r.file_size, 16ull << 20);

  auto snap = hexz::Snapshot::open(opts.output_path);
  ASSERT_EQ(snap->size(Stream::kDisk), kSize);
  EXPECT_EQ(snap->info().streams[0].zero_chunks, total_chunks - data_chunks.size());
  for (const auto& [off, bytes] : pieces) {
    // The piece and the zeros around it.
    const uint64_t lo = off >= 4096 ? off - 4096 : 0;
    const uint64_t hi = std::min(kSize, off + bytes.size() + 4096);
    Bytes got = read_range(*snap, Stream::kDisk, lo, hi - lo);
    Bytes want(hi - lo, 0);
    std::copy(bytes.begin(), bytes.end(), want.begin() + static_cast<long>(off - lo));
    EXPECT_EQ(first_difference(got, want), -1) << "piece at " << off;
  }
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {  // Random reads from the holes.
    uint64_t off = (400ull << 20) + rng() % (250ull << 20);
    Bytes got = read_range(*snap, Stream::kDisk, off, 10000);
    EXPECT_TRUE(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0; })) << off;
  }
  // The index alone describes the layout.
  uint64_t zero_bytes = 0, data_bytes = 0, covered = 0;
  bool prev_set = false, prev_zero = false;
  snap->for_each_extent(Stream::kDisk, 0, kSize, [&](uint64_t o, uint64_t l, bool z) {
    EXPECT_EQ(o, covered);
    if (prev_set) {
      EXPECT_NE(z, prev_zero) << "adjacent extents of one kind were not merged";
    }
    prev_set = true;
    prev_zero = z;
    covered += l;
    (z ? zero_bytes : data_bytes) += l;
  });
  EXPECT_EQ(covered, kSize);
  EXPECT_EQ(data_bytes, data_chunks.size() * kChunk);
}

TEST_F(DedupTest, ATinyMemoryLimitStillRoundTripsAndReportsTheDedupGivenUp) {
  // 600 unique chunks, then a copy of each.
  ChunkPlan plan;
  for (uint64_t id = 0; id < 600; ++id) plan.unique(id);
  for (uint64_t id = 0; id < 600; ++id) plan.unique(id);
  const std::string disk = input("disk.img", plan.image());

  auto unlimited = options(disk, "", output("full.hxz"));
  const hexz::PackResult full = hexz::pack(unlimited);
  EXPECT_EQ(full.streams[0].dup_chunks, 600u);
  EXPECT_EQ(full.dedup_unrecorded_chunks, 0u);
  EXPECT_GT(full.memory_limit, 0u);  // the default: a quarter of the RAM
  EXPECT_TRUE(full.warnings.empty());

  auto tiny = options(disk, "", output("tiny.hxz"));
  tiny.memory_limit = 4096;  // 256 slots of 16 bytes
  const hexz::PackResult r = hexz::pack(tiny);
  EXPECT_EQ(r.memory_limit, 4096u);
  EXPECT_LE(r.dedup_table_bytes, 4096u);
  EXPECT_GT(r.dedup_unrecorded_chunks, 0u);
  // Each original the table refused is refused again as its copy arrives (stored twice).
  EXPECT_LT(r.streams[0].dup_chunks, 600u);
  EXPECT_EQ(r.dedup_unrecorded_chunks, 2 * (600u - r.streams[0].dup_chunks));
  EXPECT_EQ(r.dedup_unrecorded_bytes, r.dedup_unrecorded_chunks * kChunk);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("memory limit (4 KiB)"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[0].find(std::to_string(r.dedup_unrecorded_chunks) + " unique chunks"),
            std::string::npos)
      << r.warnings[0];
  EXPECT_GT(r.file_size, full.file_size);  // the copies not deduplicated are stored again

  auto snap = hexz::Snapshot::open(tiny.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), plan.image()), -1);
  EXPECT_EQ(snap->info().streams[0].dup_chunks, r.streams[0].dup_chunks);
  EXPECT_TRUE(snap->verify().ok);
}

TEST_F(DedupTest, ATinyMemoryLimitOnAThinPackSaysWhatOfTheBaseItLeftOut) {
  ChunkPlan plan;
  for (uint64_t id = 0; id < 600; ++id) plan.unique(id);
  const std::string disk = input("disk.img", plan.image());
  auto base = options(disk, "", output("base.hxz"));
  hexz::pack(base);

  auto thin = options(disk, "", output("thin.hxz"));
  thin.base_path = base.output_path;
  thin.memory_limit = 4096;  // room for about 224 of the base's 600 chunks
  const hexz::PackResult r = hexz::pack(thin);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("chunks of the base could not be found"), std::string::npos)
      << r.warnings[0];
  EXPECT_GT(r.streams[0].dup_chunks, 0u);
  EXPECT_LT(r.streams[0].dup_chunks, 600u);
  auto snap = hexz::Snapshot::open(thin.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), plan.image()), -1);
}

}  // namespace
}  // namespace hexz_test
