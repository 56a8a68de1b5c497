// Pack -> open -> read round trips over codecs, levels, chunk and block sizes, and stream layouts.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::Codec;
using hexz::Stream;

struct Config {
  Codec codec;
  int level;
  uint32_t chunk;
  uint32_t block;
};

enum class Layout { kDiskOnly, kMemoryOnly, kBoth };

std::string config_name(const Config& c) {
  return std::string(hexz::codec_name(c.codec)) + "_l" + std::to_string(c.level) + "_c" +
         std::to_string(c.chunk) + "_b" + std::to_string(c.block);
}

void PrintTo(const Config& c, std::ostream* os) {
  *os << config_name(c);
}

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kDiskOnly:
      return "DiskOnly";
    case Layout::kMemoryOnly:
      return "MemoryOnly";
    case Layout::kBoth:
      return "Both";
  }
  return "?";
}

/// Checks that every per-stream counter of `result` matches the model and `info`.
void expect_stats(const hexz::PackResult& result, const hexz::SnapshotInfo& info, const Bytes* disk,
                  const Bytes* memory, uint32_t chunk) {
  ExpectedStats want[2];
  model_stats(disk, memory, chunk, want);
  const Bytes* src[2] = {disk, memory};
  for (int s = 0; s < 2; ++s) {
    SCOPED_TRACE(std::string("stream ") + hexz::stream_name(static_cast<Stream>(s)));
    const hexz::StreamStats& r = result.streams[s];
    const hexz::StreamStats& i = info.streams[s];
    EXPECT_EQ(r.present, src[s] != nullptr);
    EXPECT_EQ(i.present, src[s] != nullptr);
    if (!src[s]) {
      EXPECT_EQ(r.logical_size, 0u);
      EXPECT_EQ(r.chunks, 0u);
      continue;
    }
    EXPECT_EQ(r.logical_size, src[s]->size());
    EXPECT_EQ(r.chunks, want[s].chunks);
    EXPECT_EQ(r.zero_chunks, want[s].zero_chunks);
    EXPECT_EQ(r.dup_chunks, want[s].dup_chunks);
    const uint64_t new_chunks = want[s].chunks - want[s].zero_chunks - want[s].dup_chunks;
    EXPECT_LE(r.blocks, new_chunks);
    if (new_chunks > 0) {
      EXPECT_GE(r.blocks, 1u);
    } else {
      EXPECT_EQ(r.blocks, 0u);
      EXPECT_EQ(r.stored_bytes, 0u);
    }
    // The info read back from the file says the same as the pack result.
    EXPECT_EQ(i.logical_size, r.logical_size);
    EXPECT_EQ(i.chunks, r.chunks);
    EXPECT_EQ(i.zero_chunks, r.zero_chunks);
    EXPECT_EQ(i.dup_chunks, r.dup_chunks);
    EXPECT_EQ(i.blocks, r.blocks);
    EXPECT_EQ(i.stored_bytes, r.stored_bytes);
  }
}

void PrintTo(Layout l, std::ostream* os) {
  *os << layout_name(l);
}

class RoundTrip : public HexzTest,
                  public ::testing::WithParamInterface<std::tuple<Config, Layout>> {};

TEST_P(RoundTrip, StreamsReadBackIdentically) {
  const auto& [cfg, layout] = GetParam();
  // Sizes deliberately not multiples of any chunk size.
  Bytes disk = make_disk_image((1024u << 10) + 777, 101);
  Bytes memory = make_memory_image((768u << 10) + 1000, disk, 202);
  disk.back() = 0x5A;  // Non-zero final chunks (short zero tails are tested separately).
  memory.back() = 0xA5;
  const bool has_disk = layout != Layout::kMemoryOnly;
  const bool has_memory = layout != Layout::kDiskOnly;

  auto opts = options(has_disk ? input("disk.img", disk) : "",
                      has_memory ? input("mem.img", memory) : "", output("snap.hxz"));
  opts.codec = cfg.codec;
  opts.level = cfg.level;
  opts.chunk_size = cfg.chunk;
  opts.block_size = cfg.block;
  hexz::PackResult result = hexz::pack(opts);

  ASSERT_TRUE(fs::exists(opts.output_path));
  EXPECT_EQ(result.file_size, fs::file_size(opts.output_path));
  EXPECT_GE(result.seconds, 0.0);

  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(snap->has_stream(Stream::kDisk), has_disk);
  EXPECT_EQ(snap->has_stream(Stream::kMemory), has_memory);
  EXPECT_EQ(snap->size(Stream::kDisk), has_disk ? disk.size() : 0u);
  EXPECT_EQ(snap->size(Stream::kMemory), has_memory ? memory.size() : 0u);
  if (has_disk) {
    Bytes back = read_stream(*snap, Stream::kDisk);
    EXPECT_EQ(first_difference(back, disk), -1) << "disk stream differs";
  }
  if (has_memory) {
    // Odd piece size: pieces straddle chunk and block boundaries.
    Bytes back = read_stream(*snap, Stream::kMemory, 100003);
    EXPECT_EQ(first_difference(back, memory), -1) << "memory stream differs";
  }

  hexz::SnapshotInfo info = snap->info();
  EXPECT_EQ(info.version_major, hexz::kFormatVersionMajor);
  EXPECT_EQ(info.version_minor, 0);  // 1.0: minor 1 only with attachments (FORMAT.md 17.1)
  EXPECT_EQ(info.codec, cfg.codec);
  if (cfg.level != 0) {
    EXPECT_EQ(info.level, cfg.level);
  }
  EXPECT_EQ(info.chunk_size, cfg.chunk);
  EXPECT_EQ(info.block_size, cfg.block);
  EXPECT_EQ(info.file_size, result.file_size);
  EXPECT_GE(info.index_pages, 1u);
  EXPECT_GT(info.index_bytes, 0u);
  EXPECT_LT(info.index_bytes, info.file_size);
  EXPECT_EQ(info.identity_hex.size(), 64u);
  EXPECT_EQ(info.identity_hex.find_first_not_of("0123456789abcdef"), std::string::npos)
      << info.identity_hex;
  EXPECT_EQ(info.required_features, 0u);
  expect_stats(result, info, has_disk ? &disk : nullptr, has_memory ? &memory : nullptr, cfg.chunk);

  hexz::VerifyReport report = snap->verify();
  EXPECT_TRUE(report.ok) << report.first_error;
  EXPECT_TRUE(report.first_error.empty());
  // Every stored block is checked (exact counting is tested in
  // DedupTest.VerifyCountsEachBlockOnce).
  EXPECT_GE(report.blocks_checked, result.streams[0].blocks + result.streams[1].blocks);
  EXPECT_GT(report.chunks_checked, 0u);
}

const Config kConfigs[] = {
    {Codec::kLz4, 0, 4096, 65536},     // defaults
    {Codec::kLz4, 1, 512, 1024},       // smallest chunk and block
    {Codec::kLz4, 9, 16384, 65536},    // LZ4-HC
    {Codec::kLz4, 0, 4096, 1u << 20},  // 1 MiB blocks
    {Codec::kLz4, 0, 16384, 16384},    // block == chunk
    {Codec::kZstd, 3, 4096, 65536},     {Codec::kZstd, 1, 512, 1024},
    {Codec::kZstd, 6, 16384, 1u << 20}, {Codec::kZstd, 0, 4096, 1024 * 1024},  // default zstd level
    {Codec::kZstd, 3, 512, 65536},
};

INSTANTIATE_TEST_SUITE_P(Matrix, RoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kConfigs),
                                            ::testing::Values(Layout::kDiskOnly,
                                                              Layout::kMemoryOnly, Layout::kBoth)),
                         [](const ::testing::TestParamInfo<RoundTrip::ParamType>& p) {
                           return config_name(std::get<0>(p.param)) + "_" +
                                  layout_name(std::get<1>(p.param));
                         });

// --- Edge-case streams ---------------------------------------------------------------------

class EdgeStreams : public HexzTest {
 protected:
  /// Packs and checks that both streams read back as given.
  void round_trip(const Bytes* disk, const Bytes* memory, Codec codec = Codec::kLz4,
                  uint32_t chunk = 4096) {
    auto opts = options(disk ? input("disk.img", *disk) : "",
                        memory ? input("mem.img", *memory) : "", output("snap.hxz"));
    opts.codec = codec;
    opts.chunk_size = chunk;
    result_ = hexz::pack(opts);
    auto snap = hexz::Snapshot::open(opts.output_path);
    const Bytes* src[2] = {disk, memory};
    for (int s = 0; s < 2; ++s) {
      auto stream = static_cast<Stream>(s);
      SCOPED_TRACE(hexz::stream_name(stream));
      EXPECT_EQ(snap->has_stream(stream), src[s] != nullptr);
      if (!src[s]) continue;
      ASSERT_EQ(snap->size(stream), src[s]->size());
      EXPECT_EQ(first_difference(read_stream(*snap, stream), *src[s]), -1);
    }
    info_ = snap->info();
    hexz::VerifyReport report = snap->verify();
    EXPECT_TRUE(report.ok) << report.first_error;
  }
  hexz::PackResult result_;
  hexz::SnapshotInfo info_;
};

TEST_F(EdgeStreams, EmptyDiskStream) {
  Bytes empty;
  round_trip(&empty, nullptr);
  EXPECT_TRUE(result_.streams[0].present);
  EXPECT_EQ(result_.streams[0].logical_size, 0u);
  EXPECT_EQ(result_.streams[0].chunks, 0u);
  EXPECT_EQ(result_.streams[0].blocks, 0u);
  EXPECT_FALSE(result_.streams[1].present);
}

TEST_F(EdgeStreams, EmptyDiskWithMemory) {
  Bytes empty;
  Bytes memory = make_memory_image(300000, {}, 7);
  round_trip(&empty, &memory, Codec::kZstd);
  EXPECT_TRUE(info_.streams[0].present);
  EXPECT_EQ(info_.streams[0].logical_size, 0u);
}

TEST_F(EdgeStreams, BothStreamsEmpty) {
  Bytes a, b;
  round_trip(&a, &b);
  EXPECT_EQ(result_.streams[0].stored_bytes + result_.streams[1].stored_bytes, 0u);
}

TEST_F(EdgeStreams, OneByteStreams) {
  Bytes disk{0x42};
  Bytes memory{0x00};
  round_trip(&disk, &memory);
  EXPECT_EQ(result_.streams[0].chunks, 1u);
  EXPECT_EQ(result_.streams[0].zero_chunks, 0u);
  EXPECT_EQ(result_.streams[1].chunks, 1u);
  EXPECT_EQ(result_.streams[1].zero_chunks, 1u);  // A one-byte chunk of zero is all-zero.
}

TEST_F(EdgeStreams, IdenticalOneByteStreamsDedupAcrossStreams) {
  Bytes disk{0x42};
  Bytes memory{0x42};
  round_trip(&disk, &memory);
  EXPECT_EQ(result_.streams[1].dup_chunks, 1u);
  EXPECT_EQ(result_.streams[1].blocks, 0u);
}

TEST_F(EdgeStreams, AllZeroStreamStoresNoBlocks) {
  Bytes disk(1u << 20, 0);
  round_trip(&disk, nullptr, Codec::kZstd);
  EXPECT_EQ(result_.streams[0].chunks, 256u);
  EXPECT_EQ(result_.streams[0].zero_chunks, 256u);
  EXPECT_EQ(result_.streams[0].blocks, 0u);
  EXPECT_EQ(result_.streams[0].stored_bytes, 0u);
  EXPECT_LT(result_.file_size, 64u * 1024);
}

TEST_F(EdgeStreams, ShortAllZeroFinalChunkCountsAsZero) {
  // 3 data chunks followed by a 1000-byte all-zero tail chunk.
  Bytes disk = text_bytes(3 * 4096, 1);
  disk.resize(disk.size() + 1000, 0);
  round_trip(&disk, nullptr);
  EXPECT_EQ(result_.streams[0].chunks, 4u);
  EXPECT_EQ(result_.streams[0].zero_chunks, 1u);
  EXPECT_EQ(result_.streams[0].dup_chunks, 0u);
}

TEST_F(EdgeStreams, IncompressibleDataIsStoredRaw) {
  Bytes disk = random_bytes((512u << 10) + 5, 99);
  for (Codec codec : {Codec::kLz4, Codec::kZstd}) {
    SCOPED_TRACE(hexz::codec_name(codec));
    round_trip(&disk, nullptr, codec);
    // Raw fallback: never more stored bytes than logical bytes.
    EXPECT_LE(result_.streams[0].stored_bytes, disk.size());
    EXPECT_GE(result_.streams[0].stored_bytes, disk.size() - 1024);
    fs::remove(output("snap.hxz"));
  }
}

TEST_F(EdgeStreams, CompressibleDataShrinks) {
  Bytes disk = text_bytes(1u << 20, 5);
  for (Codec codec : {Codec::kLz4, Codec::kZstd}) {
    SCOPED_TRACE(hexz::codec_name(codec));
    round_trip(&disk, nullptr, codec);
    // Random words from a small vocabulary: LZ4 (no entropy coding) gains less than Zstd.
    const uint64_t limit = codec == Codec::kLz4 ? disk.size() * 3 / 4 : disk.size() / 2;
    EXPECT_LT(result_.streams[0].stored_bytes, limit);
    EXPECT_LT(result_.file_size, limit + 16384);
    fs::remove(output("snap.hxz"));
  }
}

TEST_F(EdgeStreams, LargestChunkAndBlockSizes) {
  Bytes disk = make_disk_image((3u << 20) + 17, 55);
  auto opts = options(input("disk.img", disk), "", output("snap.hxz"));
  opts.chunk_size = hexz::kMaxChunkSize;
  opts.block_size = hexz::kMaxBlockSize;
  opts.codec = Codec::kZstd;
  opts.level = 1;
  hexz::PackResult r = hexz::pack(opts);
  EXPECT_EQ(r.streams[0].chunks, 4u);
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk, 333333), disk), -1);
  EXPECT_EQ(snap->info().chunk_size, hexz::kMaxChunkSize);
  EXPECT_EQ(snap->info().block_size, hexz::kMaxBlockSize);
}

TEST_F(EdgeStreams, CodecNoneEitherRoundTripsOrIsRejected) {
  Bytes disk = make_disk_image(200000, 3);
  auto opts = options(input("disk.img", disk), "", output("snap.hxz"));
  opts.codec = Codec::kNone;
  try {
    hexz::pack(opts);
  } catch (const hexz::Error& e) {
    EXPECT_EQ(e.code(), hexz::ErrorCode::kInvalidArgument) << e.what();
    EXPECT_FALSE(fs::exists(opts.output_path));
    return;
  }
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), disk), -1);
  EXPECT_EQ(snap->info().codec, Codec::kNone);
}

TEST_F(EdgeStreams, SameFileAsDiskAndMemoryDedupsEverything) {
  Bytes img = make_disk_image(700000, 77);
  img.back() = 1;
  std::string path = input("both.img", img);
  auto opts = options(path, path, output("snap.hxz"));
  hexz::PackResult r = hexz::pack(opts);
  ExpectedStats want[2];
  model_stats(&img, &img, opts.chunk_size, want);
  EXPECT_EQ(r.streams[1].dup_chunks, r.streams[1].chunks - r.streams[1].zero_chunks);
  EXPECT_EQ(r.streams[1].dup_chunks, want[1].dup_chunks);
  EXPECT_EQ(r.streams[1].blocks, 0u);
  EXPECT_EQ(r.streams[1].stored_bytes, 0u);
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kMemory), img), -1);
}

// --- Content-defined chunking ----------------------------------------------------------------

TEST_F(EdgeStreams, CdcRoundTripsAndFindsShiftedDuplicates) {
  // The same 1 MiB of data twice, the second copy shifted by 1000 bytes: fixed-size chunks
  // cannot dedup it, content-defined chunks should find most of it.
  Bytes base = make_disk_image(1u << 20, 61);
  base.back() = 1;
  Bytes disk = base;
  Bytes gap = text_bytes(1000, 62);
  disk.insert(disk.end(), gap.begin(), gap.end());
  disk.insert(disk.end(), base.begin(), base.end());
  std::string path = input("disk.img", disk);
  uint64_t fixed_stored = 0;
  for (bool cdc : {false, true}) {
    SCOPED_TRACE(cdc ? "cdc" : "fixed");
    auto opts = options(path, "", output(cdc ? "cdc.hxz" : "fixed.hxz"));
    opts.cdc = cdc;
    hexz::PackResult r = hexz::pack(opts);
    auto snap = hexz::Snapshot::open(opts.output_path);
    EXPECT_EQ(snap->info().cdc, cdc);
    EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk, 77777), disk), -1);
    EXPECT_TRUE(snap->verify().ok);
    if (!cdc) {
      fixed_stored = r.streams[0].stored_bytes;
    } else {
      EXPECT_GT(r.streams[0].dup_chunks, r.streams[0].chunks / 4);
      EXPECT_LT(r.streams[0].stored_bytes, fixed_stored * 3 / 4)
          << "CDC did not dedup the shifted copy";
      uint64_t max_len = 0;
      for (int k = 0; k < 32; ++k) {
        if (snap->info().chunk_histogram[k] != 0) max_len = uint64_t{1} << k;
      }
      EXPECT_LE(max_len, uint64_t{opts.max_chunk});
    }
  }
}

TEST_F(EdgeStreams, CdcRejectsInconsistentChunkBounds) {
  std::string path = input("disk.img", text_bytes(10000, 1));
  const uint32_t cases[][3] = {{8192, 8192, 65536},
                               {2048, 8192, 8192},
                               {8192, 4096, 65536},
                               {32, 64, 128},
                               {2048, 8192, (16u << 20) + 1}};
  for (const auto& c : cases) {
    auto opts = options(path, "", output("cdc.hxz"));
    opts.cdc = true;
    opts.min_chunk = c[0];
    opts.avg_chunk = c[1];
    opts.max_chunk = c[2];
    opts.block_size = hexz::kMaxBlockSize;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {hexz::ErrorCode::kInvalidArgument}))
        << c[0] << "/" << c[1] << "/" << c[2];
  }
}

}  // namespace
}  // namespace hexz_test
