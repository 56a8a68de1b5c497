// Opening bad files: not snapshots, truncated, corrupted at every kind of section, unknown
// versions and features. A damaged snapshot may fail to open or to read, but must never
// return wrong bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/fixture.hpp"
#include "support/layout.hpp"

#include <xxhash.h>

namespace hexz_test {
namespace {

using hexz::Codec;
using hexz::ErrorCode;
using hexz::Stream;
namespace L = layout;

class Corruption : public HexzTest {
 protected:
  void SetUp() override {
    // No duplicates, so each stored block belongs to one place in one stream: disk chunk i
    // (before the zero run) lives in the i/4-th 16 KiB block, the first one at offset 512.
    src_[0] = text_bytes(256u << 10, 1);
    append_zeros(src_[0], 64u << 10);
    Bytes more = text_bytes((256u << 10) + 100, 2);
    src_[0].insert(src_[0].end(), more.begin(), more.end());
    src_[1] = random_bytes(128u << 10, 3);
    more = text_bytes(200000, 4);
    src_[1].insert(src_[1].end(), more.begin(), more.end());
    auto opts = options(input("disk.img", src_[0]), input("mem.img", src_[1]), output("good.hxz"));
    opts.block_size = 16384;
    result_ = hexz::pack(opts);
    good_path_ = opts.output_path;
    good_ = read_file(good_path_);
    map_ = L::read_map(good_);
  }

  /// Writes `bytes` as a new snapshot file and returns its path.
  std::string write_variant(const std::string& name, const Bytes& bytes) const {
    std::string path = output(name);
    write_file(path, bytes);
    return path;
  }

  Bytes flipped(size_t at, uint8_t mask = 0x01) const {
    Bytes b = good_;
    b.at(at) ^= mask;
    return b;
  }

  ::testing::AssertionResult open_fails(const Bytes& bytes,
                                        std::initializer_list<ErrorCode> codes) const {
    std::string path = write_variant("bad.hxz", bytes);
    return ThrowsHexz([&] { hexz::Snapshot::open(path); }, codes);
  }

  /// Opens and reads every stream of a damaged file: each step either throws hexz::Error with
  /// one of `allowed` or returns exactly the original bytes. Returns how many steps threw.
  int never_wrong_bytes(const Bytes& bytes, std::initializer_list<ErrorCode> allowed,
                        std::string* first_error, bool* verify_ok) const {
    std::string path = write_variant("damaged.hxz", bytes);
    int failures = 0;
    std::unique_ptr<hexz::Snapshot> snap;
    auto allowed_code = [&](ErrorCode c) {
      return std::find(allowed.begin(), allowed.end(), c) != allowed.end();
    };
    try {
      snap = hexz::Snapshot::open(path);
    } catch (const hexz::Error& e) {
      EXPECT_TRUE(allowed_code(e.code()))
          << "open threw " << hexz::error_code_name(e.code()) << ": " << e.what();
      if (first_error) *first_error = e.what();
      return 1;
    }
    for (int s = 0; s < 2; ++s) {
      const auto stream = static_cast<Stream>(s);
      try {
        EXPECT_EQ(snap->size(stream), src_[s].size());
        Bytes back = read_stream(*snap, stream, 16384);
        EXPECT_EQ(first_difference(back, src_[s]), -1)
            << hexz::stream_name(stream) << " read back wrong bytes";
      } catch (const hexz::Error& e) {
        ++failures;
        EXPECT_TRUE(allowed_code(e.code()))
            << "read threw " << hexz::error_code_name(e.code()) << ": " << e.what();
        if (first_error && first_error->empty()) *first_error = e.what();
      }
    }
    hexz::VerifyReport report;
    EXPECT_NO_THROW(report = snap->verify());
    if (verify_ok) *verify_ok = report.ok;
    if (failures > 0) {
      EXPECT_FALSE(report.ok) << "reads failed but verify() says the file is fine";
    }
    if (!report.ok) {
      EXPECT_FALSE(report.first_error.empty());
    }
    return failures;
  }

  Bytes src_[2];
  hexz::PackResult result_;
  std::string good_path_;
  Bytes good_;
  L::Map map_;
};

TEST_F(Corruption, LayoutMatchesExpectations) {
  ASSERT_EQ(good_.size(), map_.file_size);
  const Bytes magic = {0x89, 'H', 'X', 'Z', '\r', '\n', 0x1A, '\n'};
  EXPECT_EQ(Bytes(good_.begin(), good_.begin() + 8), magic);
  EXPECT_EQ(L::get_u64(good_, L::kHeaderChecksum), XXH3_64bits(good_.data(), L::kHeaderChecksum));
  EXPECT_EQ(L::get_u16(good_, L::kVersionMajor), hexz::kFormatVersionMajor);
  EXPECT_GE(map_.tail_offset, L::kHeaderSize);
  EXPECT_EQ(map_.master_offset + map_.master_length, map_.file_size);
  EXPECT_EQ(map_.master_length, uint64_t{map_.page_count} * L::kMasterEntrySize);
  ASSERT_GE(map_.page_count, 2u);  // one page per stream at least
  for (const auto& p : map_.pages) {
    EXPECT_GT(p.offset, L::kFirstBlockOffset);
    EXPECT_LE(p.offset + p.stored_length, map_.tail_offset);
  }
}

// --- Not a snapshot ------------------------------------------------------------------------

TEST_F(Corruption, MissingFile) {
  EXPECT_TRUE(
      ThrowsHexz([&] { hexz::Snapshot::open(output("nope.hxz")); }, {ErrorCode::kNotFound}));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::Snapshot::open(out_dir() + "/no/such/dir/x.hxz"); },
                         {ErrorCode::kNotFound}));
}

TEST_F(Corruption, DirectoryIsNotASnapshot) {
  EXPECT_TRUE(ThrowsHexz([&] { hexz::Snapshot::open(out_dir()); },
                         {ErrorCode::kInvalidArgument, ErrorCode::kIo, ErrorCode::kNotASnapshot}));
}

TEST_F(Corruption, EmptyFile) {
  EXPECT_TRUE(open_fails({}, {ErrorCode::kNotASnapshot, ErrorCode::kTruncated}));
}

TEST_F(Corruption, OtherFilesAreNotSnapshots) {
  EXPECT_TRUE(
      open_fails({'h', 'e', 'l', 'l', 'o'}, {ErrorCode::kNotASnapshot, ErrorCode::kTruncated}));
  EXPECT_TRUE(open_fails(random_bytes(4096, 1), {ErrorCode::kNotASnapshot}));
  EXPECT_TRUE(open_fails(Bytes(4096, 0), {ErrorCode::kNotASnapshot}));
  EXPECT_TRUE(open_fails(text_bytes(100000, 2), {ErrorCode::kNotASnapshot}));
  // A raw disk image is not a snapshot either.
  EXPECT_TRUE(open_fails(src_[0], {ErrorCode::kNotASnapshot}));
}

TEST_F(Corruption, DamagedMagic) {
  for (size_t at : {0u, 1u, 3u, 7u}) {
    EXPECT_TRUE(open_fails(flipped(at, 0x20), {ErrorCode::kNotASnapshot})) << "byte " << at;
  }
}

// --- Truncation ----------------------------------------------------------------------------

TEST_F(Corruption, TruncatedHeader) {
  EXPECT_TRUE(open_fails(Bytes(good_.begin(), good_.begin() + 4),
                         {ErrorCode::kNotASnapshot, ErrorCode::kTruncated}));
  for (size_t cut : {8u, 9u, 100u, 300u, 504u, 511u}) {
    EXPECT_TRUE(open_fails(Bytes(good_.begin(), good_.begin() + static_cast<long>(cut)),
                           {ErrorCode::kTruncated}))
        << "cut at " << cut;
  }
}

TEST_F(Corruption, TruncatedBody) {
  std::vector<uint64_t> cuts = {512,
                                513,
                                4096,
                                map_.file_size / 2,
                                map_.pages[0].offset,
                                map_.pages[0].offset + 1,
                                map_.tail_offset,
                                map_.master_offset + 1,
                                map_.file_size - L::kMasterEntrySize,
                                map_.file_size - 1};
  for (uint64_t cut : cuts) {
    EXPECT_TRUE(open_fails(Bytes(good_.begin(), good_.begin() + static_cast<long>(cut)),
                           {ErrorCode::kTruncated}))
        << "cut at " << cut << " of " << map_.file_size;
  }
}

TEST_F(Corruption, TrailingGarbageIsDetectedOrHarmless) {
  Bytes longer = good_;
  longer.insert(longer.end(), 4096, 0xEE);
  never_wrong_bytes(longer, {ErrorCode::kCorrupt, ErrorCode::kTruncated}, nullptr, nullptr);
}

// --- Damaged header ------------------------------------------------------------------------

TEST_F(Corruption, FlippedHeaderByteIsCorrupt) {
  for (size_t at :
       {8u,   9u,   10u,  12u,  16u,  24u,  32u,  33u,  41u,  42u,  44u,  56u,  64u,  95u, 96u,
        104u, 112u, 120u, 128u, 136u, 150u, 192u, 200u, 256u, 300u, 400u, 503u, 504u, 511u}) {
    EXPECT_TRUE(open_fails(flipped(at), {ErrorCode::kCorrupt})) << "header byte " << at;
  }
}

TEST_F(Corruption, NewerMajorVersionIsUnsupported) {
  Bytes b = good_;
  L::put_u16(b, L::kVersionMajor, static_cast<uint16_t>(hexz::kFormatVersionMajor + 1));
  L::fix_header_checksum(b);
  std::string path = write_variant("v2.hxz", b);
  try {
    hexz::Snapshot::open(path);
    ADD_FAILURE() << "a format " << hexz::kFormatVersionMajor + 1 << " file was opened";
  } catch (const hexz::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
  }
}

TEST_F(Corruption, UnknownRequiredFeatureIsUnsupported) {
  for (uint64_t bit : {uint64_t{1} << 20, uint64_t{1} << 40, uint64_t{1} << 63}) {
    Bytes b = good_;
    L::put_u64(b, L::kRequiredFeatures, L::get_u64(b, L::kRequiredFeatures) | bit);
    L::fix_header_checksum(b);
    std::string path = write_variant("feature.hxz", b);
    try {
      hexz::Snapshot::open(path);
      ADD_FAILURE() << "opened a file with required feature bit 0x" << std::hex << bit;
    } catch (const hexz::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
      EXPECT_NE(std::string(e.what()).find("feature"), std::string::npos) << e.what();
    }
  }
}

TEST_F(Corruption, UnknownOptionalFeatureIsIgnored) {
  Bytes b = good_;
  L::put_u64(b, L::kOptionalFeatures, L::get_u64(b, L::kOptionalFeatures) | (uint64_t{1} << 41));
  L::fix_header_checksum(b);
  std::string path = write_variant("optional.hxz", b);
  std::unique_ptr<hexz::Snapshot> snap;
  ASSERT_NO_THROW(snap = hexz::Snapshot::open(path));
  EXPECT_EQ(snap->info().optional_features & (uint64_t{1} << 41), uint64_t{1} << 41);
  EXPECT_EQ(first_difference(read_stream(*snap, Stream::kDisk), src_[0]), -1);
}

TEST_F(Corruption, HeaderFieldEditsWithAValidChecksumAreCaught) {
  // A consistent-looking but wrong location: detected by structure checks or section checksums.
  const size_t fields[] = {L::kTailOffset, L::kMasterOffset, L::kMasterLength, L::kFileSize};
  for (size_t field : fields) {
    for (int64_t delta : {-40, -1, 1, 40}) {
      Bytes b = good_;
      L::put_u64(b, field, L::get_u64(b, field) + static_cast<uint64_t>(delta));
      L::fix_header_checksum(b);
      SCOPED_TRACE("field at " + std::to_string(field) + " delta " + std::to_string(delta));
      never_wrong_bytes(b, {ErrorCode::kCorrupt, ErrorCode::kTruncated}, nullptr, nullptr);
    }
  }
  // Stream sizes: claiming more bytes than the index holds must not read garbage.
  Bytes b = good_;
  L::put_u64(b, L::kStreamTable, L::get_u64(b, L::kStreamTable) + 4096);
  L::fix_header_checksum(b);
  std::string path = write_variant("size.hxz", b);
  try {
    auto snap = hexz::Snapshot::open(path);
    Bytes tail(4096);
    EXPECT_TRUE(ThrowsHexz(
        [&] { snap->read(Stream::kDisk, src_[0].size(), std::as_writable_bytes(std::span(tail))); },
        {ErrorCode::kCorrupt}));
  } catch (const hexz::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
  }
}

// --- Damaged master index, index pages, data blocks ------------------------------------------

TEST_F(Corruption, FlippedMasterIndexByteIsCorruptAtOpen) {
  for (uint64_t rel : {0ull, 1ull, 8ull, 12ull, 16ull, 24ull, 28ull, 29ull, 32ull, 39ull, 40ull}) {
    if (rel >= map_.master_length) continue;
    EXPECT_TRUE(open_fails(flipped(map_.master_offset + rel), {ErrorCode::kCorrupt}))
        << "master byte " << rel;
  }
  EXPECT_TRUE(open_fails(flipped(map_.file_size - 1), {ErrorCode::kCorrupt}));
}

TEST_F(Corruption, FlippedIndexPageByteFailsReadsAndVerify) {
  const auto& page = map_.pages[0];
  for (uint64_t rel :
       {uint64_t{0}, uint64_t{page.stored_length / 2}, uint64_t{page.stored_length - 1}}) {
    SCOPED_TRACE("page byte " + std::to_string(rel));
    std::string err;
    bool ok = true;
    int failures = never_wrong_bytes(flipped(page.offset + rel), {ErrorCode::kCorrupt}, &err, &ok);
    EXPECT_GE(failures, 1) << "a damaged index page went unnoticed";
    EXPECT_FALSE(ok);
    EXPECT_NE(err.find("page"), std::string::npos) << err;
  }
}

TEST_F(Corruption, FlippedDataByteFailsOnlyThatBlock) {
  for (uint64_t rel : {uint64_t{0}, uint64_t{100}, uint64_t{2000}}) {
    SCOPED_TRACE("block byte " + std::to_string(rel));
    std::string path = write_variant("block.hxz", flipped(L::kFirstBlockOffset + rel));
    auto snap = hexz::Snapshot::open(path);  // Blocks are checked when read, not at open.
    Bytes buf(100);
    // The first disk chunk lives in the damaged block.
    EXPECT_TRUE(
        ThrowsHexz([&] { snap->read(Stream::kDisk, 0, std::as_writable_bytes(std::span(buf))); },
                   {ErrorCode::kCorrupt}));
    EXPECT_TRUE(ThrowsHexz([&] { read_stream(*snap, Stream::kDisk); }, {ErrorCode::kCorrupt}));
    // Other blocks still read correctly: the second 16 KiB block onwards, and all of memory.
    EXPECT_EQ(read_range(*snap, Stream::kDisk, 16384, 100000),
              Bytes(src_[0].begin() + 16384, src_[0].begin() + 116384));
    EXPECT_EQ(first_difference(read_stream(*snap, Stream::kMemory), src_[1]), -1);
    // Still failing on a second attempt (nothing bad was cached).
    EXPECT_TRUE(
        ThrowsHexz([&] { snap->read(Stream::kDisk, 10, std::as_writable_bytes(std::span(buf))); },
                   {ErrorCode::kCorrupt}));
    hexz::VerifyReport report = snap->verify();
    EXPECT_FALSE(report.ok);
    EXPECT_NE(report.first_error.find("block"), std::string::npos) << report.first_error;
    EXPECT_NE(report.first_error.find("512"), std::string::npos)
        << "verify should name the bad block (at file offset 512): " << report.first_error;
  }
}

TEST_F(Corruption, FlippedByteInLastMemoryBlock) {
  // The last data block before the first index page of the memory stream.
  const uint64_t at = map_.pages[1].offset - 10;
  std::string err;
  bool ok = true;
  int failures = never_wrong_bytes(flipped(at), {ErrorCode::kCorrupt}, &err, &ok);
  EXPECT_GE(failures, 1);
  EXPECT_FALSE(ok);
}

TEST_F(Corruption, SweepOfSingleByteFlipsNeverReturnsWrongBytes) {
  // About 60 bytes spread over the whole file (header, blocks, pages, master), one at a time.
  int detected = 0, total = 0;
  const uint64_t step = good_.size() / 60 | 1;
  std::vector<uint64_t> positions = {L::kHeaderChecksum, map_.pages[0].offset + 3,
                                     map_.master_offset + 2};
  for (uint64_t at = 5; at < good_.size(); at += step) positions.push_back(at);
  for (uint64_t at : positions) {
    SCOPED_TRACE("flipped byte " + std::to_string(at));
    bool ok = true;
    int failures = never_wrong_bytes(flipped(at, 0x10),
                                     {ErrorCode::kCorrupt, ErrorCode::kTruncated,
                                      ErrorCode::kNotASnapshot, ErrorCode::kUnsupported},
                                     nullptr, &ok);
    ++total;
    if (failures > 0 || !ok) ++detected;
    if (HasFailure()) break;
  }
  // Everything in the file is covered by some checksum.
  EXPECT_EQ(detected, total);
}

// --- verify() ------------------------------------------------------------------------------

TEST_F(Corruption, VerifyReportsOkOnAGoodFile) {
  auto snap = hexz::Snapshot::open(good_path_);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  hexz::VerifyReport report =
      snap->verify([&](uint64_t d, uint64_t t) { calls.emplace_back(d, t); });
  EXPECT_TRUE(report.ok) << report.first_error;
  EXPECT_TRUE(report.first_error.empty());
  EXPECT_EQ(report.blocks_checked, result_.streams[0].blocks + result_.streams[1].blocks);
  const uint64_t chunks = result_.streams[0].chunks + result_.streams[1].chunks;
  const uint64_t zero = result_.streams[0].zero_chunks + result_.streams[1].zero_chunks;
  EXPECT_GE(report.chunks_checked, chunks - zero);
  EXPECT_LE(report.chunks_checked, chunks);
  ASSERT_FALSE(calls.empty());
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GE(calls[i].first, calls[i - 1].first);
  }
  EXPECT_EQ(calls.back().first, calls.back().second);
}

}  // namespace
}  // namespace hexz_test
