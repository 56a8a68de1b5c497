// Diff memory snapshots (PackOptions::holes_inherit): the holes of a sparse input mean
// "unchanged since the base", as in Firecracker's diff snapshots. A three-generation chain must
// read back byte-identical to the memory merged by hand.
#include <gtest/gtest.h>

#include <random>
#include <utility>
#include <vector>

#include "hexz/hexz.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::ErrorCode;
using hexz::Stream;

constexpr uint64_t kPage = 4096;

class DiffSnapshotTest : public HexzTest {
 protected:
  void SetUp() override {
    if (!filesystem_supports_holes(out_dir()))
      GTEST_SKIP() << "the temp file system keeps no holes";
  }
  /// A diff file of `size` bytes over `merged` (updated in place): `pages` random pages
  /// rewritten whole (one of them with zeros: written zeros are data, not a hole), and a few
  /// writes at offsets and lengths that are not page-aligned, so chunks straddle data and holes.
  std::vector<std::pair<uint64_t, Bytes>> dirty(Bytes& merged, uint64_t size, int pages,
                                                uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::pair<uint64_t, Bytes>> pieces;
    merged.resize(size, 0);  // past the base's end, holes read as zeros
    const uint64_t page_count = size / kPage;
    for (int i = 0; i < pages; ++i) {
      const uint64_t at = (rng() % page_count) * kPage;
      Bytes b = i == 0 ? Bytes(kPage, 0) : random_bytes(kPage, rng());
      pieces.emplace_back(at, b);
    }
    for (int i = 0; i < 3; ++i) {
      const uint64_t at = rng() % (size - 3000) + 1;
      pieces.emplace_back(at, random_bytes(100 + rng() % 2500, rng()));
    }
    for (const auto& [at, b] : pieces) std::copy(b.begin(), b.end(), merged.begin() + at);
    return pieces;
  }
  /// Packs the sparse memory file `name` (size, pieces) thin over `base` with holes_inherit.
  hexz::PackResult pack_diff(const std::string& name, const std::string& base, uint64_t size,
                             const std::vector<std::pair<uint64_t, Bytes>>& pieces) {
    const std::string mem = in_dir() + "/" + name + ".mem";
    make_sparse_file(mem, size, pieces);
    auto o = options("", mem, output(name + ".hxz"));
    o.base_path = base;
    o.holes_inherit = true;
    o.threads = 2;
    return hexz::pack(o);
  }
};

TEST_F(DiffSnapshotTest, ThreeGenerationChainReadsBackAsTheMergedMemory) {
  const uint64_t size = 256 * kPage;
  Bytes merged = make_memory_image(size, {}, 11);
  auto o = options("", input("gen0.mem", merged), output("gen0.hxz"));
  const auto full = hexz::pack(o);

  const auto d1 = pack_diff("gen1", output("gen0.hxz"), size, dirty(merged, size, 20, 1));
  const Bytes merged1 = merged;
  const auto d2 = pack_diff("gen2", output("gen1.hxz"), size, dirty(merged, size, 12, 2));

  const auto s1 = hexz::Snapshot::open(output("gen1.hxz"));
  EXPECT_EQ(s1->size(Stream::kMemory), size);
  EXPECT_EQ(read_stream(*s1, Stream::kMemory), merged1);
  const auto s2 = hexz::Snapshot::open(output("gen2.hxz"));
  EXPECT_EQ(read_stream(*s2, Stream::kMemory), merged);
  EXPECT_TRUE(s2->verify().ok);
  // Only the dirty pages are stored (random, so incompressible), and the chunks the unaligned
  // writes touch (at most 2 each): the rest references the base chain.
  EXPECT_LE(d1.streams[1].stored_bytes, (20 + 3 * 2) * kPage);
  EXPECT_LE(d2.streams[1].stored_bytes, (12 + 3 * 2) * kPage);
  EXPECT_GT(full.streams[1].stored_bytes, 0u);
  EXPECT_EQ(s2->info().bases.size(), 2u);  // gen1, then gen1's base gen0: one hop each
}

TEST_F(DiffSnapshotTest, AnInputLargerOrSmallerThanTheBaseKeepsItsOwnSize) {
  const uint64_t size = 64 * kPage;
  Bytes merged = make_memory_image(size, {}, 12);
  hexz::pack(options("", input("gen0.mem", merged), output("gen0.hxz")));
  Bytes larger = merged;
  pack_diff("larger", output("gen0.hxz"), size + 10 * kPage + 123,
            dirty(larger, size + 10 * kPage + 123, 3, 3));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("larger.hxz")), Stream::kMemory), larger);
  Bytes smaller = merged;
  smaller.resize(size / 2 + 77);
  auto pieces = dirty(smaller, size / 2 + 77, 2, 4);
  pack_diff("smaller", output("gen0.hxz"), size / 2 + 77, pieces);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("smaller.hxz")), Stream::kMemory), smaller);
}

TEST_F(DiffSnapshotTest, HolesInheritNeedsABaseThatHoldsTheStream) {
  const std::string mem = in_dir() + "/m.mem";
  make_sparse_file(mem, 16 * kPage, {{kPage, random_bytes(kPage, 1)}});
  auto o = options("", mem, output("x.hxz"));
  o.holes_inherit = true;
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(o); }, ErrorCode::kInvalidArgument,
                         "--holes-inherit needs --base"));
  hexz::pack(options(input("disk.img", random_bytes(8 * kPage, 2)), "", output("disk.hxz")));
  o.base_path = output("disk.hxz");
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(o); }, ErrorCode::kInvalidArgument,
                         "the base snapshot has no memory stream"));
  EXPECT_FALSE(std::filesystem::exists(output("x.hxz")));
}

}  // namespace
}  // namespace hexz_test
