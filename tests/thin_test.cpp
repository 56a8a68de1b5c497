// Thin snapshots: references into a base chain, one hop per read, base lookup, flatten.
#include <gtest/gtest.h>

#include <cstdlib>

#include "hash/digest.hpp"
#include "read/chain_digests.hpp"
#include "read/snapshot_reader.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

/// Edits `n` 100-byte spots of `data` (deterministically) and returns the result.
Bytes edited(Bytes data, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < n; ++i) {
    const size_t at = rng() % (data.size() - 100);
    for (size_t k = 0; k < 100; ++k) data[at + k] = static_cast<uint8_t>(rng());
  }
  return data;
}

class ThinTest : public HexzTest {
 protected:
  void SetUp() override {
    v1_disk_ = make_disk_image(4 << 20, 1);
    v1_mem_ = make_memory_image(2 << 20, v1_disk_, 2);
    v2_disk_ = edited(v1_disk_, 20, 3);
    v2_mem_ = edited(v1_mem_, 10, 4);
    v3_disk_ = edited(v2_disk_, 20, 5);
    auto o = options(input("v1.img", v1_disk_), input("v1.mem", v1_mem_), output("v1.hxz"));
    v1_ = hexz::pack(o);
    o = options(input("v2.img", v2_disk_), input("v2.mem", v2_mem_), output("v2.hxz"));
    o.base_path = output("v1.hxz");
    v2_ = hexz::pack(o);
    o = options(input("v3.img", v3_disk_), "", output("v3.hxz"));
    o.base_path = output("v2.hxz");
    v3_ = hexz::pack(o);
  }
  Bytes v1_disk_, v1_mem_, v2_disk_, v2_mem_, v3_disk_;
  hexz::PackResult v1_, v2_, v3_;
};

TEST_F(ThinTest, ThinSnapshotsReadBackAndStoreOnlyNewChunks) {
  auto s2 = hexz::Snapshot::open(output("v2.hxz"));
  EXPECT_EQ(read_stream(*s2, hexz::Stream::kDisk), v2_disk_);
  EXPECT_EQ(read_stream(*s2, hexz::Stream::kMemory), v2_mem_);
  EXPECT_TRUE(s2->verify().ok) << s2->verify().first_error;
  // 30 edits touch at most 60 chunks: the thin file is a small fraction of the full one.
  EXPECT_LT(v2_.file_size * 5, v1_.file_size);
  EXPECT_GE(v2_.streams[0].dup_chunks + v2_.streams[1].dup_chunks,
            v2_.streams[0].chunks + v2_.streams[1].chunks - v2_.streams[0].zero_chunks -
                v2_.streams[1].zero_chunks - 60);
  const auto info = s2->info();
  ASSERT_EQ(info.bases.size(), 1u);
  EXPECT_EQ(info.bases[0].name, "v1.hxz");
  EXPECT_GT(info.bases[0].bytes_referenced[0], v2_disk_.size() / 2);
}

TEST_F(ThinTest, ThreeDeepChainReadsWithOneHop) {
  auto s3 = hexz::Snapshot::open(output("v3.hxz"));
  EXPECT_EQ(read_stream(*s3, hexz::Stream::kDisk), v3_disk_);
  EXPECT_FALSE(s3->has_stream(hexz::Stream::kMemory));
  const auto info = s3->info();
  ASSERT_EQ(info.bases.size(), 2u);  // v2, then v1: references go straight to the storer
  EXPECT_EQ(info.bases[0].name, "v2.hxz");
  EXPECT_EQ(info.bases[1].name, "v1.hxz");
  EXPECT_GT(info.bases[1].bytes_referenced[0], info.bases[0].bytes_referenced[0]);
  std::mt19937_64 rng(9);
  for (int i = 0; i < 500; ++i) {
    const uint64_t off = rng() % v3_disk_.size();
    const size_t len =
        static_cast<size_t>(std::min<uint64_t>(rng() % 100000, v3_disk_.size() - off));
    Bytes got(len);
    s3->read(hexz::Stream::kDisk, off, std::as_writable_bytes(std::span(got)));
    ASSERT_TRUE(std::equal(got.begin(), got.end(), v3_disk_.begin() + static_cast<ptrdiff_t>(off)));
  }
}

TEST_F(ThinTest, BaseChunksStoreNoDigestAndTheBaseIndexSuppliesIt) {
  auto s2 = hexz::Snapshot::open(output("v2.hxz"));
  const auto& reader = dynamic_cast<const hexz::read::SnapshotReader&>(*s2);
  const hexz::read::ChainDigests chain(reader);
  size_t from_base = 0;
  reader.for_each_entry(hexz::Stream::kDisk, [&](uint64_t off, const hexz::format::IndexEntry& e) {
    if (e.kind != hexz::format::ChunkKind::kData) return;
    const auto content = hexz::hash::chunk_digest(v2_disk_.data() + off, e.length);
    if (e.source == 0) {
      EXPECT_EQ(e.digest, content);
      return;
    }
    ++from_base;
    EXPECT_EQ(e.digest, hexz::hash::ChunkDigest{}) << "digest stored for a base's chunk";
    const auto* d = chain.find(e);
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(*d, content);
    auto moved = e;
    moved.offset_in_block += 1;  // a location the base does not record
    EXPECT_EQ(chain.find(moved), nullptr);
  });
  EXPECT_GT(from_base, 100u);
}

TEST_F(ThinTest, ChunksOfAnOlderBaseDedupEvenIfTheDirectBaseDroppedThem) {
  // v1's content again, packed on v2: the chunks v2 edited away are still stored in v1, and
  // the chain's indexes find them, so nothing new is stored.
  auto o = options(input("v4.img", v1_disk_), "", output("v4.hxz"));
  o.base_path = output("v2.hxz");
  const auto r = hexz::pack(o);
  EXPECT_EQ(r.streams[0].blocks, 0u);
  auto s4 = hexz::Snapshot::open(output("v4.hxz"));
  EXPECT_EQ(read_stream(*s4, hexz::Stream::kDisk), v1_disk_);
  EXPECT_TRUE(s4->verify().ok) << s4->verify().first_error;
}

TEST_F(ThinTest, PackingOnAThinBaseNeedsItsBases) {
  fs::rename(output("v1.hxz"), tmp().file("elsewhere.hxz"));
  auto o = options(input("v4.img", v1_disk_), "", output("v4.hxz"));
  o.base_path = output("v2.hxz");
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(o); }, {hexz::ErrorCode::kNotFound}));
  EXPECT_FALSE(fs::exists(output("v4.hxz")));
}

TEST_F(ThinTest, MissingBaseIsAClearError) {
  fs::rename(output("v1.hxz"), tmp().file("elsewhere.hxz"));
  try {
    hexz::Snapshot::open(output("v2.hxz"));
    FAIL() << "opened a thin snapshot without its base";
  } catch (const hexz::Error& e) {
    EXPECT_EQ(e.code(), hexz::ErrorCode::kNotFound);
    EXPECT_NE(std::string(e.what()).find("v1.hxz"), std::string::npos) << e.what();
  }
}

TEST_F(ThinTest, MovedBaseIsFoundViaSearchPath) {
  fs::create_directories(tmp().file("bases"));
  fs::rename(output("v1.hxz"), tmp().file("bases/v1.hxz"));
  hexz::OpenOptions oo;
  oo.base_dirs = {tmp().file("nothing-here"), tmp().file("bases")};
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("v2.hxz"), oo), hexz::Stream::kDisk),
            v2_disk_);
  ::setenv("HEXZ_BASE_PATH", ("/nonexistent:" + tmp().file("bases")).c_str(), 1);
  auto s = hexz::Snapshot::open(output("v3.hxz"));
  ::unsetenv("HEXZ_BASE_PATH");
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), v3_disk_);
}

TEST_F(ThinTest, WrongBaseIsRejected) {
  // A different snapshot under the base's name.
  auto o = options(input("other.img", make_disk_image(1 << 20, 99)), "", output("v1.hxz"));
  o.force = true;
  hexz::pack(o);
  EXPECT_TRUE(
      ThrowsHexz([&] { hexz::Snapshot::open(output("v2.hxz")); }, {hexz::ErrorCode::kCorrupt}));
}

TEST_F(ThinTest, FlattenMakesAStandaloneCopy) {
  auto info = hexz::Snapshot::open(output("v3.hxz"))->info();
  auto o = hexz::options_like(info);
  o.output_path = output("flat.hxz");
  hexz::flatten(output("v3.hxz"), o);
  fs::remove(output("v1.hxz"));
  fs::remove(output("v2.hxz"));
  auto flat = hexz::Snapshot::open(output("flat.hxz"));
  EXPECT_TRUE(flat->info().bases.empty());
  EXPECT_EQ(read_stream(*flat, hexz::Stream::kDisk), v3_disk_);
  EXPECT_TRUE(flat->verify().ok);
}

TEST_F(ThinTest, BaseMayNotBeTheOutput) {
  auto o = options(input("v4.img", v3_disk_), "", output("v2.hxz"));
  o.base_path = output("v2.hxz");
  o.force = true;
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(o); }, {hexz::ErrorCode::kInvalidArgument}));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("v2.hxz")), hexz::Stream::kDisk), v2_disk_);
}

TEST_F(ThinTest, MissingBaseFileAtPackTime) {
  auto o = options(input("v4.img", v3_disk_), "", output("v4.hxz"));
  o.base_path = output("nope.hxz");
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(o); }, {hexz::ErrorCode::kNotFound}));
  EXPECT_FALSE(fs::exists(output("v4.hxz")));
}

TEST_F(ThinTest, DifferentChunkingWarns) {
  auto o = options(input("v4.img", v3_disk_), "", output("v4.hxz"));
  o.base_path = output("v1.hxz");
  o.chunk_size = 8192;
  const auto r = hexz::pack(o);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("chunking"), std::string::npos);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(o.output_path), hexz::Stream::kDisk), v3_disk_);
}

}  // namespace
}  // namespace hexz_test
