// The parallel pack pipeline gives byte-identical output for any thread count; the parallel
// read path (multi-block decode, readahead) returns the right bytes.
#include <gtest/gtest.h>

#include <thread>

#include "support/fixture.hpp"

namespace hexz_test {
namespace {

class ParallelTest : public HexzTest {
 protected:
  void SetUp() override {
    disk_ = make_disk_image(8 << 20, 21);
    mem_ = make_memory_image(4 << 20, disk_, 22);
    disk_path_ = input("d.img", disk_);
    mem_path_ = input("m.img", mem_);
  }
  Bytes disk_, mem_;
  std::string disk_path_, mem_path_;
};

TEST_F(ParallelTest, OutputIsIdenticalForAnyThreadCount) {
  struct Variant {
    const char* name;
    hexz::Codec codec;
    bool cdc;
    bool dict;
  };
  for (const Variant& v : {Variant{"lz4", hexz::Codec::kLz4, false, false},
                           Variant{"zstd-cdc", hexz::Codec::kZstd, true, false},
                           Variant{"zstd-dict", hexz::Codec::kZstd, false, true}}) {
    std::vector<Bytes> files;
    for (unsigned threads : {1u, 2u, 8u}) {
      auto o = options(disk_path_, mem_path_,
                       output(std::string(v.name) + std::to_string(threads) + ".hxz"));
      o.codec = v.codec;
      o.cdc = v.cdc;
      o.train_dictionary = v.dict;
      o.threads = threads;
      o.block_size = 16384;  // many blocks in flight
      hexz::pack(o);
      files.push_back(read_file(o.output_path));
    }
    EXPECT_EQ(files[0], files[1]) << v.name << ": 1 vs 2 threads";
    EXPECT_EQ(files[0], files[2]) << v.name << ": 1 vs 8 threads";
  }
}

TEST_F(ParallelTest, LargeAndSequentialReadsWithReadahead) {
  auto o = options(disk_path_, mem_path_, output("s.hxz"));
  o.block_size = 8192;
  hexz::pack(o);
  hexz::OpenOptions oo;
  oo.threads = 4;
  oo.readahead_bytes = 256 << 10;
  oo.block_cache_bytes = 1 << 20;  // small: readahead and eviction interleave
  auto snap = hexz::Snapshot::open(o.output_path, oo);
  // One read spanning the whole stream (parallel decode of every block).
  Bytes all(disk_.size());
  snap->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(all)));
  EXPECT_EQ(all, disk_);
  // Sequential 4 KiB + odd-sized reads from several threads, each over its own stream slice.
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      const Bytes& src = (t % 2 == 0) ? disk_ : mem_;
      const auto stream = (t % 2 == 0) ? hexz::Stream::kDisk : hexz::Stream::kMemory;
      const size_t step = 4096 + static_cast<size_t>(t) * 1000;
      Bytes buf(step);
      for (size_t off = 0; off < src.size(); off += step) {
        const size_t n = std::min(step, src.size() - off);
        snap->read(stream, off, std::as_writable_bytes(std::span(buf.data(), n)));
        if (!std::equal(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(n),
                        src.begin() + static_cast<ptrdiff_t>(off))) {
          ++bad;
          return;
        }
      }
    });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(ParallelTest, SingleThreadReaderWorks) {
  auto o = options(disk_path_, "", output("s.hxz"));
  hexz::pack(o);
  hexz::OpenOptions oo;
  oo.threads = 1;
  auto snap = hexz::Snapshot::open(o.output_path, oo);
  Bytes all(disk_.size());
  snap->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(all)));
  EXPECT_EQ(all, disk_);
}

}  // namespace
}  // namespace hexz_test
