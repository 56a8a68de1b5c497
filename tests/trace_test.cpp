// Boot traces (FORMAT.md section 10.7): the codec and its checks, recording the order reads
// first need pages and blocks, storing a trace in a snapshot, and replaying it as prefetch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "hexz/attachments.hpp"
#include "hexz/hexz.hpp"
#include "read/trace_prefetcher.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::ErrorCode;
using hexz::Stream;
using hexz::TraceEvent;

constexpr const char* kPassword = "trace test password";
constexpr uint64_t kImageSize = 4 << 20;
constexpr uint64_t kBlockSize = 64 << 10;

/// Reads at the start of these 64 KiB blocks of a random image, in this (scattered) order:
/// each read needs one block of its own.
const std::vector<uint64_t> kPattern = {37, 3, 50, 12, 8, 61, 0, 25, 44, 19, 33, 7};

class TraceTest : public HexzTest {
 protected:
  std::string pack(const std::string& name, bool encrypt = false, uint64_t seed = 9) {
    auto o =
        options(input(name + ".img", hexz_test::random_bytes(kImageSize, seed)), "", output(name));
    o.threads = 1;
    o.force = true;
    if (encrypt) {
      o.encrypt = true;
      o.password = kPassword;
      o.kdf_iterations = 1;
      o.kdf_memory_kib = hexz::kMinKdfMemoryKib;
      o.kdf_parallelism = 1;
    }
    hexz::pack(o);
    return output(name);
  }

  /// Reads kPattern (4 KiB at the start of each block) and checks the bytes.
  static void read_pattern(const hexz::Snapshot& s, const Bytes& image) {
    std::vector<std::byte> buf(4096);
    for (uint64_t b : kPattern) {
      s.read(Stream::kDisk, b * kBlockSize, buf);
      ASSERT_EQ(0, std::memcmp(buf.data(), image.data() + b * kBlockSize, buf.size())) << b;
    }
  }

  /// Records a trace of kPattern on `path`.
  static std::vector<std::byte> record(const std::string& path, const Bytes& image,
                                       const std::string& password = "") {
    hexz::OpenOptions o;
    o.record_trace = true;
    o.threads = 1;
    o.password = password;
    const auto s = hexz::Snapshot::open(path, o);
    read_pattern(*s, image);
    return s->recorded_trace();
  }
};

TEST_F(TraceTest, CodecRoundTripsEveryField) {
  hexz::Trace t;
  for (size_t i = 0; i < 32; ++i) t.index_digest[i] = static_cast<unsigned char>(i * 7);
  TraceEvent page;
  page.kind = TraceEvent::Kind::kIndexPage;
  page.stream = Stream::kMemory;
  page.time_ms = 3;
  page.logical_offset = 1 << 20;
  page.page = 17;
  TraceEvent block;
  block.kind = TraceEvent::Kind::kBlock;
  block.time_ms = 9;
  block.logical_offset = 123456789;
  block.source = 2;
  block.file_offset = 987654321;
  block.stored_length = 40000;
  block.raw_length = 65536;
  block.checksum = 0x0123456789abcdefull;
  block.codec = hexz::Codec::kZstd;
  t.events = {page, block};
  const auto bytes = hexz::encode_trace(t);
  EXPECT_EQ(bytes.size(), 64u + 2 * 40 + 8);
  const hexz::Trace back = hexz::decode_trace(bytes, "t");
  EXPECT_EQ(back.index_digest, t.index_digest);
  ASSERT_EQ(back.events.size(), 2u);
  EXPECT_EQ(back.events[0].kind, TraceEvent::Kind::kIndexPage);
  EXPECT_EQ(back.events[0].stream, Stream::kMemory);
  EXPECT_EQ(back.events[0].page, 17u);
  EXPECT_EQ(back.events[0].logical_offset, 1u << 20);
  EXPECT_EQ(back.events[1].source, 2);
  EXPECT_EQ(back.events[1].file_offset, 987654321u);
  EXPECT_EQ(back.events[1].stored_length, 40000u);
  EXPECT_EQ(back.events[1].raw_length, 65536u);
  EXPECT_EQ(back.events[1].checksum, 0x0123456789abcdefull);
  EXPECT_EQ(back.events[1].codec, hexz::Codec::kZstd);
  EXPECT_EQ(back.events[1].time_ms, 9u);
  const auto s = hexz::summarize_trace(back);
  EXPECT_EQ(s.index_pages, 1u);
  EXPECT_EQ(s.blocks, 1u);
  EXPECT_EQ(s.stored_bytes, 40000u);
  EXPECT_EQ(s.duration_ms, 9u);
}

TEST_F(TraceTest, DamagedTracesAreRefused) {
  hexz::Trace t;
  TraceEvent e;
  e.stored_length = e.raw_length = 10;
  t.events = {e, e};
  const auto good = hexz::encode_trace(t);
  auto flipped = good;
  flipped[70] ^= std::byte{1};
  EXPECT_TRUE(
      ThrowsWith([&] { hexz::decode_trace(flipped, "x"); }, ErrorCode::kCorrupt, "checksum"));
  auto cut = good;
  cut.resize(cut.size() - 9);
  EXPECT_TRUE(ThrowsWith([&] { hexz::decode_trace(cut, "x"); }, ErrorCode::kCorrupt, "size"));
  auto magic = good;
  magic[0] = std::byte{'Y'};
  EXPECT_TRUE(ThrowsWith([&] { hexz::decode_trace(magic, "x"); }, ErrorCode::kCorrupt, "magic"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::decode_trace({}, "x"); }, ErrorCode::kCorrupt, "magic"));
  // A newer version is refused as unsupported (its checksum is right).
  hexz::Trace none;
  auto v2 = hexz::encode_trace(none);
  v2[8] = std::byte{2};
  EXPECT_TRUE(ThrowsHexz([&] { hexz::decode_trace(v2, "x"); }, {ErrorCode::kUnsupported}));
  // An unknown kind, with a correct checksum, is still refused.
  hexz::Trace odd;
  odd.events = {e};
  odd.events[0].kind = static_cast<TraceEvent::Kind>(7);
  EXPECT_TRUE(ThrowsWith([&] { hexz::decode_trace(hexz::encode_trace(odd), "x"); },
                         ErrorCode::kCorrupt, "kind"));
}

TEST_F(TraceTest, RecordingListsPagesAndBlocksInTheOrderFirstNeeded) {
  const auto image = hexz_test::random_bytes(kImageSize, 9);
  const std::string snap = pack("a");
  const auto bytes = record(snap, image);
  const hexz::Trace t = hexz::decode_trace(bytes, "recorded");
  std::vector<uint64_t> block_offsets;
  size_t pages = 0;
  for (const auto& e : t.events) {
    if (e.kind == TraceEvent::Kind::kIndexPage) {
      ++pages;
      EXPECT_TRUE(block_offsets.empty()) << "the page comes before the first block";
    } else {
      block_offsets.push_back(e.logical_offset / kBlockSize);
      EXPECT_GT(e.stored_length, 0u);
    }
  }
  EXPECT_EQ(pages, 1u);  // a 4 MiB image has one index page
  EXPECT_EQ(block_offsets, kPattern);
  // Reading the same blocks again adds nothing: only first uses are recorded.
  hexz::OpenOptions o;
  o.record_trace = true;
  const auto s = hexz::Snapshot::open(snap, o);
  read_pattern(*s, image);
  read_pattern(*s, image);
  EXPECT_EQ(hexz::decode_trace(s->recorded_trace(), "again").events.size(), t.events.size());
  // Without record_trace there is nothing to give.
  const auto plain = hexz::Snapshot::open(snap);
  EXPECT_TRUE(ThrowsHexz([&] { plain->recorded_trace(); }, {ErrorCode::kInvalidArgument}));
}

TEST_F(TraceTest, ReplayPrefetchesTheTracedBlocksSoReadsDoNotMiss) {
  const auto image = hexz_test::random_bytes(kImageSize, 9);
  const std::string snap = pack("a");
  const auto trace = record(snap, image);
  const auto before = read_file(snap);
  hexz::add_trace(snap, trace);
  {
    // The data region is untouched: only the tail and the header change.
    const auto after = read_file(snap);
    ASSERT_GT(after.size(), before.size());
  }
  const auto info = hexz::Snapshot::open(snap)->attachments();
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].name, hexz::kTraceAttachmentName);

  const auto replay = hexz::Snapshot::open(snap);
  replay->wait_for_prefetch();
  auto st = replay->stats();
  EXPECT_TRUE(st.prefetch_done);
  EXPECT_EQ(st.trace_error, "");
  EXPECT_EQ(st.trace_events, kPattern.size() + 1);
  EXPECT_EQ(st.prefetched_blocks, kPattern.size());
  EXPECT_EQ(st.prefetched_pages, 1u);
  EXPECT_GT(st.prefetched_unused_bytes, 0u);
  read_pattern(*replay, image);
  st = replay->stats();
  EXPECT_EQ(st.demand_block_misses, 0u);
  EXPECT_EQ(st.demand_page_misses, 0u);
  EXPECT_EQ(st.prefetched_unused_bytes, 0u);  // every prefetched block was used

  // prefetch = false: the same reads all miss.
  hexz::OpenOptions off;
  off.prefetch = false;
  off.threads = 1;
  const auto cold = hexz::Snapshot::open(snap, off);
  read_pattern(*cold, image);
  st = cold->stats();
  EXPECT_EQ(st.demand_block_misses, kPattern.size());
  EXPECT_EQ(st.demand_page_misses, 1u);
  EXPECT_EQ(st.prefetched_blocks, 0u);

  // Removing the trace leaves a snapshot that reads the same, without prefetch.
  hexz::remove_trace(snap);
  const auto gone = hexz::Snapshot::open(snap);
  EXPECT_TRUE(gone->attachments().empty());
  EXPECT_EQ(gone->stats().trace_events, 0u);
  read_pattern(*gone, image);
  EXPECT_TRUE(ThrowsHexz([&] { hexz::remove_trace(snap); }, {ErrorCode::kNotFound}));
}

TEST_F(TraceTest, ATraceOfAnotherSnapshotOrADamagedOneIsRefusedByAddTrace) {
  const auto image = hexz_test::random_bytes(kImageSize, 9);
  const std::string a = pack("a");
  const std::string b = pack("b", false, 10);
  const auto trace = record(a, image);
  EXPECT_TRUE(ThrowsWith([&] { hexz::add_trace(b, trace); }, ErrorCode::kInvalidArgument,
                         "another snapshot"));
  auto damaged = trace;
  damaged[80] ^= std::byte{0x40};
  EXPECT_TRUE(ThrowsWith([&] { hexz::add_trace(a, damaged); }, ErrorCode::kCorrupt, "checksum"));
  EXPECT_TRUE(hexz::Snapshot::open(a)->attachments().empty());
}

TEST_F(TraceTest, ADamagedStoredTraceIsIgnoredAndTheSnapshotStillReads) {
  const auto image = hexz_test::random_bytes(kImageSize, 9);
  const std::string snap = pack("a");
  auto trace = record(snap, image);
  trace[90] ^= std::byte{1};  // stored as a raw attachment, bypassing add_trace's check
  hexz::add_attachment(snap, hexz::kTraceAttachmentName, trace);
  const auto s = hexz::Snapshot::open(snap);
  const auto st = s->stats();
  EXPECT_NE(st.trace_error.find("checksum"), std::string::npos) << st.trace_error;
  EXPECT_EQ(st.prefetched_blocks, 0u);
  read_pattern(*s, image);
}

TEST_F(TraceTest, AnEncryptedSnapshotsTraceIsSealedWithIt) {
  const auto image = hexz_test::random_bytes(kImageSize, 9);
  const std::string snap = pack("e", true);
  const auto trace = record(snap, image, kPassword);
  hexz::AttachOptions ao;
  ao.open.password = kPassword;
  EXPECT_TRUE(ThrowsHexz([&] { hexz::add_trace(snap, trace); }, {ErrorCode::kWrongPassword}));
  hexz::add_trace(snap, trace, ao);
  // The trace's plaintext (its magic and its block offsets) is nowhere in the file.
  const auto file = read_file(snap);
  const std::string magic = "HXZTRACE";
  EXPECT_EQ(std::search(file.begin(), file.end(), magic.begin(), magic.end()), file.end());
  EXPECT_TRUE(ThrowsHexz([&] { hexz::Snapshot::open(snap); }, {ErrorCode::kWrongPassword}));
  hexz::OpenOptions o;
  o.password = kPassword;
  const auto s = hexz::Snapshot::open(snap, o);
  s->wait_for_prefetch();
  EXPECT_EQ(s->stats().prefetched_blocks, kPattern.size());
  read_pattern(*s, image);
  EXPECT_EQ(s->stats().demand_block_misses, 0u);
}

TEST_F(TraceTest, PreloadIndexLoadsEveryPageInTheBackground) {
  // 24 MiB of 4 KiB chunks: several index pages.
  auto o = options(input("big.img", hexz_test::random_bytes(24 << 20, 4)), "", output("big"));
  o.threads = 1;
  hexz::pack(o);
  hexz::OpenOptions ro;
  ro.preload_index = true;
  const auto s = hexz::Snapshot::open(output("big"), ro);
  s->wait_for_prefetch();
  const auto info = s->info();
  ASSERT_GT(info.index_pages, 1u);
  EXPECT_EQ(s->stats().prefetched_pages, info.index_pages);
  std::vector<std::byte> buf(4096);
  s->read(Stream::kDisk, 20 << 20, buf);
  EXPECT_EQ(s->stats().demand_page_misses, 0u);
}

TEST(PlanPrefetch, KeepsTraceOrderAcrossBatchesAndCoalescesNeighboursWithinOne) {
  using hexz::read::PrefetchItem;
  const auto item = [](uint64_t offset, uint64_t length) {
    PrefetchItem i;
    i.offset = offset;
    i.length = length;
    return i;
  };
  // Batches of one item: one request per item, in trace order.
  const std::vector<PrefetchItem> items = {item(900, 10), item(100, 10), item(500, 10),
                                           item(115, 10)};
  auto jobs = hexz::read::plan_prefetch(items, 0, 0, 1 << 20);
  ASSERT_EQ(jobs.size(), 4u);
  EXPECT_EQ(jobs[0].offset, 900u);
  EXPECT_EQ(jobs[1].offset, 100u);
  EXPECT_EQ(jobs[2].offset, 500u);
  EXPECT_EQ(jobs[3].offset, 115u);
  // One batch, gaps up to 10 bytes coalesce: [100,125) joins, 500 and 900 stand alone; the
  // job holding the first-needed item (900) goes first.
  jobs = hexz::read::plan_prefetch(items, 1 << 20, 10, 1 << 20);
  ASSERT_EQ(jobs.size(), 3u);
  EXPECT_EQ(jobs[0].offset, 900u);
  EXPECT_EQ(jobs[1].offset, 100u);
  EXPECT_EQ(jobs[1].length, 25u);
  EXPECT_EQ(jobs[1].items.size(), 2u);
  EXPECT_EQ(jobs[2].offset, 500u);
  // A request never grows past max_request.
  jobs = hexz::read::plan_prefetch(items, 1 << 20, 10, 20);
  EXPECT_EQ(jobs.size(), 4u);
}

}  // namespace
}  // namespace hexz_test
