// The compact dedup table: prefix collisions, digests spilled to disk, the memory limit.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "pack/dedup_table.hpp"
#include "pack/spill_log.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::hash::ChunkDigest;
using hexz::packing::ChunkLocation;
using hexz::packing::DedupTable;

/// A digest made of a mixed counter, so that slots spread like real BLAKE3 output.
ChunkDigest digest_of(uint64_t n) {
  ChunkDigest d;
  uint64_t x = n + 1;
  for (size_t i = 0; i < d.bytes.size(); ++i) {
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    d.bytes[i] = static_cast<unsigned char>(x >> 56);
  }
  return d;
}

class DedupTableTest : public HexzTest {
 protected:
  // The digest log spills into TMPDIR: keep it in the test's temp dir.
  void SetUp() override { ::setenv("TMPDIR", out_dir().c_str(), 1); }
  void TearDown() override { ::unsetenv("TMPDIR"); }
};

TEST_F(DedupTableTest, APrefixCollisionNeverDedups) {
  // Two digests identical in everything the slot keeps (and more): only the last byte differs.
  ChunkDigest a = digest_of(7);
  ChunkDigest b = a;
  b.bytes.back() ^= 1;
  DedupTable table;
  ASSERT_TRUE(table.insert(a, {3, 4096}));
  EXPECT_EQ(table.find(b), nullptr);
  ASSERT_TRUE(table.insert(b, {5, 8192}));
  const ChunkLocation* la = table.find(a);
  ASSERT_NE(la, nullptr);
  EXPECT_EQ(la->block, 3u);
  EXPECT_EQ(la->offset_in_block, 4096u);
  const ChunkLocation* lb = table.find(b);
  ASSERT_NE(lb, nullptr);
  EXPECT_EQ(lb->block, 5u);
  EXPECT_EQ(lb->offset_in_block, 8192u);
  EXPECT_EQ(table.size(), 2u);
}

TEST_F(DedupTableTest, DigestsSpilledToDiskAreStillFoundAfterGrowing) {
  constexpr uint64_t kCount = 50000;  // far beyond the in-memory tail and the initial slots
  DedupTable table;
  for (uint64_t i = 0; i < kCount; ++i) {
    ASSERT_TRUE(
        table.insert(digest_of(i), {static_cast<uint32_t>(i), static_cast<uint32_t>(i % 65536)}));
  }
  EXPECT_EQ(table.size(), kCount);
  EXPECT_EQ(table.refused(), 0u);
  for (uint64_t i = 0; i < kCount; ++i) {
    const ChunkLocation* loc = table.find(digest_of(i));
    ASSERT_NE(loc, nullptr) << i;
    EXPECT_EQ(loc->block, i);
    EXPECT_EQ(loc->offset_in_block, i % 65536);
  }
  for (uint64_t i = kCount; i < kCount + 1000; ++i) EXPECT_EQ(table.find(digest_of(i)), nullptr);
  // 16-byte slots at a load of at least 3/8.
  EXPECT_LE(table.memory_bytes(), kCount * 16 * 8 / 3);
}

TEST_F(DedupTableTest, AFullTableRefusesNewDigestsAndStaysWithinItsLimit) {
  constexpr uint64_t kLimit = 4096;  // 256 slots: the table may not grow past them
  DedupTable table(kLimit);
  uint64_t accepted = 0;
  for (uint64_t i = 0; i < 1000; ++i) accepted += table.insert(digest_of(i), {1, 0}) ? 1 : 0;
  EXPECT_LE(table.memory_bytes(), kLimit);
  EXPECT_EQ(accepted, table.size());
  EXPECT_EQ(table.refused(), 1000u - accepted);
  EXPECT_GT(accepted, 100u);
  EXPECT_LT(accepted, 1000u);
  uint64_t found = 0;
  for (uint64_t i = 0; i < 1000; ++i) found += table.find(digest_of(i)) != nullptr ? 1 : 0;
  EXPECT_EQ(found, accepted);
}

TEST_F(DedupTableTest, AnOffsetBeyondTwentyFourBitsIsNotRecorded) {
  DedupTable table;
  EXPECT_FALSE(table.insert(digest_of(1), {0, 1u << 24}));
  EXPECT_EQ(table.find(digest_of(1)), nullptr);
  EXPECT_EQ(table.refused(), 1u);
}

TEST_F(DedupTableTest, ASpillLogReturnsEveryRecordInAnyOrder) {
  struct Record {
    uint64_t a;
    uint32_t b;
    uint32_t c;
  };
  hexz::packing::SpillLog<Record> log;
  constexpr uint64_t kCount = 30000;  // several spills of 4096 records
  for (uint64_t i = 0; i < kCount; ++i) {
    ASSERT_EQ(log.append({i * 7, static_cast<uint32_t>(i), static_cast<uint32_t>(~i)}), i);
  }
  EXPECT_EQ(log.size(), kCount);
  for (uint64_t k = 0; k < kCount; ++k) {
    const uint64_t i = (k * 7919) % kCount;  // jumps between the file and the tail
    const Record r = log.get(i);
    ASSERT_EQ(r.a, i * 7) << i;
    ASSERT_EQ(r.b, static_cast<uint32_t>(i)) << i;
    ASSERT_EQ(r.c, static_cast<uint32_t>(~i)) << i;
  }
  // The file is unlinked at once: nothing is left in TMPDIR.
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{});
}

TEST_F(DedupTableTest, WithoutATemporaryDirectoryTheRecordsStayInMemory) {
  ::setenv("TMPDIR", (out_dir() + "/missing").c_str(), 1);
  hexz::packing::SpillLog<uint64_t> log;
  for (uint64_t i = 0; i < 10000; ++i) log.append(i * 3);
  for (uint64_t i = 0; i < 10000; ++i) ASSERT_EQ(log.get(i), i * 3) << i;
}

TEST_F(DedupTableTest, PackWithoutATemporaryDirectoryStillRoundTrips) {
  ::setenv("TMPDIR", (out_dir() + "/missing").c_str(), 1);
  // 6000 unique chunks (beyond the 4096 records a spill log keeps before it spills), then a
  // copy of the first 1000.
  Bytes image;
  for (uint64_t i = 0; i < 7000; ++i) {
    Bytes c = random_bytes(4096, (i % 6000) + 1);
    image.insert(image.end(), c.begin(), c.end());
  }
  auto opts = options(input("disk.img", image), "", output("s.hxz"));
  const hexz::PackResult r = hexz::pack(opts);
  EXPECT_EQ(r.streams[0].dup_chunks, 1000u);
  auto snap = hexz::Snapshot::open(opts.output_path);
  EXPECT_EQ(first_difference(read_stream(*snap, hexz::Stream::kDisk), image), -1);
}

}  // namespace
}  // namespace hexz_test
