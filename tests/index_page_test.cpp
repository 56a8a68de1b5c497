// The raw index page form (FORMAT.md section 9.1): columns, digests only for data chunks of
// this file, and the checks a reader applies to a page and its master entry.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "format/records.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::format::ChunkKind;
using hexz::format::IndexEntry;

std::vector<IndexEntry> sample_entries() {
  std::vector<IndexEntry> v(3);
  v[0].kind = ChunkKind::kData;  // stored in this file: keeps its digest
  v[0].length = 4096;
  v[0].block = {512, 0x1122334455667788ull, 1000, 8192, hexz::Codec::kZstd};
  v[0].digest.bytes.fill(0xab);
  v[1].kind = ChunkKind::kZero;
  v[1].length = 4096;
  v[2].kind = ChunkKind::kData;  // held by base 2: its digest is not stored
  v[2].source = 2;
  v[2].length = 4096;
  v[2].offset_in_block = 4096;
  v[2].block = {9000, 77, 8192, 8192, hexz::Codec::kNone};
  v[2].digest.bytes.fill(0xcd);
  return v;
}

TEST(IndexPage, ColumnsRoundTripAndOnlyLocalChunksKeepDigests) {
  const auto entries = sample_entries();
  const auto raw = hexz::format::encode_index_page(entries);
  ASSERT_EQ(raw.size(), 3u * 35 + 16);  // one stored digest
  // Column layout: kinds, then sources, then codecs.
  EXPECT_EQ(raw[0], 1);
  EXPECT_EQ(raw[1], 0);
  EXPECT_EQ(raw[2], 1);
  EXPECT_EQ(raw[5], 2);
  EXPECT_EQ(raw[6], 2);  // zstd
  EXPECT_EQ(raw[3 * 35], 0xab);
  const auto back = hexz::format::decode_index_page(raw, 3, 2);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].block, entries[0].block);
  EXPECT_EQ(back[0].digest, entries[0].digest);
  EXPECT_EQ(back[1].kind, ChunkKind::kZero);
  EXPECT_EQ(back[2].block, entries[2].block);
  EXPECT_EQ(back[2].source, 2);
  EXPECT_EQ(back[2].offset_in_block, 4096u);
  EXPECT_EQ(back[2].digest, hexz::hash::ChunkDigest{}) << "a base's chunk has no stored digest";
}

TEST(IndexPage, MalformedPagesAreCorrupt) {
  const auto raw = hexz::format::encode_index_page(sample_entries());
  const auto corrupt = [](std::vector<unsigned char> bytes, uint32_t count, uint32_t bases) {
    return ThrowsHexz([&] { hexz::format::decode_index_page(bytes, count, bases); },
                      {hexz::ErrorCode::kCorrupt});
  };
  auto longer = raw;
  longer.push_back(0);
  EXPECT_TRUE(corrupt(longer, 3, 2));                           // trailing
  EXPECT_TRUE(corrupt({raw.begin(), raw.end() - 16}, 3, 2));    // no digest
  EXPECT_TRUE(corrupt({raw.begin(), raw.begin() + 50}, 3, 2));  // short
  EXPECT_TRUE(corrupt(raw, 3, 1));                              // source 2 > 1
  auto bad_kind = raw;
  bad_kind[1] = 7;
  EXPECT_TRUE(corrupt(bad_kind, 3, 2));
  auto zero_length = raw;
  std::fill_n(zero_length.begin() + 9, 4, 0);  // length column, entry 0
  EXPECT_TRUE(corrupt(zero_length, 3, 2));
  auto outside = raw;
  outside[3 * 3 + 3 * 4 + 4 * 2 + 1] = 0xff;  // offset_in_block column, entry 2: past the block
  EXPECT_TRUE(corrupt(outside, 3, 2));
}

// Damaged pages (checksums recomputed by an attacker, or a reader bug upstream) must be refused
// cleanly: decode either throws kCorrupt or returns entries that pass every entry check. Run
// under ASan in CI, this also shows the decoder never reads outside the page.
TEST(IndexPage, RandomlyDamagedPagesAreRefusedOrValid) {
  const auto good = hexz::format::encode_index_page(sample_entries());
  std::mt19937_64 rng(2026);
  int refused = 0;
  for (int round = 0; round < 5000; ++round) {
    auto bytes = good;
    switch (rng() % 3) {
      case 0:  // flip 1-3 bytes
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k)
          bytes[rng() % bytes.size()] ^= static_cast<unsigned char>(1 + rng() % 255);
        break;
      case 1:  // truncate
        bytes.resize(rng() % bytes.size());
        break;
      default:  // extend
        bytes.resize(bytes.size() + 1 + rng() % 40, static_cast<unsigned char>(rng()));
    }
    const uint32_t count = 1 + static_cast<uint32_t>(rng() % 5);
    const uint32_t bases = static_cast<uint32_t>(rng() % 3);
    try {
      const auto entries = hexz::format::decode_index_page(bytes, count, bases);
      ASSERT_EQ(entries.size(), count);
      for (const auto& e : entries) {
        EXPECT_GT(e.length, 0u);
        EXPECT_LE(e.source, bases);
        if (e.kind == ChunkKind::kData) {
          EXPECT_LE(uint64_t{e.offset_in_block} + e.length, e.block.raw_length);
        }
      }
    } catch (const hexz::Error& e) {
      ASSERT_EQ(e.code(), hexz::ErrorCode::kCorrupt) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 4000);
}

TEST(IndexPage, MasterEntryRawLengthMustFitTheEntries) {
  hexz::format::MasterEntry m;
  m.entry_count = 10;
  m.codec = hexz::Codec::kZstd;
  unsigned char bytes[hexz::format::kMasterEntrySize];
  for (uint32_t raw : {350u, 350u + 16u, 350u + 160u}) {
    m.raw_length = raw;
    hexz::format::encode_master_entry(m, bytes);
    EXPECT_EQ(hexz::format::decode_master_entry(bytes).raw_length, raw);
  }
  for (uint32_t raw : {349u, 351u, 350u + 176u, 520u}) {
    m.raw_length = raw;
    hexz::format::encode_master_entry(m, bytes);
    EXPECT_TRUE(
        ThrowsHexz([&] { hexz::format::decode_master_entry(bytes); }, {hexz::ErrorCode::kCorrupt}))
        << raw;
  }
}

}  // namespace
}  // namespace hexz_test
