// FastCDC v1: pinned cut points, agreement with the byte-at-a-time definition, CDC round trips
// and dedup of shifted content.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "chunk/fastcdc.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

std::vector<unsigned char> golden_input() {
  std::mt19937_64 rng(20261124);
  std::vector<unsigned char> d(1 << 20);
  for (auto& b : d) b = static_cast<unsigned char>(rng() >> 56);
  return d;
}

std::vector<size_t> cut_all(const hexz::chunk::FastCdc& c, const std::vector<unsigned char>& d) {
  std::vector<size_t> ends;
  size_t pos = 0;
  while (pos < d.size()) {
    pos += c.cut(d.data() + pos, d.size() - pos);
    ends.push_back(pos);
  }
  return ends;
}

/// The specification of FastCDC v1 written the slow, obvious way (docs/FORMAT.md).
size_t reference_cut(const unsigned char* p, size_t n, uint32_t min, uint32_t avg, uint32_t max) {
  if (n <= min) return n;
  const size_t limit = std::min<size_t>(n, max);
  const size_t normal = std::min<size_t>(avg, limit);
  unsigned bits = 0;
  while ((2u << bits) <= avg) ++bits;  // floor(log2(avg))
  const uint64_t mask_s = ~0ull << (64 - (bits + 2));
  const uint64_t mask_l = ~0ull << (64 - (bits - 2));
  uint64_t fp = 0;
  for (size_t i = min; i < limit; ++i) {
    fp = (fp << 1) + hexz::chunk::gear_table()[p[i]];
    if ((fp & (i < normal ? mask_s : mask_l)) == 0) return i + 1;
  }
  return limit;
}

TEST(FastCdc, GearTableIsPinned) {
  EXPECT_EQ(hexz::chunk::gear_table()[0], 0xd98d04b887a991dfull);
  EXPECT_EQ(hexz::chunk::gear_table()[255], 0x732e54b4ea530c7bull);
}

TEST(FastCdc, CutPointsArePinned) {
  // Changing these means changing the on-disk chunking algorithm: bump kFastCdcVersion instead.
  const std::vector<size_t> expected_prefix = {2329,  5379,  14664, 23323, 32279, 40131,  47481,
                                               62352, 72249, 81745, 90519, 99690, 112304, 121313};
  const auto ends = cut_all(hexz::chunk::FastCdc(2048, 8192, 65536), golden_input());
  ASSERT_EQ(ends.size(), 117u);
  EXPECT_EQ(std::vector<size_t>(ends.begin(), ends.begin() + 14), expected_prefix);
  EXPECT_EQ(ends[115], 1041791u);
  EXPECT_EQ(ends.back(), 1u << 20);
}

TEST(FastCdc, MatchesByteAtATimeDefinition) {
  const auto d = golden_input();
  const uint32_t params[][3] = {
      {64, 256, 1024}, {2048, 8192, 65536}, {4096, 16384, 65536}, {16384, 65536, 131072}};
  for (const auto& p : params) {
    hexz::chunk::FastCdc c(p[0], p[1], p[2]);
    size_t pos = 0;
    while (pos < d.size()) {
      const size_t got = c.cut(d.data() + pos, d.size() - pos);
      ASSERT_EQ(got, reference_cut(d.data() + pos, d.size() - pos, p[0], p[1], p[2]))
          << "at " << pos;
      ASSERT_GE(got, std::min<size_t>(p[0], d.size() - pos));
      ASSERT_LE(got, p[2]);
      pos += got;
    }
  }
}

TEST(FastCdc, AverageIsNearTarget) {
  const auto ends = cut_all(hexz::chunk::FastCdc(2048, 8192, 65536), golden_input());
  const double avg = static_cast<double>(1 << 20) / static_cast<double>(ends.size());
  EXPECT_GT(avg, 6000);
  EXPECT_LT(avg, 12000);
}

class CdcPackTest : public HexzTest {};

TEST_F(CdcPackTest, InvalidParametersAreRejected) {
  const std::string disk = input("d.img", text_bytes(100000, 1));
  const uint32_t bad[][3] = {{8192, 8192, 65536},
                             {4096, 2048, 65536},
                             {2048, 65536, 65536},
                             {2048, 8192, (16u << 20) + 1},
                             {32, 8192, 65536}};
  for (const auto& b : bad) {
    auto o = options(disk, "", output("x.hxz"));
    o.cdc = true;
    o.min_chunk = b[0];
    o.avg_chunk = b[1];
    o.max_chunk = b[2];
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(o); }, {hexz::ErrorCode::kInvalidArgument}));
    EXPECT_FALSE(fs::exists(o.output_path));
  }
}

TEST_F(CdcPackTest, RoundTripWithRandomReads) {
  const Bytes disk = make_disk_image(6 << 20, 11);
  const Bytes mem = make_memory_image(3 << 20, disk, 12);
  auto o = options(input("d.img", disk), input("m.img", mem), output("c.hxz"));
  o.cdc = true;
  o.min_chunk = 1024;
  o.avg_chunk = 4096;
  o.max_chunk = 32768;
  o.codec = hexz::Codec::kZstd;
  const auto r = hexz::pack(o);
  EXPECT_GT(r.streams[1].dup_chunks, 0u);
  const auto snap = hexz::Snapshot::open(o.output_path);
  const auto info = snap->info();
  EXPECT_TRUE(info.cdc);
  EXPECT_EQ(info.min_chunk, 1024u);
  EXPECT_EQ(info.chunk_size, 4096u);
  EXPECT_EQ(info.max_chunk, 32768u);
  uint64_t histogram_total = 0;
  for (const auto n : info.chunk_histogram) histogram_total += n;
  EXPECT_EQ(histogram_total, r.streams[0].chunks + r.streams[1].chunks);
  std::mt19937_64 rng(5);
  for (const auto& [stream, src] :
       {std::pair{hexz::Stream::kDisk, &disk}, std::pair{hexz::Stream::kMemory, &mem}}) {
    Bytes all(src->size());
    snap->read(stream, 0, std::as_writable_bytes(std::span(all)));
    ASSERT_EQ(all, *src);
    for (int i = 0; i < 2000; ++i) {
      const uint64_t off = rng() % src->size();
      const size_t len =
          static_cast<size_t>(rng() % std::min<uint64_t>(200000, src->size() - off + 1));
      Bytes got(len);
      snap->read(stream, off, std::as_writable_bytes(std::span(got)));
      ASSERT_TRUE(std::equal(got.begin(), got.end(), src->begin() + static_cast<ptrdiff_t>(off)))
          << off << "+" << len;
    }
  }
  EXPECT_TRUE(snap->verify().ok);
}

/// Packs `original`, then `shifted` thin on it; returns dup_chunks / chunks of the shifted copy.
double shifted_dedup_ratio(const hexz::PackOptions& base_options, const Bytes& original,
                           const Bytes& shifted, const std::string& in_dir,
                           const std::string& out_dir) {
  write_file(in_dir + "/orig.img", original);
  write_file(in_dir + "/shift.img", shifted);
  auto o = base_options;
  o.disk_path = in_dir + "/orig.img";
  o.output_path = out_dir + "/orig.hxz";
  o.force = true;
  hexz::pack(o);
  o.disk_path = in_dir + "/shift.img";
  o.output_path = out_dir + "/shift.hxz";
  o.base_path = out_dir + "/orig.hxz";
  const auto r = hexz::pack(o);
  const auto snap = hexz::Snapshot::open(o.output_path);
  Bytes back(shifted.size());
  snap->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(back)));
  EXPECT_EQ(back, shifted);
  return static_cast<double>(r.streams[0].dup_chunks) / static_cast<double>(r.streams[0].chunks);
}

TEST_F(CdcPackTest, ShiftedCopyDedupsWithCdcButNotFixed) {
  const Bytes original = random_bytes(64 << 20, 77);
  Bytes shifted(original.begin(), original.begin() + 1000);
  const Bytes inserted = random_bytes(333, 78);
  shifted.insert(shifted.end(), inserted.begin(), inserted.end());
  shifted.insert(shifted.end(), original.begin() + 1000, original.end());

  hexz::PackOptions cdc;
  cdc.cdc = true;
  const double with_cdc = shifted_dedup_ratio(cdc, original, shifted, in_dir(), out_dir());
  EXPECT_GE(with_cdc, 0.90);
  const double with_fixed =
      shifted_dedup_ratio(hexz::PackOptions{}, original, shifted, in_dir(), out_dir());
  EXPECT_LT(with_fixed, 0.01);
}

}  // namespace
}  // namespace hexz_test
