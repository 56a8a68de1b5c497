// hexz::diff on known edits, from the index (same chunking) and from the data.
#include <gtest/gtest.h>

#include "support/fixture.hpp"

namespace hexz_test {
namespace {

class DiffTest : public HexzTest {
 protected:
  std::unique_ptr<hexz::Snapshot> pack_disk(const std::string& name, const Bytes& disk,
                                            uint32_t chunk = 4096) {
    auto o = options(input(name + ".img", disk), "", output(name + ".hxz"));
    o.chunk_size = chunk;
    hexz::pack(o);
    return hexz::Snapshot::open(o.output_path);
  }
};

TEST_F(DiffTest, IdenticalSnapshotsHaveNoDifferences) {
  const Bytes d = make_disk_image(1 << 20, 1);
  auto a = pack_disk("a", d);
  auto b = pack_disk("b", d);
  const auto r = hexz::diff(*a, *b);
  EXPECT_TRUE(r.from_index);
  EXPECT_TRUE(r.streams[0].ranges.empty());
  EXPECT_EQ(r.streams[0].differing_bytes, 0u);
  EXPECT_FALSE(r.streams[1].in_a);
}

TEST_F(DiffTest, KnownEditsGiveChunkRangesFromTheIndex) {
  const Bytes d = make_disk_image(1 << 20, 2);
  Bytes e = d;
  e[3 * 4096 + 17] ^= 0xff;  // chunk 3
  for (size_t i = 10 * 4096; i < 12 * 4096 + 5; ++i)
    e[i] = static_cast<uint8_t>(i * 7 + 1);  // chunks 10..12
  e[100 * 4096] ^= 1;                        // chunk 100
  auto a = pack_disk("a", d);
  auto b = pack_disk("b", e);
  const auto r = hexz::diff(*a, *b);
  ASSERT_TRUE(r.from_index);
  const std::vector<hexz::ByteRange> want = {
      {3 * 4096, 4096}, {10 * 4096, 3 * 4096}, {100 * 4096, 4096}};
  EXPECT_EQ(r.streams[0].ranges, want);
  EXPECT_EQ(r.streams[0].differing_bytes, 5u * 4096);
  EXPECT_GT(r.streams[0].stored_bytes_a, 0u);
}

TEST_F(DiffTest, LongerStreamTailDiffers) {
  const Bytes d = make_disk_image(1 << 20, 3);
  Bytes e = d;
  e.resize(d.size() + 5000, 7);
  auto a = pack_disk("a", d);
  auto b = pack_disk("b", e);
  const auto r = hexz::diff(*a, *b);
  const std::vector<hexz::ByteRange> want = {{d.size(), 5000}};
  EXPECT_EQ(r.streams[0].ranges, want);
}

TEST_F(DiffTest, DifferentChunkingComparesDataExactly) {
  const Bytes d = make_disk_image(1 << 20, 4);
  Bytes e = d;
  e[5000] ^= 0x10;
  e[5001] ^= 0x10;
  e[700000] ^= 0x01;
  auto a = pack_disk("a", d, 4096);
  auto b = pack_disk("b", e, 16384);
  const auto r = hexz::diff(*a, *b);
  EXPECT_FALSE(r.from_index);
  const std::vector<hexz::ByteRange> want = {{5000, 2}, {700000, 1}};
  EXPECT_EQ(r.streams[0].ranges, want);
}

}  // namespace
}  // namespace hexz_test
