// Hand-built hostile snapshots (issue 17's fuzzing findings and issue 14's memory
// amplification): each must cost a clear hexz::Error and nothing else, and verify() must report
// exactly what a read would run into, whatever the cache holds.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "format/attachments.hpp"
#include "format/records.hpp"
#include "hexz/hexz.hpp"
#include "read/snapshot_reader.hpp"
#include "support/craft.hpp"
#include "support/fixture.hpp"
#include "support/layout.hpp"

namespace hexz_test {
namespace {

using hexz::ErrorCode;
using hexz::Stream;
namespace L = layout;

class HostileFile : public HexzTest {
 protected:
  /// Packs `disk` with `chunk` byte chunks (one thread) and returns the file's bytes.
  Bytes pack_disk(const Bytes& disk, uint32_t chunk = 4096, uint32_t block = 64 * 1024) {
    auto o = options(input("disk.img", disk), "", output("d.hxz"));
    o.chunk_size = chunk;
    o.block_size = block;
    o.threads = 1;
    o.force = true;
    hexz::pack(o);
    return read_file(output("d.hxz"));
  }
  /// Opens `file` from memory with one thread and the given cache budget.
  static std::unique_ptr<hexz::read::SnapshotReader> open(const Bytes& file,
                                                          uint64_t block_cache = 64 << 20) {
    hexz::OpenOptions o;
    o.threads = 1;
    o.block_cache_bytes = block_cache;
    return std::make_unique<hexz::read::SnapshotReader>(
        std::make_unique<craft::MemoryFile>(std::make_shared<const Bytes>(file)), o, false);
  }
};

TEST_F(HostileFile, MasterIndexLocationThatWrapsPast2To64IsRefusedBeforeAllocating) {
  Bytes f = pack_disk(text_bytes(64 * 1024, 1));
  // 2^30 pages claim 40 GiB of master index; the offset is chosen so that offset + length
  // wraps to the tail offset, which a check by addition accepts.
  const uint64_t pages = 1ull << 30;
  const uint64_t length = pages * L::kMasterEntrySize;
  const uint64_t tail = L::get_u64(f, L::kTailOffset);
  L::put_u64(f, L::kMasterOffset, tail - length);  // wraps: (2^64 - length + tail)
  L::put_u64(f, L::kMasterLength, length);
  f[L::kPageCount] = 0;
  f[L::kPageCount + 1] = 0;
  f[L::kPageCount + 2] = 0;
  f[L::kPageCount + 3] = 0x40;  // page_count = 2^30
  // The disk stream's record claims every page (first_page 0, page_count 2^30).
  f[L::kStreamTable + 52] = 0;
  f[L::kStreamTable + 53] = 0;
  f[L::kStreamTable + 54] = 0;
  f[L::kStreamTable + 55] = 0x40;
  L::fix_header_checksum(f);
  EXPECT_TRUE(ThrowsWith([&] { open(f); }, ErrorCode::kCorrupt, "invalid master index location"));
}

TEST_F(HostileFile, TailLocationThatWrapsIsRefused) {
  Bytes f = pack_disk(text_bytes(64 * 1024, 2));
  const uint64_t size = f.size();
  const uint64_t tail = 1ull << 63;
  L::put_u64(f, L::kTailOffset, tail);
  L::put_u64(f, 104, size - tail);  // tail_length: tail + length wraps to file_size
  L::fix_header_checksum(f);
  EXPECT_TRUE(ThrowsWith([&] { open(f); }, ErrorCode::kCorrupt, "invalid tail location"));
}

TEST_F(HostileFile, PresentEmptyStreamWithIndexPagesIsRefused) {
  Bytes f = pack_disk(text_bytes(64 * 1024, 3));
  L::put_u64(f, L::kStreamTable + 0, 0);  // disk logical_size 0, its page kept
  L::fix_header_checksum(f);
  EXPECT_TRUE(ThrowsWith([&] { open(f); }, ErrorCode::kCorrupt, "an empty stream has no pages"));
}

TEST_F(HostileFile, ThinSnapshotWhoseBaseIsEncryptedIsRefusedWithOrWithoutAPassword) {
  // A thin snapshot of a plain base, whose base record is then pointed at an encrypted file
  // put in the base's place: its entries were checked against an unencrypted layout.
  const Bytes base_data = text_bytes(256 * 1024, 4);
  auto b = options(input("base.img", base_data), "", output("base.hxz"));
  hexz::pack(b);
  Bytes v2 = base_data;
  v2[100] ^= 1;
  auto t = options(input("v2.img", v2), "", output("thin.hxz"));
  t.base_path = output("base.hxz");
  hexz::pack(t);
  auto e = options(input("other.img", text_bytes(128 * 1024, 5)), "", output("enc.hxz"));
  e.encrypt = true;
  e.password = "secret";
  hexz::pack(e);
  const Bytes enc = read_file(output("enc.hxz"));
  craft::Model m = craft::take_apart(read_file(output("thin.hxz")));
  std::copy_n(enc.begin() + 64, 32, m.bases.begin());  // the encrypted file's identity
  L::put_u64(m.bases, 32, enc.size());                 // and size
  write_file(output("thin.hxz"), craft::rebuild(m));
  write_file(output("base.hxz"), enc);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("thin.hxz")); }, ErrorCode::kUnsupported,
                         "cannot be the base of an unencrypted thin snapshot"));
  // With a password (as Python passes it), the unencrypted thin file itself is refused first.
  hexz::OpenOptions o;
  o.password = "secret";
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("thin.hxz"), o); },
                         ErrorCode::kWrongPassword, "is not encrypted, but a password was given"));
}

TEST_F(HostileFile, EntriesThatDisagreeAboutOneBlockFailVerifyAndEveryReadWhateverTheCache) {
  // Three chunks in one block; the second entry claims a stored length one byte short.
  const Bytes disk = text_bytes(3 * 4096, 6);
  craft::Model m = craft::take_apart(pack_disk(disk));
  ASSERT_EQ(m.pages.size(), 1u);
  auto& entries = m.pages[0];
  ASSERT_EQ(entries.size(), 3u);
  ASSERT_EQ(entries[0].block, entries[1].block);
  entries[1].block.stored_length -= 1;
  const Bytes f = craft::rebuild(m);

  const hexz::VerifyReport report = open(f)->verify({});
  EXPECT_FALSE(report.ok);
  ASSERT_EQ(report.problem_count, 1u) << report.first_error;
  EXPECT_EQ(report.problems[0].kind, hexz::VerifyProblem::Kind::kCorrupt);
  EXPECT_NE(report.first_error.find("failed its checksum"), std::string::npos)
      << report.first_error;

  // Cold: the second chunk fails; warm (the first chunk's block cached): it fails the same way.
  auto cold = open(f);
  EXPECT_TRUE(ThrowsWith([&] { read_range(*cold, Stream::kDisk, 4096, 4096); }, ErrorCode::kCorrupt,
                         "failed its checksum"));
  auto warm = open(f);
  EXPECT_EQ(read_range(*warm, Stream::kDisk, 0, 4096), Bytes(disk.begin(), disk.begin() + 4096));
  EXPECT_TRUE(ThrowsWith([&] { read_range(*warm, Stream::kDisk, 4096, 4096); }, ErrorCode::kCorrupt,
                         "failed its checksum"));
  EXPECT_EQ(read_range(*warm, Stream::kDisk, 8192, 4096), Bytes(disk.begin() + 8192, disk.end()));
}

TEST_F(HostileFile, VerifyAppliesThePageTilingRuleLikeEveryRead) {
  // 4200 chunks of 512 bytes: two index pages. Page 1 is made to start 512 bytes early, which
  // the open checks allow (first offsets still increase) but page 0 no longer tiles its range.
  const Bytes disk = text_bytes(4200 * 512, 7);
  craft::Model m = craft::take_apart(pack_disk(disk, 512, 64 * 1024));
  ASSERT_EQ(m.master.size(), 2u);
  m.master[1].first_logical -= 512;
  const Bytes f = craft::rebuild(m);
  auto snap = open(f);
  const hexz::VerifyReport report = snap->verify({});
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.first_error.find("does not cover its range"), std::string::npos)
      << report.first_error;
  EXPECT_TRUE(ThrowsWith([&] { snap->info(); }, ErrorCode::kCorrupt, "does not cover its range"));
  EXPECT_TRUE(ThrowsWith([&] { read_range(*snap, Stream::kDisk, 0, 512); }, ErrorCode::kCorrupt,
                         "does not cover its range"));
}

TEST_F(HostileFile, VerifyReportsEveryBadBlockAndGoodBlocksStillRead) {
  // 8 blocks of 4 chunks; three of them damaged (checksums left as they were).
  const Bytes disk = text_bytes(32 * 4096, 8);
  Bytes f = pack_disk(disk, 4096, 16 * 1024);
  craft::Model m = craft::take_apart(f);
  std::vector<hexz::format::BlockRef> blocks;
  for (const auto& e : m.pages[0]) {
    if (blocks.empty() || !(blocks.back() == e.block)) blocks.push_back(e.block);
  }
  ASSERT_EQ(blocks.size(), 8u);
  for (size_t b : {1u, 4u, 6u}) f[blocks[b].offset + 2] ^= 0x55;
  auto snap = open(f);
  const hexz::VerifyReport report = snap->verify({});
  EXPECT_FALSE(report.ok);
  EXPECT_EQ(report.problem_count, 3u);
  ASSERT_EQ(report.problems.size(), 3u);
  for (const auto& p : report.problems) {
    EXPECT_EQ(p.kind, hexz::VerifyProblem::Kind::kCorrupt);
    EXPECT_NE(p.message.find("failed its checksum"), std::string::npos) << p.message;
  }
  EXPECT_EQ(report.blocks_checked, 5u);
  EXPECT_EQ(report.chunks_checked, 20u);
  EXPECT_EQ(read_range(*snap, Stream::kDisk, 0, 16 * 1024),
            Bytes(disk.begin(), disk.begin() + 16 * 1024));
  EXPECT_TRUE(ThrowsWith([&] { read_range(*snap, Stream::kDisk, 16 * 1024, 1); },
                         ErrorCode::kCorrupt, "failed its checksum"));
}

TEST_F(HostileFile, ResealedRebuildOfAnIntactFileVerifiesAndReadsBack) {
  // The crafting tools themselves: a rebuild without changes, and a reseal after a content
  // change that keeps the structure, both verify, and read back what they hold.
  const Bytes disk = text_bytes(20 * 4096, 9);
  const Bytes f = craft::rebuild(craft::take_apart(pack_disk(disk)));
  auto snap = open(f);
  const auto report = snap->verify({});
  EXPECT_TRUE(report.ok) << report.first_error;
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), disk);
  Bytes g = f;
  craft::reseal(g, true);
  EXPECT_EQ(g, f);  // nothing to repair

  // Incompressible data is stored raw: change a byte of a block, then reseal.
  const Bytes noise = random_bytes(8 * 4096, 10);
  const Bytes r = craft::rebuild(craft::take_apart(pack_disk(noise)));
  const auto m = craft::take_apart(r);
  const auto& ref = m.pages[0][0].block;
  ASSERT_EQ(ref.codec, hexz::Codec::kNone);
  Bytes changed = r;
  changed[ref.offset + 5] ^= 0x01;
  Bytes sums_only = changed;
  craft::reseal(sums_only, false);  // checksums repaired, digests not: verify sees the change
  const auto bad = open(sums_only)->verify({});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.first_error.find("does not match its digest"), std::string::npos)
      << bad.first_error;
  craft::reseal(changed, true);  // digests and identity too: a consistent, different file
  auto resealed = open(changed);
  const auto good = resealed->verify({});
  EXPECT_TRUE(good.ok) << good.first_error;
  Bytes expect = noise;
  expect[5] ^= 0x01;
  EXPECT_EQ(read_stream(*resealed, Stream::kDisk), expect);
}

// --- attachments (format 1.1) ----------------------------------------------------------------

/// Snapshots with one attachment, to damage.
class HostileAttachment : public HostileFile {
 protected:
  /// Packs a small disk with one attachment; `table_at` gets the attachment table's offset.
  Bytes pack_with_attachment(uint64_t& table_at) {
    auto o = options(input("disk.img", random_bytes(64 * 1024, 4)), "", output("a.hxz"));
    o.threads = 1;
    o.force = true;
    o.attachments.push_back({"vmstate", "", std::vector<std::byte>(1000, std::byte{7})});
    hexz::pack(o);
    Bytes file = read_file(output("a.hxz"));
    table_at = L::get_u64(file, 432);
    return file;
  }
};

TEST_F(HostileAttachment, AttachmentOffsetsThatWrapPast2To64AreRefusedOnOpen) {
  uint64_t table = 0;
  const Bytes good = pack_with_attachment(table);
  ASSERT_NO_THROW(open(good)->read_attachment("vmstate"));
  struct Case {
    size_t field;  ///< Offset in the first record.
    uint64_t value;
    bool wide;  ///< u64 field (else u32)
  };
  const Case cases[] = {
      {0, std::numeric_limits<uint64_t>::max() - 15, true},  // offset + length wraps
      {0, 0, true},                                          // inside the table itself
      {0, good.size(), true},                                // past the end of the file
      {8, std::numeric_limits<uint32_t>::max(), false},      // stored length past the end
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    Bytes bad = good;
    if (c.wide) {
      L::put_u64(bad, table + c.field, c.value);
    } else {
      for (int i = 0; i < 4; ++i)
        bad[table + c.field + i] = static_cast<uint8_t>(c.value >> (8 * i));
    }
    craft::reseal_attachment_table(bad);
    EXPECT_TRUE(
        ThrowsWith([&] { open(bad); }, ErrorCode::kCorrupt, "lies outside the attachment region"));
  }
}

TEST_F(HostileAttachment, AttachmentTableLocationThatWrapsIsRefusedBeforeAllocating) {
  uint64_t table = 0;
  Bytes bad = pack_with_attachment(table);
  L::put_u64(bad, 432, std::numeric_limits<uint64_t>::max() - 8);  // attach_offset
  L::fix_header_checksum(bad);
  EXPECT_TRUE(
      ThrowsWith([&] { open(bad); }, ErrorCode::kCorrupt, "invalid attachment table location"));
  Bytes huge = pack_with_attachment(table);
  for (int i = 0; i < 4; ++i) huge[440 + i] = 0xff;  // attach_length 4 GiB
  L::fix_header_checksum(huge);
  EXPECT_TRUE(
      ThrowsWith([&] { open(huge); }, ErrorCode::kCorrupt, "invalid attachment table location"));
}

TEST_F(HostileAttachment, AttachmentRecordsWithBadNamesSizesOrCountsAreRefused) {
  uint64_t table = 0;
  const Bytes good = pack_with_attachment(table);
  Bytes bad_name = good;
  bad_name[table + hexz::format::kAttachmentRecordFixed] = '/';
  craft::reseal_attachment_table(bad_name);
  EXPECT_TRUE(ThrowsWith([&] { open(bad_name); }, ErrorCode::kCorrupt, "has an invalid name"));
  Bytes too_big = good;
  for (int i = 0; i < 4; ++i) too_big[table + 12 + i] = 0xff;  // raw_length 4 GiB
  craft::reseal_attachment_table(too_big);
  EXPECT_TRUE(ThrowsWith([&] { open(too_big); }, ErrorCode::kCorrupt, "larger than 64 MiB"));
  Bytes bad_codec = good;
  bad_codec[table + 16] = 9;
  craft::reseal_attachment_table(bad_codec);
  EXPECT_TRUE(ThrowsWith([&] { open(bad_codec); }, ErrorCode::kCorrupt, "unknown codec"));
  Bytes count = good;
  count[444] = 2;  // two records claimed, one stored (the table is too short for two)
  L::fix_header_checksum(count);
  EXPECT_TRUE(
      ThrowsWith([&] { open(count); }, ErrorCode::kCorrupt, "invalid attachment table location"));
}

}  // namespace
}  // namespace hexz_test
