// Integrity beyond checksums: the identity covers the dictionary and the base table, bases'
// chunks are checked against the bases' digests (pack --base, flatten, verify), and verified
// reads check every chunk against its digest. Each attack edits a file as an attacker would,
// recomputing every XXH3 checksum, and sees the refusal.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>

#include "hexz/flatten.hpp"
#include "read/snapshot_reader.hpp"
#include "support/fixture.hpp"
#include "support/layout.hpp"

namespace hexz_test {
namespace {

namespace layout = hexz_test::layout;

/// The first data block (offset, stored length) of the disk stream of `path`.
hexz::format::BlockRef first_block(const std::string& path) {
  hexz::read::SnapshotReader r(hexz::io::open_storage(path, {}), {}, false);
  hexz::format::BlockRef ref;
  r.for_each_entry(hexz::Stream::kDisk, [&](uint64_t, const hexz::format::IndexEntry& e) {
    if (ref.offset == 0 && e.kind == hexz::format::ChunkKind::kData) ref = e.block;
  });
  return ref;
}

/// Flips `n` bytes of a raw (codec 0) block at `ref` in `file`; returns the new block checksum.
uint64_t rewrite_raw_block(Bytes& file, const hexz::format::BlockRef& ref, size_t n) {
  EXPECT_EQ(ref.codec, hexz::Codec::kNone);
  for (size_t i = 0; i < n; ++i) file[ref.offset + 7 + i] ^= 0x5a;
  return XXH3_64bits(file.data() + ref.offset, ref.stored_length);
}

class IntegrityTest : public HexzTest {};

// Attack: a base's dictionary is changed, its checksum fixed, identity and size kept. The thin
// snapshot used to accept the base (identity and size match) and return wrong bytes.
TEST_F(IntegrityTest, BaseWithChangedDictionaryIsRefusedAtOpen) {
  const Bytes v1 = make_disk_image(2 << 20, 11);
  Bytes v2 = v1;
  for (size_t i = 0; i < 4096; ++i) v2[100000 + i] ^= 0x33;
  auto o = options(input("v1.img", v1), "", output("v1.hxz"));
  o.codec = hexz::Codec::kZstd;
  o.train_dictionary = true;
  ASSERT_GT(hexz::pack(o).dictionary_bytes, 0u);
  o = options(input("v2.img", v2), "", output("v2.hxz"));
  o.base_path = output("v1.hxz");
  hexz::pack(o);
  ASSERT_EQ(read_stream(*hexz::Snapshot::open(output("v2.hxz")), hexz::Stream::kDisk), v2);

  Bytes base = read_file(output("v1.hxz"));
  const uint64_t at = layout::get_u64(base, layout::kDictOffset);
  const uint32_t len = layout::get_u32(base, layout::kDictLength);
  for (uint32_t i = len - 2048; i < len; ++i) base[at + i] = static_cast<uint8_t>(~base[at + i]);
  layout::fix_dict_checksum(base);
  write_file(output("v1.hxz"), base);

  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v1.hxz")); }, hexz::ErrorCode::kCorrupt,
                         "identity does not match its dictionary"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz")); }, hexz::ErrorCode::kCorrupt,
                         "identity does not match its dictionary"));
}

// The base table is covered too: renaming a thin snapshot's base (checksums fixed) is refused.
TEST_F(IntegrityTest, ChangedBaseTableIsRefusedAtOpen) {
  const Bytes v1 = make_disk_image(1 << 20, 12);
  auto o = options(input("v1.img", v1), "", output("v1.hxz"));
  hexz::pack(o);
  o = options(input("v2.img", v1), "", output("v2.hxz"));
  o.base_path = output("v1.hxz");
  hexz::pack(o);
  Bytes thin = read_file(output("v2.hxz"));
  const uint64_t at = layout::get_u64(thin, 168);
  const uint32_t len = layout::get_u32(thin, 176);
  thin[at + len - 1] = 'X';  // last byte of the name: "v1.hxX"
  layout::put_u64(thin, 184, XXH3_64bits(thin.data() + at, len));
  layout::fix_header_checksum(thin);
  write_file(output("v2.hxz"), thin);
  std::filesystem::copy_file(output("v1.hxz"), output("v1.hxX"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz")); }, hexz::ErrorCode::kCorrupt,
                         "identity does not match its dictionary"));
}

// Attack: a base block is rewritten and the block checksums in the base's index recomputed;
// digests and identity are left alone. pack --base used to accept it.
TEST_F(IntegrityTest, ThinPackAgainstRewrittenBaseIndexIsRefused) {
  const Bytes v1 = random_bytes(1 << 20, 13);
  auto o = options(input("v1.img", v1), "", output("v1.hxz"));
  o.codec = hexz::Codec::kNone;
  hexz::pack(o);
  const auto ref = first_block(output("v1.hxz"));
  Bytes base = read_file(output("v1.hxz"));
  const uint64_t sum = rewrite_raw_block(base, ref, 64);
  write_file(output("v1.hxz"), layout::with_block_checksum(base, 0, ref.offset, sum));
  {
    // The tampered base opens and reads the attacker's bytes: its checksums all match.
    const auto s = hexz::Snapshot::open(output("v1.hxz"));
    EXPECT_NE(read_stream(*s, hexz::Stream::kDisk), v1);
    EXPECT_FALSE(s->verify().ok);
  }
  o = options(input("v2.img", v1), "", output("v2.hxz"));
  o.base_path = output("v1.hxz");
  EXPECT_TRUE(
      ThrowsWith([&] { hexz::pack(o); }, hexz::ErrorCode::kCorrupt, "index digest mismatch"));
  EXPECT_FALSE(std::filesystem::exists(output("v2.hxz")));
}

/// A thin snapshot v2 of v1 whose first base block was rewritten after v2 was packed, with
/// v2's entries changed as a pack against the rewritten base would have made them.
class LaunderTest : public IntegrityTest {
 protected:
  void make(bool rewrite_base_index) {
    v1_ = random_bytes(1 << 20, 14);
    v2_ = v1_;
    for (size_t i = 0; i < 4096; ++i) v2_[600000 + i] ^= 0x77;
    auto o = options(input("v1.img", v1_), "", output("v1.hxz"));
    o.codec = hexz::Codec::kNone;
    hexz::pack(o);
    o = options(input("v2.img", v2_), "", output("v2.hxz"));
    o.base_path = output("v1.hxz");
    hexz::pack(o);
    const auto ref = first_block(output("v1.hxz"));
    Bytes base = read_file(output("v1.hxz"));
    const uint64_t sum = rewrite_raw_block(base, ref, 64);
    if (rewrite_base_index) base = layout::with_block_checksum(base, 0, ref.offset, sum);
    write_file(output("v1.hxz"), base);
    write_file(output("v2.hxz"),
               layout::with_block_checksum(read_file(output("v2.hxz")), 1, ref.offset, sum));
  }
  std::string flatten_error() {
    auto o = options("", "", output("flat.hxz"));
    try {
      hexz::flatten(output("v2.hxz"), o);
    } catch (const hexz::Error& e) {
      EXPECT_EQ(e.code(), hexz::ErrorCode::kCorrupt) << e.what();
      EXPECT_FALSE(std::filesystem::exists(output("flat.hxz")));
      return e.what();
    }
    return "flatten succeeded";
  }
  Bytes v1_, v2_;
};

TEST_F(LaunderTest, BaseBlockRewrittenIndexKeptIsCaughtByDigests) {
  make(false);
  // A plain read trusts the XXH3 checksums, which the attacker recomputed.
  EXPECT_NE(read_stream(*hexz::Snapshot::open(output("v2.hxz")), hexz::Stream::kDisk), v2_);
  const auto report = hexz::Snapshot::open(output("v2.hxz"))->verify();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.first_error.find("does not match its digest"), std::string::npos)
      << report.first_error;
  EXPECT_NE(flatten_error().find("does not match its digest"), std::string::npos);
  hexz::OpenOptions verified;
  verified.verify_reads = true;
  const auto s = hexz::Snapshot::open(output("v2.hxz"), verified);
  EXPECT_TRUE(ThrowsWith([&] { read_stream(*s, hexz::Stream::kDisk); }, hexz::ErrorCode::kCorrupt,
                         "the chunk at disk offset 0 (4096 bytes, in the block at file offset "
                         "512 of base 1) does not match its digest"));
  // The rest of the stream still reads under verification.
  Bytes tail(4096);
  s->read(hexz::Stream::kDisk, v2_.size() - tail.size(), std::as_writable_bytes(std::span(tail)));
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), v2_.end() - 4096));
}

TEST_F(LaunderTest, BaseBlockAndIndexRewrittenIsCaughtByBaseIdentity) {
  make(true);
  const auto report = hexz::Snapshot::open(output("v2.hxz"))->verify();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.first_error.find("index digest mismatch"), std::string::npos)
      << report.first_error;
  EXPECT_NE(flatten_error().find("index digest mismatch"), std::string::npos);
  hexz::OpenOptions verified;
  verified.verify_reads = true;
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz"), verified); },
                         hexz::ErrorCode::kCorrupt, "'" + output("v1.hxz") + "' is corrupt"));
}

TEST_F(IntegrityTest, VerifiedReadsCatchARewrittenBlock) {
  const Bytes disk = random_bytes(1 << 20, 15);
  auto o = options(input("d.img", disk), "", output("s.hxz"));
  o.codec = hexz::Codec::kNone;
  hexz::pack(o);
  const auto ref = first_block(output("s.hxz"));
  Bytes file = read_file(output("s.hxz"));
  const uint64_t sum = rewrite_raw_block(file, ref, 16);
  write_file(output("s.hxz"), layout::with_block_checksum(file, 0, ref.offset, sum));
  Bytes got(100);
  const auto plain = hexz::Snapshot::open(output("s.hxz"));
  plain->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(got)));
  EXPECT_FALSE(std::equal(got.begin(), got.end(), disk.begin()));  // the attack, unverified
  hexz::OpenOptions verified;
  verified.verify_reads = true;
  const auto s = hexz::Snapshot::open(output("s.hxz"), verified);
  EXPECT_TRUE(
      ThrowsWith([&] { s->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(got))); },
                 hexz::ErrorCode::kCorrupt,
                 "the chunk at disk offset 0 (4096 bytes, in the block at file "
                 "offset 512 of this file) does not match its digest"));
  // A warm retry is refused again: a failed chunk is never remembered as checked.
  EXPECT_TRUE(
      ThrowsWith([&] { s->read(hexz::Stream::kDisk, 10, std::as_writable_bytes(std::span(got))); },
                 hexz::ErrorCode::kCorrupt, "does not match its digest"));
}

TEST_F(IntegrityTest, VerifiedReadsReturnTheSameBytes) {
  const Bytes disk = make_disk_image(3 << 20, 16);
  const Bytes mem = make_memory_image(1 << 20, disk, 17);
  for (const bool encrypt : {false, true}) {
    for (const auto codec : {hexz::Codec::kLz4, hexz::Codec::kZstd}) {
      auto o = options(input("d.img", disk), input("m.img", mem), output("s.hxz"));
      o.codec = codec;
      o.encrypt = encrypt;
      if (encrypt) o.password = "secret";
      std::filesystem::remove(output("s.hxz"));
      hexz::pack(o);
      hexz::OpenOptions verified;
      verified.verify_reads = true;
      verified.password = o.password;
      verified.block_cache_bytes = 1 << 20;  // evictions: re-fetched blocks are checked again
      const auto s = hexz::Snapshot::open(output("s.hxz"), verified);
      EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk);
      EXPECT_EQ(read_stream(*s, hexz::Stream::kMemory), mem);
      std::mt19937_64 rng(3);
      for (int i = 0; i < 200; ++i) {
        const uint64_t off = rng() % disk.size();
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(rng() % 9000 + 1, disk.size() - off));
        EXPECT_EQ(read_range(*s, hexz::Stream::kDisk, off, n),
                  Bytes(disk.begin() + static_cast<std::ptrdiff_t>(off),
                        disk.begin() + static_cast<std::ptrdiff_t>(off + n)));
      }
    }
  }
}

TEST_F(IntegrityTest, VerifiedReadsThroughABaseChain) {
  const Bytes v1 = make_disk_image(2 << 20, 18);
  Bytes v2 = v1;
  for (size_t i = 0; i < 8192; ++i) v2[300000 + i] ^= 0x11;
  auto o = options(input("v1.img", v1), "", output("v1.hxz"));
  hexz::pack(o);
  o = options(input("v2.img", v2), "", output("v2.hxz"));
  o.base_path = output("v1.hxz");
  hexz::pack(o);
  hexz::OpenOptions verified;
  verified.verify_reads = true;
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("v2.hxz"), verified), hexz::Stream::kDisk),
            v2);
  const auto flat = hexz::flatten(output("v2.hxz"), options("", "", output("flat.hxz")));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("flat.hxz")), hexz::Stream::kDisk), v2);
}

// Files written before the index digest existed (header bytes [400, 432) zero, identity = the
// index hash) still open and verify when they have no dictionary and no base table; with a
// dictionary a zero index digest is refused (the dictionary would be uncovered).
TEST_F(IntegrityTest, FilesFromBeforeTheIndexDigestStillRead) {
  const Bytes disk = make_disk_image(1 << 20, 19);
  auto o = options(input("d.img", disk), "", output("old.hxz"));
  hexz::pack(o);
  Bytes file = read_file(output("old.hxz"));
  std::copy(file.begin() + 400, file.begin() + 432, file.begin() + 64);  // the 1.0 identity
  std::fill(file.begin() + 400, file.begin() + 432, 0);
  layout::fix_header_checksum(file);
  write_file(output("old.hxz"), file);
  const auto s = hexz::Snapshot::open(output("old.hxz"));
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk);
  EXPECT_TRUE(s->verify().ok) << s->verify().first_error;

  o = options(input("d.img", disk), "", output("dict.hxz"));
  o.train_dictionary = true;
  ASSERT_GT(hexz::pack(o).dictionary_bytes, 0u);
  file = read_file(output("dict.hxz"));
  std::fill(file.begin() + 400, file.begin() + 432, 0);
  layout::fix_header_checksum(file);
  write_file(output("dict.hxz"), file);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("dict.hxz")); },
                         hexz::ErrorCode::kCorrupt, "identity does not match its dictionary"));
}

}  // namespace
}  // namespace hexz_test
