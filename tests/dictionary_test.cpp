// Trained Zstd dictionaries: stored, used by the reader, skipped (with a warning) when useless.
#include <gtest/gtest.h>

#include "format/records.hpp"
#include "support/fixture.hpp"
#include "util/endian.hpp"

namespace hexz_test {
namespace {

class DictionaryTest : public HexzTest {};

Bytes text_image(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out;
  while (out.size() < size) append_text(out, std::min<size_t>(4096, size - out.size()), rng);
  return out;
}

TEST_F(DictionaryTest, TrainedDictionaryRoundTripsAndHelpsSmallBlocks) {
  const Bytes disk = text_image(8 << 20, 1);
  auto o = options(input("d.img", disk), "", output("plain.hxz"));
  o.codec = hexz::Codec::kZstd;
  o.block_size = 4096;  // small blocks: where a dictionary matters most
  const auto plain = hexz::pack(o);
  o.train_dictionary = true;
  o.output_path = output("dict.hxz");
  const auto with = hexz::pack(o);
  EXPECT_TRUE(with.warnings.empty());
  EXPECT_GT(with.dictionary_bytes, 1000u);
  EXPECT_LE(with.dictionary_bytes, 110u * 1024);
  EXPECT_LT(with.file_size, plain.file_size);
  auto snap = hexz::Snapshot::open(o.output_path);
  EXPECT_EQ(snap->info().dictionary_bytes, with.dictionary_bytes);
  Bytes back(disk.size());
  snap->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(back)));
  EXPECT_EQ(back, disk);
  EXPECT_TRUE(snap->verify().ok);
}

TEST_F(DictionaryTest, RandomInputGivesNoDictionaryAndAWarning) {
  auto o = options(input("r.img", random_bytes(4 << 20, 3)), "", output("r.hxz"));
  o.codec = hexz::Codec::kZstd;
  o.train_dictionary = true;
  const auto r = hexz::pack(o);
  EXPECT_EQ(r.dictionary_bytes, 0u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("no dictionary"), std::string::npos);
  EXPECT_EQ(hexz::Snapshot::open(o.output_path)->info().dictionary_bytes, 0u);
}

TEST_F(DictionaryTest, EmptyInputGivesNoDictionary) {
  auto o = options(input("e.img", Bytes{}), "", output("e.hxz"));
  o.codec = hexz::Codec::kZstd;
  o.train_dictionary = true;
  const auto r = hexz::pack(o);
  EXPECT_EQ(r.dictionary_bytes, 0u);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST_F(DictionaryTest, DictionaryNeedsZstd) {
  auto o = options(input("d.img", text_image(100000, 2)), "", output("x.hxz"));
  o.train_dictionary = true;
  o.codec = hexz::Codec::kLz4;
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(o); }, {hexz::ErrorCode::kInvalidArgument}));
}

TEST_F(DictionaryTest, CorruptDictionaryIsDetectedAtOpen) {
  auto o = options(input("d.img", text_image(4 << 20, 4)), "", output("d.hxz"));
  o.codec = hexz::Codec::kZstd;
  o.train_dictionary = true;
  ASSERT_GT(hexz::pack(o).dictionary_bytes, 0u);
  Bytes file = read_file(o.output_path);
  const uint64_t dict_offset = hexz::util::load_le<uint64_t>(file.data() + 144);
  file[dict_offset + 100] ^= 0x40;
  write_file(o.output_path, file);
  EXPECT_TRUE(
      ThrowsHexz([&] { hexz::Snapshot::open(o.output_path); }, {hexz::ErrorCode::kCorrupt}));
}

}  // namespace
}  // namespace hexz_test
