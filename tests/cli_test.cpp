// The `hexz` command-line program, run as a separate process.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "support/cli_checks.hpp"
#include "support/fixture.hpp"
#include "support/json.hpp"
#include "support/layout.hpp"
#include "support/process.hpp"

#ifndef HEXZ_CLI_PATH
#error "HEXZ_CLI_PATH must name the hexz binary"
#endif

namespace hexz_test {
namespace {

using hexz::Stream;

class Cli : public HexzTest {
 protected:
  ProcessResult hexz(std::vector<std::string> args, const RunOptions& ro = {}) const {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    return run_process(args, ro);
  }

  static ::testing::AssertionResult is_error(const ProcessResult& r,
                                             const std::string& must_contain = "") {
    return is_cli_error(r, must_contain);
  }
  static ::testing::AssertionResult ok(const ProcessResult& r) { return exited_ok(r); }

  /// Packs disk+memory images with the CLI; returns the snapshot path.
  std::string cli_pack(const Bytes& disk, const Bytes& memory,
                       std::vector<std::string> extra = {}) {
    std::string out = output("snap.hxz");
    std::vector<std::string> args = {
        "pack", "--disk", input("disk.img", disk), "--memory", input("mem.img", memory), "-o",
        out,    "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = hexz(args);
    EXPECT_TRUE(ok(r));
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err, "") << "-q should print nothing";
    return out;
  }
};

// --- Round trip ----------------------------------------------------------------------------

TEST_F(Cli, PackInfoCatExtractVerifyRoundTrip) {
  Bytes disk = make_disk_image((1u << 20) + 4321, 31);
  Bytes memory = make_memory_image((512u << 10) + 12, disk, 32);
  std::string snap = cli_pack(
      disk, memory,
      {"--compression", "zstd", "--level", "5", "--chunk-size", "4K", "--block-size", "32K"});
  ASSERT_TRUE(fs::exists(snap));

  // The library agrees with what the CLI packed.
  auto s = hexz::Snapshot::open(snap);
  hexz::SnapshotInfo info = s->info();
  EXPECT_EQ(info.codec, hexz::Codec::kZstd);
  EXPECT_EQ(info.level, 5);
  EXPECT_EQ(info.chunk_size, 4096u);
  EXPECT_EQ(info.block_size, 32768u);
  EXPECT_EQ(read_stream(*s, Stream::kDisk), disk);

  // info (text)
  ProcessResult r = hexz({"info", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("zstd"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("disk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("memory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(info.identity_hex), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::to_string(disk.size())), std::string::npos) << r.out;

  // info --json
  r = hexz({"info", "--json", snap});
  ASSERT_TRUE(ok(r));
  Json j;
  ASSERT_NO_THROW(j = parse_json(r.out)) << r.out;
  EXPECT_EQ(j["codec"].text, "zstd");
  EXPECT_EQ(j["level"].u64(), 5u);
  EXPECT_EQ(j["chunk_size"].u64(), 4096u);
  EXPECT_EQ(j["block_size"].u64(), 32768u);
  EXPECT_EQ(j["file_size"].u64(), fs::file_size(snap));
  EXPECT_EQ(j["identity"].text, info.identity_hex);
  EXPECT_EQ(j["format_version"].text, "1.0");
  const Json& streams = j["streams"];
  for (int i = 0; i < 2; ++i) {
    const char* name = hexz::stream_name(static_cast<Stream>(i));
    SCOPED_TRACE(name);
    ASSERT_TRUE(streams.has(name)) << r.out;
    const Json& st = streams[name];
    EXPECT_EQ(st["logical_size"].u64(), info.streams[i].logical_size);
    EXPECT_EQ(st["chunks"].u64(), info.streams[i].chunks);
    EXPECT_EQ(st["zero_chunks"].u64(), info.streams[i].zero_chunks);
    EXPECT_EQ(st["duplicate_chunks"].u64(), info.streams[i].dup_chunks);
    EXPECT_EQ(st["stored_bytes"].u64(), info.streams[i].stored_bytes);
  }
  EXPECT_EQ(streams["disk"]["logical_size"].u64(), disk.size());
  EXPECT_GT(streams["memory"]["duplicate_chunks"].u64(), 0u);

  // cat: whole streams and ranges (sizes with suffixes).
  r = hexz({"cat", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(first_difference(Bytes(r.out.begin(), r.out.end()), disk), -1)
      << "cat of the disk stream differs";
  r = hexz({"cat", snap, "--stream", "memory"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(first_difference(Bytes(r.out.begin(), r.out.end()), memory), -1);
  r = hexz({"cat", snap, "--stream", "memory", "--offset", "12345", "--length", "100000"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()),
            Bytes(memory.begin() + 12345, memory.begin() + 112345));
  r = hexz({"cat", snap, "--stream", "disk", "--offset", "64K", "--length", "1K"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()),
            Bytes(disk.begin() + 65536, disk.begin() + 65536 + 1024));
  r = hexz({"cat", snap, "--offset", std::to_string(disk.size() - 10)});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), Bytes(disk.end() - 10, disk.end()));
  r = hexz({"cat", snap, "--offset", std::to_string(disk.size()), "--length", "0"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r.out, "");

  // extract
  std::string xd = output("disk.out");
  std::string xm = output("mem.out");
  r = hexz({"extract", snap, "--disk", xd, "--memory", xm, "-q"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(first_difference(read_file(xd), disk), -1);
  EXPECT_EQ(first_difference(read_file(xm), memory), -1);

  // verify
  r = hexz({"verify", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("OK"), std::string::npos) << r.out;
  r = hexz({"verify", "-q", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r.out, "");
}

TEST_F(Cli, DataPackAliasProducesTheSameFile) {
  Bytes disk = make_disk_image(600000, 41);
  Bytes memory = make_memory_image(300000, disk, 42);
  std::string d = input("disk.img", disk);
  std::string m = input("mem.img", memory);
  ProcessResult a = hexz({"pack", "--disk", d, "--memory", m, "-o", output("a.hxz"), "-q"});
  ProcessResult b = hexz({"data", "pack", "--disk", d, "--memory", m, "-o", output("b.hxz"), "-q"});
  ASSERT_TRUE(ok(a));
  ASSERT_TRUE(ok(b));
  EXPECT_TRUE(files_equal(output("a.hxz"), output("b.hxz")));
  // And the CLI writes what the library writes.
  auto opts = options(d, m, output("lib.hxz"));
  hexz::pack(opts);
  EXPECT_TRUE(files_equal(output("a.hxz"), output("lib.hxz")));
}

TEST_F(Cli, PackSummaryWithoutQuietAndNoProgressBarWhenNotATerminal) {
  std::string d = input("disk.img", make_disk_image(300000, 1));
  ProcessResult r = hexz({"pack", "--disk", d, "-o", output("s.hxz")});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err.find('\r'), std::string::npos)
      << "progress bar drawn on a non-terminal: " << r.err;
  EXPECT_LE(lines_of(r.err).size(), 1u) << r.err;
}

TEST_F(Cli, PackMemoryLimitReportsTheDedupGivenUp) {
  // 300 unique chunks twice: a 4 KiB dedup table cannot hold them all.
  Bytes image;
  for (uint64_t i = 0; i < 2; ++i) {
    for (uint64_t id = 0; id < 300; ++id) {
      Bytes chunk = text_bytes(4096, 1000 + id);
      image.insert(image.end(), chunk.begin(), chunk.end());
    }
  }
  std::string d = input("disk.img", image);
  ProcessResult r = hexz({"pack", "--disk", d, "-o", output("s.hxz"), "--memory-limit", "4K"});
  ASSERT_TRUE(ok(r)) << r.err;
  EXPECT_NE(r.err.find("hexz: warning: the dedup table reached the memory limit (4 KiB)"),
            std::string::npos)
      << r.err;
  r = hexz({"cat", output("s.hxz")});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r.out, std::string(reinterpret_cast<const char*>(image.data()), image.size()));
  EXPECT_TRUE(
      is_usage_error(hexz({"pack", "--disk", d, "-o", output("t.hxz"), "--memory-limit", "lots"})));
  EXPECT_FALSE(fs::exists(output("t.hxz")));
}

TEST_F(Cli, HelpAndVersion) {
  ProcessResult r = hexz({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("pack"), std::string::npos) << r.out;
  for (const char* cmd : {"pack", "info", "cat", "extract", "verify"}) {
    r = hexz({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_FALSE(r.out.empty()) << cmd;
  }
  r = hexz({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(hexz::kVersionString), std::string::npos) << r.out;
}

// --- Usage errors (exit 2) -----------------------------------------------------------------

TEST_F(Cli, UsageErrorsExitTwo) {
  std::string d = input("disk.img", text_bytes(10000, 1));
  std::string o = output("x.hxz");
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"pack"},
      {"pack", "--disk", d},  // no -o
      {"pack", "--disk", d, "-o", o, "--frobnicate"},
      {"pack", "--disk", d, "-o", o, "--chunk-size", "abc"},
      {"pack", "--disk", d, "-o", o, "--chunk-size", "4X"},
      {"pack", "--disk", d, "-o", o, "--chunk-size", "-4096"},
      {"pack", "--disk", d, "-o", o, "--block-size", "1.5M"},
      {"pack", "--disk", d, "-o", o, "--block-size", "99999999999999999999999"},
      {"pack", "--disk", d, "-o", o, "--compression", "gzip"},
      {"pack", "--disk", d, "-o", o, "--compression", ""},
      {"pack", "--disk", d, "-o", o, "--level", "high"},
      {"info"},
      {"cat"},
      {"extract", o},  // neither --disk nor --memory
      {"cat", o, "--stream", "swap"},
      {"cat", o, "--offset", "ten"},
      {"data"},
      {"data", "unpack"},
  };
  for (const auto& args : cases) {
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    EXPECT_TRUE(is_usage_error(hexz(args))) << "hexz" << shown;
  }
  EXPECT_FALSE(fs::exists(o));
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{});
}

// --- Library errors (exit 1, one line) -----------------------------------------------------

TEST_F(Cli, PackErrorsExitOneWithOneLine) {
  std::string d = input("disk.img", make_disk_image(100000, 1));
  std::string o = output("x.hxz");
  EXPECT_TRUE(
      is_error(hexz({"pack", "--disk", in_dir() + "/missing.img", "-o", o}), "missing.img"));
  EXPECT_TRUE(
      is_error(hexz({"pack", "--disk", d, "--memory", in_dir() + "/missing.img", "-o", o})));
  EXPECT_TRUE(is_error(hexz({"pack", "--disk", in_dir(), "-o", o})));
  EXPECT_TRUE(is_error(hexz({"pack", "--disk", d, "-o", out_dir() + "/no/such/dir/x.hxz"})));
  EXPECT_TRUE(is_error(hexz({"pack", "--disk", d, "-o", d, "-f"})));
  EXPECT_EQ(read_file(d), make_disk_image(100000, 1));
  // Out-of-range values are reported either as usage (2) or by the library (1).
  for (std::vector<std::string> extra : {std::vector<std::string>{"--chunk-size", "3000"},
                                         {"--chunk-size", "256"},
                                         {"--chunk-size", "2M"},
                                         {"--block-size", "512", "--chunk-size", "512"},
                                         {"--block-size", "32M"},
                                         {"--chunk-size", "64K", "--block-size", "16K"}}) {
    std::vector<std::string> args = {"pack", "--disk", d, "-o", o};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = hexz(args);
    EXPECT_TRUE(r.exit_code == 2 ? is_usage_error(r) : is_error(r)) << extra[0] << " " << extra[1];
  }
  // No input at all.
  ProcessResult r = hexz({"pack", "-o", o});
  EXPECT_TRUE(r.exit_code == 2 ? is_usage_error(r) : is_error(r));
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{});
}

TEST_F(Cli, ExistingOutputRefusedUnlessForced) {
  Bytes disk = make_disk_image(200000, 2);
  std::string d = input("disk.img", disk);
  std::string o = output("x.hxz");
  Bytes old = text_bytes(5000, 3);
  write_file(o, old);
  EXPECT_TRUE(is_error(hexz({"pack", "--disk", d, "-o", o, "-q"})));
  EXPECT_EQ(read_file(o), old);
  // A failing forced pack leaves it alone too.
  EXPECT_TRUE(is_error(hexz({"pack", "--disk", in_dir() + "/missing", "-o", o, "-q", "--force"})));
  EXPECT_EQ(read_file(o), old);
  ASSERT_TRUE(ok(hexz({"pack", "--disk", d, "-o", o, "-q", "--force"})));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(o), Stream::kDisk), disk);
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{"x.hxz"});
}

TEST_F(Cli, UnreadableInputExitsOne) {
  std::string d = input("disk.img", make_disk_image(100000, 1));
  ASSERT_EQ(::chmod(d.c_str(), 0), 0);
  std::string o = output("x.hxz");
  RunOptions ro;
  if (::geteuid() == 0) {
    fs::permissions(tmp().path(), fs::perms::all, fs::perm_options::add);
    fs::permissions(out_dir(), fs::perms::all, fs::perm_options::add);
    ro.uid = 65534;
    ro.gid = 65534;
  }
  ProcessResult r = hexz({"pack", "--disk", d, "-o", o}, ro);
  if (r.exit_code == 126) GTEST_SKIP() << "cannot drop privileges";
  EXPECT_TRUE(is_error(r));
  EXPECT_FALSE(fs::exists(o));
}

TEST_F(Cli, ReadErrorsExitOneWithOneLine) {
  Bytes disk = text_bytes(100000, 1);
  std::string d = input("disk.img", disk);
  std::string snap = output("s.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--disk", d, "-o", snap, "-q", "--block-size", "16K"})));
  Bytes good = read_file(snap);

  for (const char* cmd : {"info", "cat", "verify"}) {
    SCOPED_TRACE(cmd);
    EXPECT_TRUE(is_error(hexz({cmd, output("missing.hxz")}), "missing.hxz"));
    EXPECT_TRUE(is_error(hexz({cmd, d})));  // not a snapshot
    std::string trunc = output("trunc.hxz");
    write_file(trunc, Bytes(good.begin(), good.end() - 7));
    EXPECT_TRUE(is_error(hexz({cmd, trunc}), "truncated"));
    Bytes bad = good;
    bad[100] ^= 1;
    std::string badh = output("badheader.hxz");
    write_file(badh, bad);
    EXPECT_TRUE(is_error(hexz({cmd, badh})));
  }
  EXPECT_TRUE(is_error(hexz({"extract", output("missing.hxz"), "--disk", output("x.out")})));
  EXPECT_FALSE(fs::exists(output("x.out")));

  // Unknown required feature.
  Bytes feat = good;
  layout::put_u64(feat, layout::kRequiredFeatures, uint64_t{1} << 50);
  layout::fix_header_checksum(feat);
  std::string featp = output("feature.hxz");
  write_file(featp, feat);
  EXPECT_TRUE(is_error(hexz({"info", featp}), "feature"));

  // Range errors.
  EXPECT_TRUE(is_error(hexz({"cat", snap, "--offset", std::to_string(disk.size() + 1)})));
  EXPECT_TRUE(
      is_error(hexz({"cat", snap, "--offset", "100", "--length", std::to_string(disk.size())})));
  EXPECT_TRUE(is_error(hexz({"cat", snap, "--stream", "memory"}), "memory"));
  EXPECT_TRUE(is_error(hexz({"extract", snap, "--memory", output("m.out")}), "memory"));
  EXPECT_FALSE(fs::exists(output("m.out")));
}

TEST_F(Cli, VerifyAndCatDetectACorruptBlock) {
  Bytes disk = text_bytes(200000, 1);
  std::string snap = output("s.hxz");
  ASSERT_TRUE(ok(
      hexz({"pack", "--disk", input("disk.img", disk), "-o", snap, "-q", "--block-size", "16K"})));
  Bytes bad = read_file(snap);
  bad[layout::kFirstBlockOffset + 50] ^= 0x40;
  write_file(snap, bad);
  ProcessResult r = hexz({"verify", snap});
  EXPECT_EQ(r.exit_code, 3) << "3 = corrupt: " << r.err;
  ASSERT_GE(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_EQ(lines_of(r.err)[0].rfind("hexz: error: corrupt: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("512"), std::string::npos) << "verify should name the bad block: " << r.err;
  EXPECT_EQ(r.out.find("OK"), std::string::npos);
  r = hexz({"cat", snap, "--length", "100"});
  EXPECT_TRUE(is_error(r, "corrupt"));
  // Bytes from intact blocks are still available.
  r = hexz({"cat", snap, "--offset", "100000", "--length", "1000"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), Bytes(disk.begin() + 100000, disk.begin() + 101000));
}

// --- extract -------------------------------------------------------------------------------

TEST_F(Cli, ExtractWritesSparseFilesWithIdenticalBytes) {
  if (!filesystem_supports_holes(tmp().path())) GTEST_SKIP() << "temp file system has no holes";
  // 8 MiB with 6 MiB of zero runs.
  Bytes disk = text_bytes(1u << 20, 1);
  append_zeros(disk, 3u << 20);
  Bytes mid = make_disk_image(1u << 20, 2);
  disk.insert(disk.end(), mid.begin(), mid.end());
  append_zeros(disk, (3u << 20) - 100);
  Bytes tail = text_bytes(100, 3);
  disk.insert(disk.end(), tail.begin(), tail.end());
  Bytes memory(2u << 20, 0);
  std::string snap = output("s.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--disk", input("disk.img", disk), "--memory",
                       input("mem.img", memory), "-o", snap, "-q"})));
  std::string xd = output("disk.out");
  std::string xm = output("mem.out");
  ASSERT_TRUE(ok(hexz({"extract", snap, "--disk", xd, "--memory", xm, "-q"})));
  EXPECT_EQ(first_difference(read_file(xd), disk), -1);
  EXPECT_EQ(fs::file_size(xd), disk.size());
  EXPECT_LT(allocated_bytes(xd), disk.size() / 2) << "extract did not leave holes";
  EXPECT_EQ(read_file(xm), memory);
  EXPECT_LT(allocated_bytes(xm), 64u * 1024) << "an all-zero stream should extract to a hole";

  // Existing outputs are refused and kept, unless forced.
  Bytes old = text_bytes(1000, 9);
  write_file(xd, old);
  EXPECT_TRUE(is_error(hexz({"extract", snap, "--disk", xd, "-q"})));
  EXPECT_EQ(read_file(xd), old);
  ASSERT_TRUE(ok(hexz({"extract", snap, "--disk", xd, "-q", "-f"})));
  EXPECT_EQ(first_difference(read_file(xd), disk), -1);
  EXPECT_EQ(list_dir(out_dir()), (std::vector<std::string>{"disk.out", "mem.out", "s.hxz"}));
}

TEST_F(Cli, ExtractWithoutSyncWritesTheSameBytesAndHoles) {
  // Several 4 MiB pieces (written while the next one is decoded) between zero runs, to a file
  // and to standard output.
  Bytes disk = make_disk_image(9u << 20, 4);
  append_zeros(disk, 5u << 20);
  Bytes more = text_bytes((6u << 20) + 123, 5);
  disk.insert(disk.end(), more.begin(), more.end());
  std::string snap = output("s.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--disk", input("disk.img", disk), "-o", snap, "-q"})));
  std::string xd = output("disk.out");
  ASSERT_TRUE(ok(hexz({"extract", snap, "--disk", xd, "-q", "--no-sync"})));
  EXPECT_EQ(first_difference(read_file(xd), disk), -1);
  if (filesystem_supports_holes(tmp().path())) {
    EXPECT_LT(allocated_bytes(xd), disk.size() - (4u << 20)) << "extract did not leave holes";
  }
  ProcessResult r = hexz({"extract", snap, "--disk", "-", "-q", "--no-sync"});
  ASSERT_TRUE(ok(r)) << r.err;
  EXPECT_EQ(r.out, std::string(reinterpret_cast<const char*>(disk.data()), disk.size()));
  EXPECT_EQ(list_dir(out_dir()), (std::vector<std::string>{"disk.out", "s.hxz"}));
}

TEST_F(Cli, ExtractOfAnEmptyStream) {
  std::string snap = output("s.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--disk", input("empty.img", {}), "-o", snap, "-q"})));
  std::string xd = output("disk.out");
  ASSERT_TRUE(ok(hexz({"extract", snap, "--disk", xd, "-q"})));
  EXPECT_TRUE(fs::exists(xd));
  EXPECT_EQ(fs::file_size(xd), 0u);
  ProcessResult r = hexz({"cat", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace hexz_test
