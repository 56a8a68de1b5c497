// pack(): progress reporting, atomic output, and argument / input error paths.
#include <gtest/gtest.h>

#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "support/fixture.hpp"

namespace hexz_test {
namespace {

using hexz::Codec;
using hexz::ErrorCode;
using hexz::Stream;

/// Thrown by progress callbacks to abort a pack.
struct StopPacking {
  int at_call;
};

/// Runs `fn` in a child process as user/group nobody (65534). Returns the child's exit status,
/// or -1 if privileges could not be dropped (the caller should then skip).
int run_as_nobody(const std::function<int()>& fn) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(125);
    int code = 99;
    try {
      code = fn();
    } catch (...) {
      code = 98;
    }
    ::_exit(code);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 97;
  int code = WEXITSTATUS(status);
  return code == 125 ? -1 : code;
}

/// Exit codes used by children running pack(): 0 = threw the expected code.
int pack_expecting(const hexz::PackOptions& opts, ErrorCode want) {
  try {
    hexz::pack(opts);
    return 3;  // No error at all.
  } catch (const hexz::Error& e) {
    return e.code() == want ? 0 : 10 + static_cast<int>(e.code());
  }
}

class PackTest : public HexzTest {
 protected:
  /// Entries of out/ (outputs and any temporary files pack left behind).
  std::vector<std::string> out_entries() const { return list_dir(out_dir()); }
};

// --- Progress ------------------------------------------------------------------------------

TEST_F(PackTest, ProgressIsMonotonicAndEndsAtTotal) {
  Bytes disk = make_disk_image((5u << 20) + 3, 1);
  Bytes memory = make_memory_image((3u << 20) + 7, disk, 2);
  auto opts = options(input("disk.img", disk), input("mem.img", memory), output("snap.hxz"));
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  hexz::pack(opts, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_FALSE(calls.empty());
  const uint64_t total = disk.size() + memory.size();
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(calls[i].second, total) << "call " << i;
    EXPECT_LE(calls[i].first, calls[i].second) << "call " << i;
    if (i > 0) {
      EXPECT_GE(calls[i].first, calls[i - 1].first) << "progress went backwards at call " << i;
    }
  }
  EXPECT_EQ(calls.back().first, total);
  EXPECT_GE(calls.size(), 2u) << "an 8 MiB pack should report progress more than once";
}

TEST_F(PackTest, ProgressOnEmptyInputEndsAtZero) {
  auto opts = options(input("disk.img", {}), "", output("snap.hxz"));
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  hexz::pack(opts, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  if (!calls.empty()) {
    EXPECT_EQ(calls.back().first, 0u);
    EXPECT_EQ(calls.back().second, 0u);
  }
}

class ProgressAbort : public PackTest, public ::testing::WithParamInterface<int> {};

TEST_P(ProgressAbort, ExceptionPropagatesAndLeavesNoFiles) {
  // GetParam(): which call throws; -1 = the final call (done == total).
  Bytes disk = make_disk_image((5u << 20) + 3, 1);
  Bytes memory = make_memory_image((1u << 20), disk, 2);
  auto opts = options(input("disk.img", disk), input("mem.img", memory), output("snap.hxz"));
  const uint64_t total = disk.size() + memory.size();
  int calls = 0;
  bool thrown = false;
  auto progress = [&](uint64_t done, uint64_t t) {
    ++calls;
    if (GetParam() >= 0 ? calls == GetParam() + 1 : (done == t && t == total)) {
      thrown = true;
      throw StopPacking{calls};
    }
  };
  try {
    hexz::pack(opts, progress);
    ADD_FAILURE() << "pack() returned normally after its progress callback threw (thrown=" << thrown
                  << ")";
  } catch (const StopPacking& s) {
    EXPECT_EQ(s.at_call, calls);
  } catch (const hexz::Error& e) {
    ADD_FAILURE() << "the callback's exception did not propagate; got hexz::Error("
                  << hexz::error_code_name(e.code()) << "): " << e.what();
  }
  EXPECT_TRUE(thrown);
  EXPECT_EQ(out_entries(), std::vector<std::string>{}) << "pack left files behind";
  EXPECT_FALSE(fs::exists(opts.output_path));
  // The inputs are untouched and a later pack works.
  EXPECT_EQ(read_file(opts.disk_path), disk);
  hexz::pack(opts);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(opts.output_path), Stream::kDisk), disk);
}

INSTANTIATE_TEST_SUITE_P(AtCall, ProgressAbort, ::testing::Values(0, 1, -1),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param < 0 ? std::string("Last")
                                              : "Call" + std::to_string(p.param);
                         });

TEST_F(PackTest, ProgressAbortDoesNotTouchAnExistingOutput) {
  Bytes old = text_bytes(5000, 1);
  write_file(output("snap.hxz"), old);
  auto opts = options(input("disk.img", make_disk_image(3u << 20, 4)), "", output("snap.hxz"));
  opts.force = true;
  EXPECT_THROW(hexz::pack(opts,
                          [](uint64_t done, uint64_t) {
                            if (done > 0) throw StopPacking{0};
                          }),
               StopPacking);
  EXPECT_EQ(read_file(output("snap.hxz")), old);
  EXPECT_EQ(out_entries(), std::vector<std::string>{"snap.hxz"});
}

// --- Atomic output -------------------------------------------------------------------------

TEST_F(PackTest, ExistingOutputIsRefusedAndLeftIntact) {
  Bytes old = text_bytes(12345, 7);
  write_file(output("snap.hxz"), old);
  auto opts = options(input("disk.img", make_disk_image(400000, 5)), "", output("snap.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kAlreadyExists}));
  EXPECT_EQ(read_file(output("snap.hxz")), old);
  EXPECT_EQ(out_entries(), std::vector<std::string>{"snap.hxz"});
}

TEST_F(PackTest, ExistingSnapshotIsRefusedToo) {
  auto opts = options(input("disk.img", make_disk_image(200000, 5)), "", output("snap.hxz"));
  hexz::pack(opts);
  Bytes first = read_file(opts.output_path);
  opts.disk_path = input("other.img", make_disk_image(200000, 6));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kAlreadyExists}));
  EXPECT_EQ(read_file(opts.output_path), first);
}

TEST_F(PackTest, ForceReplacesExistingOutput) {
  write_file(output("snap.hxz"), text_bytes(99999, 7));
  Bytes disk = make_disk_image(400000, 5);
  auto opts = options(input("disk.img", disk), "", output("snap.hxz"));
  opts.force = true;
  hexz::PackResult r = hexz::pack(opts);
  EXPECT_EQ(fs::file_size(opts.output_path), r.file_size);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(opts.output_path), Stream::kDisk), disk);
  EXPECT_EQ(out_entries(), std::vector<std::string>{"snap.hxz"});
}

TEST_F(PackTest, ForceWithoutExistingOutputJustWrites) {
  Bytes disk = make_disk_image(100000, 5);
  auto opts = options(input("disk.img", disk), "", output("snap.hxz"));
  opts.force = true;
  hexz::pack(opts);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(opts.output_path), Stream::kDisk), disk);
}

TEST_F(PackTest, FailedPackNeverTouchesExistingOutput) {
  Bytes old = text_bytes(20000, 9);
  write_file(output("snap.hxz"), old);
  auto opts = options(input("disk.img", make_disk_image(100000, 1)), in_dir() + "/missing.img",
                      output("snap.hxz"));
  opts.force = true;
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kNotFound}));
  EXPECT_EQ(read_file(output("snap.hxz")), old);
  EXPECT_EQ(out_entries(), std::vector<std::string>{"snap.hxz"});
  // An invalid option fails the same way.
  opts.memory_path.clear();
  opts.chunk_size = 1000;
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}));
  EXPECT_EQ(read_file(output("snap.hxz")), old);
}

TEST_F(PackTest, UnreadableInputFailsWithIoAndKeepsExistingOutput) {
  std::string disk = input("disk.img", make_disk_image(100000, 1));
  ASSERT_EQ(::chmod(disk.c_str(), 0), 0);
  Bytes old = text_bytes(20000, 9);
  write_file(output("snap.hxz"), old);
  auto opts = options(disk, "", output("snap.hxz"));
  opts.force = true;
  if (::geteuid() != 0) {
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kIo}));
  } else {
    // Root reads mode-000 files anyway: run the pack as nobody instead.
    fs::permissions(tmp().path(), fs::perms::all, fs::perm_options::add);
    fs::permissions(out_dir(), fs::perms::all, fs::perm_options::add);
    fs::permissions(output("snap.hxz"), fs::perms::all, fs::perm_options::add);
    int status = run_as_nobody([&] { return pack_expecting(opts, ErrorCode::kIo); });
    if (status < 0) GTEST_SKIP() << "cannot drop privileges to nobody";
    EXPECT_EQ(status, 0)
        << "child exit " << status
        << " (3 = no error; 10+code = wrong hexz::ErrorCode; 98 = other exception)";
  }
  EXPECT_EQ(read_file(output("snap.hxz")), old);
  EXPECT_EQ(out_entries(), std::vector<std::string>{"snap.hxz"});
}

TEST_F(PackTest, UnwritableOutputDirectoryFailsWithIo) {
  if (::geteuid() == 0) {
    fs::permissions(tmp().path(), fs::perms::all, fs::perm_options::add);
    fs::permissions(in_dir(), fs::perms::all, fs::perm_options::add);
  }
  auto opts = options(input("disk.img", make_disk_image(100000, 1)), "", output("snap.hxz"));
  fs::permissions(opts.disk_path, fs::perms::all, fs::perm_options::add);
  fs::permissions(out_dir(), fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                 fs::perms::group_exec | fs::perms::others_read |
                                 fs::perms::others_exec);
  if (::geteuid() != 0) {
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kIo}));
  } else {
    int status = run_as_nobody([&] { return pack_expecting(opts, ErrorCode::kIo); });
    if (status < 0) GTEST_SKIP() << "cannot drop privileges to nobody";
    EXPECT_EQ(status, 0) << "child exit " << status;
  }
  EXPECT_FALSE(fs::exists(opts.output_path));
}

// --- Argument errors -----------------------------------------------------------------------

TEST_F(PackTest, NoInputGiven) {
  auto opts = options("", "", output("snap.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}));
  EXPECT_FALSE(fs::exists(opts.output_path));
}

TEST_F(PackTest, NoOutputGiven) {
  auto opts = options(input("disk.img", text_bytes(1000, 1)), "", "");
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}));
}

TEST_F(PackTest, MissingInputs) {
  std::string good = input("disk.img", text_bytes(1000, 1));
  auto a = options(in_dir() + "/nope.img", "", output("a.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(a); }, {ErrorCode::kNotFound}));
  auto b = options(good, in_dir() + "/nope.img", output("b.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(b); }, {ErrorCode::kNotFound}));
  auto c = options(in_dir() + "/no-such-dir/disk.img", "", output("c.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(c); }, {ErrorCode::kNotFound}));
  EXPECT_EQ(out_entries(), std::vector<std::string>{});
}

TEST_F(PackTest, InputIsADirectory) {
  auto a = options(in_dir(), "", output("a.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(a); }, {ErrorCode::kInvalidArgument, ErrorCode::kIo}));
  auto b = options(input("disk.img", text_bytes(1000, 1)), in_dir(), output("b.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(b); }, {ErrorCode::kInvalidArgument, ErrorCode::kIo}));
  EXPECT_EQ(out_entries(), std::vector<std::string>{});
}

TEST_F(PackTest, ChunkSizeOutOfRangeOrNotAPowerOfTwo) {
  std::string disk = input("disk.img", text_bytes(10000, 1));
  for (uint32_t chunk : {0u, 1u, 256u, 511u, 513u, 1000u, 3000u, 4095u, 4097u, 12288u,
                         (1u << 20) + 4096, 2u << 20, 1u << 31, UINT32_MAX}) {
    auto opts = options(disk, "", output("snap.hxz"));
    opts.chunk_size = chunk;
    opts.block_size = hexz::kMaxBlockSize;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}))
        << "chunk size " << chunk;
  }
  EXPECT_EQ(out_entries(), std::vector<std::string>{});
}

TEST_F(PackTest, BlockSizeOutOfRange) {
  std::string disk = input("disk.img", text_bytes(10000, 1));
  for (uint32_t block : {0u, 512u, 1023u, (16u << 20) + 1, 32u << 20, UINT32_MAX}) {
    auto opts = options(disk, "", output("snap.hxz"));
    opts.chunk_size = 512;
    opts.block_size = block;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}))
        << "block size " << block;
  }
  EXPECT_EQ(out_entries(), std::vector<std::string>{});
}

TEST_F(PackTest, BlockSizeSmallerThanChunkSize) {
  std::string disk = input("disk.img", text_bytes(10000, 1));
  const std::pair<uint32_t, uint32_t> cases[] = {{65536, 16384}, {4096, 2048}, {1u << 20, 65536}};
  for (const auto& [chunk, block] : cases) {
    auto opts = options(disk, "", output("snap.hxz"));
    opts.chunk_size = chunk;
    opts.block_size = block;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}))
        << "chunk " << chunk << " block " << block;
  }
}

TEST_F(PackTest, BoundarySizesAreAccepted) {
  Bytes disk = make_disk_image(50000, 3);
  const std::pair<uint32_t, uint32_t> cases[] = {
      {512, 1024}, {512, 512 * 1024}, {1u << 20, 1u << 20}, {4096, 4096}};
  int n = 0;
  std::string path = input("disk.img", disk);
  for (const auto& [chunk, block] : cases) {
    auto opts = options(path, "", output("snap" + std::to_string(n++) + ".hxz"));
    opts.chunk_size = chunk;
    opts.block_size = block;
    ASSERT_NO_THROW(hexz::pack(opts)) << "chunk " << chunk << " block " << block;
    EXPECT_EQ(read_stream(*hexz::Snapshot::open(opts.output_path), Stream::kDisk), disk);
  }
}

TEST_F(PackTest, InvalidCodecValue) {
  auto opts = options(input("disk.img", text_bytes(10000, 1)), "", output("snap.hxz"));
  opts.codec = static_cast<Codec>(7);
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}));
  if (fs::exists(opts.output_path)) {
    // Whatever was written must at least be readable.
    EXPECT_NO_THROW(hexz::Snapshot::open(opts.output_path))
        << "pack wrote a snapshot it cannot open";
  }
}

TEST_F(PackTest, CompressionLevelOutOfRange) {
  std::string disk = input("disk.img", text_bytes(10000, 1));
  const std::pair<Codec, int> cases[] = {{Codec::kZstd, 23},
                                         {Codec::kZstd, 1000},
                                         {Codec::kLz4, 13},
                                         {Codec::kLz4, -1},
                                         {Codec::kLz4, 1000}};
  for (const auto& [codec, level] : cases) {
    auto opts = options(disk, "", output("snap.hxz"));
    opts.codec = codec;
    opts.level = level;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}))
        << hexz::codec_name(codec) << " level " << level;
    EXPECT_FALSE(fs::exists(opts.output_path));
  }
  // The documented extremes work.
  for (const auto& [codec, level] : {std::pair{Codec::kZstd, 22}, std::pair{Codec::kLz4, 12}}) {
    auto opts = options(disk, "", output(std::string(hexz::codec_name(codec)) + ".hxz"));
    opts.codec = codec;
    opts.level = level;
    ASSERT_NO_THROW(hexz::pack(opts));
    auto snap = hexz::Snapshot::open(opts.output_path);
    EXPECT_EQ(snap->info().level, level);
    EXPECT_EQ(read_stream(*snap, Stream::kDisk), read_file(disk));
  }
}

TEST_F(PackTest, OutputDirectoryMissing) {
  auto opts =
      options(input("disk.img", text_bytes(10000, 1)), "", out_dir() + "/no/such/dir/snap.hxz");
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kNotFound, ErrorCode::kIo}));
  EXPECT_FALSE(fs::exists(out_dir() + "/no"));
}

TEST_F(PackTest, OutputIsAnExistingDirectory) {
  fs::create_directory(output("dir.hxz"));
  auto opts = options(input("disk.img", text_bytes(10000, 1)), "", output("dir.hxz"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); },
                         {ErrorCode::kAlreadyExists, ErrorCode::kInvalidArgument, ErrorCode::kIo}));
  opts.force = true;
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); },
                         {ErrorCode::kInvalidArgument, ErrorCode::kIo, ErrorCode::kAlreadyExists}));
  EXPECT_TRUE(fs::is_directory(output("dir.hxz")));
}

TEST_F(PackTest, OutputEqualToAnInputIsRefused) {
  Bytes disk = make_disk_image(100000, 2);
  Bytes memory = make_memory_image(50000, disk, 3);
  std::string d = input("disk.img", disk);
  std::string m = input("mem.img", memory);
  // Without force: refused either as "same as input" or "already exists".
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(options(d, m, d)); },
                         {ErrorCode::kInvalidArgument, ErrorCode::kAlreadyExists}));
  // With force the input must still never be replaced.
  for (const std::string& out : {d, m, in_dir() + "/./disk.img", in_dir() + "/../in/mem.img"}) {
    auto opts = options(d, m, out);
    opts.force = true;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}))
        << "output " << out;
  }
  // Also through a symbolic link and a hard link.
  fs::create_symlink(d, tmp().path() / "link-to-disk.img");
  fs::create_hard_link(m, tmp().path() / "hardlink-to-mem.img");
  for (const fs::path& out :
       {tmp().path() / "link-to-disk.img", tmp().path() / "hardlink-to-mem.img"}) {
    auto opts = options(d, m, out.string());
    opts.force = true;
    EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(opts); }, {ErrorCode::kInvalidArgument}))
        << "output " << out;
  }
  EXPECT_EQ(read_file(d), disk);
  EXPECT_EQ(read_file(m), memory);
  EXPECT_EQ(list_dir(in_dir()), (std::vector<std::string>{"disk.img", "mem.img"}));
}

TEST_F(PackTest, OptionsAreNotModifiedAndResultIsComplete) {
  Bytes disk = make_disk_image(300000, 2);
  auto opts = options(input("disk.img", disk), "", output("snap.hxz"));
  opts.codec = Codec::kZstd;
  opts.level = 7;
  const hexz::PackOptions copy = opts;
  hexz::PackResult r = hexz::pack(opts);
  EXPECT_EQ(opts.codec, copy.codec);
  EXPECT_EQ(opts.level, copy.level);
  EXPECT_EQ(opts.output_path, copy.output_path);
  EXPECT_TRUE(r.streams[0].present);
  EXPECT_FALSE(r.streams[1].present);
  EXPECT_EQ(r.streams[0].logical_size, disk.size());
  EXPECT_EQ(r.file_size, fs::file_size(opts.output_path));
  EXPECT_GT(r.streams[0].stored_bytes, 0u);
  EXPECT_LT(r.streams[0].stored_bytes, r.file_size);
  EXPECT_EQ(hexz::Snapshot::open(opts.output_path)->info().level, 7);
}

}  // namespace
}  // namespace hexz_test
