// Disk image containers as pack inputs: qcow2, VMDK, VHD, VHDX, VDI and LUKS are recognised by
// their magic and never packed as raw bytes by accident (--raw packs them as they are); the
// QEMU formats are read through a private qemu-nbd with libnbd, and nbd:// URIs directly.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_checks.hpp"
#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/test_data.hpp"

#ifndef HEXZ_CLI_PATH
#error "HEXZ_CLI_PATH must name the hexz binary"
#endif

namespace hexz_test {
namespace {

using hexz::ErrorCode;
using hexz::Stream;

/// A 1 MiB file: `magic` written at `at` (negative: from the end) over text bytes.
Bytes with_magic(const std::string& magic, long at) {
  Bytes b = text_bytes(1 << 20, 7);
  const size_t pos = at >= 0 ? static_cast<size_t>(at) : b.size() - static_cast<size_t>(-at);
  for (size_t i = 0; i < magic.size(); ++i) b[pos + i] = static_cast<unsigned char>(magic[i]);
  return b;
}

struct Magic {
  const char* name;   ///< Test name suffix.
  std::string bytes;  ///< Magic bytes.
  long at;            ///< Where they go.
  const char* shown;  ///< The format's name in the error.
  /// The error: qemu-nbd's refusal of the crafted header, or LUKS (never opened).
  ErrorCode code = ErrorCode::kCorrupt;
};

std::vector<Magic> magics() {
  return {
      {"qcow2", std::string("QFI\xfb\0\0\0\3", 8), 0, "qcow2"},
      {"qcow1", std::string("QFI\xfb\0\0\0\1", 8), 0, "qcow"},
      {"vmdk_sparse", "KDMV", 0, "VMDK"},
      {"vmdk_descriptor", "# Disk DescriptorFile\nversion=1\n", 0, "VMDK"},
      {"vhd_dynamic", "conectix", 0, "VHD"},
      {"vhd_fixed_footer", "conectix", -512, "VHD"},
      {"vhdx", "vhdxfile", 0, "VHDX"},
      {"vdi", "\x7f\x10\xda\xbe", 0x40, "VDI"},
      {"luks", std::string("LUKS\xba\xbe\0\1", 8), 0, "LUKS", ErrorCode::kUnsupported},
  };
}

class ContainerMagic : public HexzTest, public ::testing::WithParamInterface<Magic> {};

TEST_P(ContainerMagic, IsRefusedUnlessRawAndRawPacksTheBytes) {
  const Magic& m = GetParam();
  const Bytes bytes = with_magic(m.bytes, m.at);
  const std::string in = input("image", bytes);
  auto o = options(in, "", output("x.hxz"));
  // Read as the container it claims to be (qemu-nbd then refuses the crafted header), or
  // refused (LUKS): never packed as raw bytes.
  const std::string shown = m.code == ErrorCode::kUnsupported ? std::string("is a ") + m.shown
                                                              : std::string("as ") + m.shown + ":";
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(o); }, m.code, shown));
  EXPECT_FALSE(fs::exists(o.output_path));
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(options("", in, output("x.hxz"))); }, m.code,
                         "memory image '" + in + "'"));
  o.raw = true;
  hexz::pack(o);
  const auto snap = hexz::Snapshot::open(o.output_path);
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), bytes);
}

INSTANTIATE_TEST_SUITE_P(All, ContainerMagic, ::testing::ValuesIn(magics()),
                         [](const auto& p) { return std::string(p.param.name); });

class ContainerCli : public HexzTest {
 protected:
  static ProcessResult hexz(std::vector<std::string> args) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    return run_process(args);
  }
};

TEST_F(ContainerCli, LuksIsOneClearErrorAndRawPacksIt) {
  const std::string in = input("disk.luks", with_magic(std::string("LUKS\xba\xbe\0\1", 8), 0));
  const std::string out = output("x.hxz");
  EXPECT_TRUE(is_cli_error(hexz({"pack", "--disk", in, "-o", out}),
                           "is a LUKS encrypted volume, not a raw image"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(exited_ok(hexz({"pack", "-q", "--raw", "--disk", in, "-o", out})));
  EXPECT_TRUE(fs::exists(out));
}

TEST_F(ContainerCli, AContainerOnStandardInputIsRefusedUnlessRaw) {
  const Bytes bytes = with_magic(std::string("QFI\xfb\0\0\0\3", 8), 0);
  RunOptions ro;
  ro.stdin_path = input("disk.qcow2", bytes);
  const std::string out = output("x.hxz");
  EXPECT_TRUE(is_cli_error(run_process({HEXZ_CLI_PATH, "pack", "--disk", "-", "-o", out}, ro),
                           "disk image on standard input is a qcow2 image, not a raw one"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(
      exited_ok(run_process({HEXZ_CLI_PATH, "pack", "-q", "--raw", "--disk", "-", "-o", out}, ro)));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(out), Stream::kDisk), bytes);
}

TEST_F(ContainerCli, RawIsInTheHelp) {
  const ProcessResult r = hexz({"pack", "--help"});
  EXPECT_NE(r.out.find("--raw"), std::string::npos);
}

TEST_F(ContainerCli, RawImagesAreStillPackedWithoutRaw) {
  const Bytes disk = make_disk_image(1 << 20, 3);
  const std::string out = output("x.hxz");
  EXPECT_TRUE(exited_ok(hexz({"pack", "-q", "--disk", input("disk.img", disk), "-o", out})));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(out), Stream::kDisk), disk);
}

/// Runs a helper program (qemu-img, qemu-io); fails the test if it does not exit 0.
void run_ok(const std::vector<std::string>& argv) {
  const ProcessResult r = run_process(argv);
  ASSERT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << ": " << r.err << r.out;
}

/// Number of processes whose command line contains `text` (pgrep -f), this test excluded.
int processes_matching(const std::string& text) {
  return static_cast<int>(lines_of(run_process({"/usr/bin/pgrep", "-f", "--", text}).out).size());
}

/// Every test runs with TMPDIR in its own directory, so that the qemu-nbd children (whose
/// socket lives there) can be counted by pgrep afterwards: none may be left.
class QemuInput : public HexzTest {
 protected:
  void SetUp() override {
    if (const char* old = std::getenv("TMPDIR")) old_tmpdir_ = old;
    tmpdir_ = (tmp().path() / "t").string();
    fs::create_directories(tmpdir_);
    ::setenv("TMPDIR", tmpdir_.c_str(), 1);
  }
  void TearDown() override {
    EXPECT_EQ(processes_matching(tmpdir_), 0) << "a qemu-nbd child was left running";
    EXPECT_TRUE(list_dir(tmpdir_).empty()) << "a private qemu-nbd directory was left behind";
    if (old_tmpdir_.empty()) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", old_tmpdir_.c_str(), 1);
    }
  }

  /// A 24 MiB disk: 6 MiB of varied data, a 12 MiB hole, 2 MiB more data, then zeros.
  std::string raw_image(Bytes* content = nullptr) {
    Bytes b = make_disk_image(6 << 20, 11);
    b.resize(18 << 20);
    const Bytes more = make_disk_image(2 << 20, 12);
    b.insert(b.end(), more.begin(), more.end());
    b.resize(24 << 20);
    if (content != nullptr) *content = b;
    return input("disk.raw", b);
  }

  static ProcessResult hexz(std::vector<std::string> args, const RunOptions& ro = {}) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    return run_process(args, ro);
  }

  std::string tmpdir_;

 private:
  std::string old_tmpdir_;
};

struct Conversion {
  const char* name;
  std::vector<std::string> args;  ///< qemu-img convert options before the file names.
  /// QEMU reports unallocated ranges of this format in block status (its vhdx driver does not).
  bool holes = true;
};

class QemuFormats : public QemuInput, public ::testing::WithParamInterface<Conversion> {};

TEST_P(QemuFormats, PackReadsTheDiskNotTheContainerAndDedupsTotallyWithTheRawPack) {
  Bytes raw;
  const std::string raw_path = raw_image(&raw);
  const std::string image = in_dir() + "/disk." + GetParam().name;
  std::vector<std::string> argv = {"/usr/bin/qemu-img", "convert"};
  argv.insert(argv.end(), GetParam().args.begin(), GetParam().args.end());
  argv.push_back(raw_path);
  argv.push_back(image);
  run_ok(argv);
  ASSERT_FALSE(files_equal(image, raw_path));

  const auto result = hexz::pack(options(image, "", output("image.hxz")));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("image.hxz")), Stream::kDisk), raw);
  // Only allocated data is read: the hole and the zero tail are skipped (block status).
  if (GetParam().holes) {
    EXPECT_LT(result.streams[0].bytes_read, uint64_t{9} << 20);
    EXPECT_GE(result.streams[0].bytes_read, uint64_t{6} << 20);
  }

  // The same snapshot as a pack of the raw image, byte for byte.
  hexz::pack(options(raw_path, "", output("raw.hxz")));
  EXPECT_TRUE(files_equal(output("image.hxz"), output("raw.hxz")));
  // Every chunk dedups against a pack of the raw image: the thin pack stores no block.
  auto thin = options(image, "", output("thin.hxz"));
  thin.base_path = output("raw.hxz");
  const auto t = hexz::pack(thin);
  EXPECT_EQ(t.streams[0].blocks, 0u);
  EXPECT_EQ(t.streams[0].stored_bytes, 0u);
  EXPECT_EQ(t.streams[0].dup_chunks + t.streams[0].zero_chunks, t.streams[0].chunks);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("thin.hxz")), Stream::kDisk), raw);
}

INSTANTIATE_TEST_SUITE_P(
    All, QemuFormats,
    ::testing::Values(Conversion{"qcow2", {"-O", "qcow2"}},
                      Conversion{"qcow2_compressed", {"-c", "-O", "qcow2"}},
                      Conversion{"vmdk", {"-O", "vmdk"}},
                      Conversion{"vmdk_stream", {"-O", "vmdk", "-o", "subformat=streamOptimized"}},
                      Conversion{"vhdx", {"-O", "vhdx"}, false},
                      Conversion{"vhd", {"-O", "vpc", "-o", "force_size=on"}},
                      Conversion{"vdi", {"-O", "vdi"}}),
    [](const auto& p) { return std::string(p.param.name); });

TEST_F(QemuInput, Qcow2WithABackingFileReadsThroughTheChain) {
  Bytes expected;
  const std::string raw_path = raw_image(&expected);
  const std::string base = in_dir() + "/base.qcow2";
  const std::string top = in_dir() + "/top.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "qcow2", raw_path, base});
  run_ok({"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top});
  run_ok({"/usr/bin/qemu-io", "-c", "write -P 0xab 1M 64k", "-c", "write -P 0xcd 12M 4k", top});
  std::fill(expected.begin() + (1 << 20), expected.begin() + (1 << 20) + (64 << 10), 0xab);
  std::fill(expected.begin() + (12 << 20), expected.begin() + (12 << 20) + 4096, 0xcd);
  hexz::pack(options(top, "", output("top.hxz")));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("top.hxz")), Stream::kDisk), expected);
}

TEST_F(QemuInput, BlockStatusSkipsUnallocatedRanges) {
  // 256 MiB with 1 MiB of data: only the data is read (rounded to 64 KiB clusters).
  Bytes data = random_bytes(1 << 20, 5);
  const std::string raw_path = in_dir() + "/sparse.raw";
  make_sparse_file(raw_path, 256 << 20, {{100 << 20, data}});
  const std::string image = in_dir() + "/sparse.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "qcow2", raw_path, image});
  const auto result = hexz::pack(options(image, "", output("s.hxz")));
  EXPECT_EQ(result.streams[0].logical_size, uint64_t{256} << 20);
  EXPECT_EQ(result.streams[0].bytes_read, uint64_t{1} << 20);
  const ProcessResult r = hexz({"pack", "--disk", image, "-o", output("cli.hxz")});
  EXPECT_TRUE(exited_ok(r));
  EXPECT_NE(r.err.find("1.00 MiB read"), std::string::npos) << r.err;
}

TEST_F(QemuInput, CorruptQcow2IsQemuNbdsErrorInOneLine) {
  const std::string image = in_dir() + "/bad.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "qcow2", raw_image(), image});
  Bytes b = read_file(image);
  // The L1 table offset (bytes 40..47) made unaligned.
  for (int i = 40; i < 48; ++i) b[i] = 0;
  b[45] = 1;
  b[47] = 1;
  write_file(image, b);
  const std::string out = output("bad.hxz");
  EXPECT_TRUE(is_cli_error(
      hexz({"pack", "--disk", image, "-o", out}),
      "qemu-nbd cannot read disk image '" + image + "' as qcow2: Failed to blk_new_open"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(options(image, "", out)); }, ErrorCode::kCorrupt,
                         "L1 table offset invalid"));
}

/// Big-endian u64 at `at` of `b`.
uint64_t be64(const Bytes& b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | b[at + i];
  return v;
}

TEST_F(QemuInput, CorruptClusterFoundWhileReadingIsOneLineWithQemuNbdsMessage) {
  const std::string image = in_dir() + "/l2bad.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "qcow2", raw_image(), image});
  Bytes b = read_file(image);
  // The first L2 entry made to point at an unaligned cluster: the header opens fine, the
  // corruption shows on the first access.
  const uint64_t l1 = be64(b, 40);
  const uint64_t l2 = be64(b, l1) & 0x00fffffffffffe00ull;
  const uint64_t bad = 0x8000000000000201ull;
  for (size_t i = 0; i < 8; ++i) b[l2 + i] = static_cast<unsigned char>(bad >> (56 - 8 * i));
  write_file(image, b);
  const std::string out = output("bad.hxz");
  EXPECT_TRUE(is_cli_error(hexz({"pack", "--disk", image, "-o", out}),
                           "(qemu-nbd: qcow2: Image is corrupt: Cluster allocation offset 0x200 "
                           "unaligned"));
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(QemuInput, MissingQemuNbdNamesTheFormatAndTheFixes) {
  const std::string image = in_dir() + "/d.vhdx";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "vhdx", raw_image(), image});
  RunOptions ro;
  ro.extra_env = {"HEXZ_QEMU_NBD=/nonexistent/qemu-nbd"};
  EXPECT_TRUE(is_cli_error(hexz({"pack", "--disk", image, "-o", output("x.hxz")}, ro),
                           "qemu-nbd is needed to read disk image '" + image + "' as vhdx"));
  EXPECT_FALSE(fs::exists(output("x.hxz")));
  // --raw packs the container's own bytes.
  EXPECT_TRUE(exited_ok(hexz({"pack", "-q", "--raw", "--disk", image, "-o", output("x.hxz")}, ro)));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("x.hxz")), Stream::kDisk), read_file(image));
}

TEST_F(QemuInput, InterruptedPackStopsAndReapsQemuNbd) {
  // Random data in a compressed qcow2 takes long enough to pack that SIGINT lands mid-way.
  const std::string raw_path = input("big.raw", random_bytes(128 << 20, 9));
  const std::string image = in_dir() + "/big.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-c", "-O", "qcow2", raw_path, image});
  RunOptions ro;
  std::thread killer;
  ro.on_start = [&](pid_t pid) {
    killer = std::thread([pid] {
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      ::kill(pid, SIGINT);
    });
  };
  const ProcessResult r = hexz(
      {"pack", "-q", "--threads", "1", "--level", "19", "--disk", image, "-o", output("x.hxz")},
      ro);
  killer.join();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_FALSE(fs::exists(output("x.hxz")));
}

/// A qemu-nbd started by the test itself, serving `image` as raw; stopped by pid.
class ExternalServer {
 public:
  explicit ExternalServer(std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/qemu-nbd");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~ExternalServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  ExternalServer(const ExternalServer&) = delete;
  ExternalServer& operator=(const ExternalServer&) = delete;

 private:
  pid_t pid_ = -1;
};

/// Waits until `path` exists (a server's socket), up to 10 s.
bool wait_for(const std::string& path) {
  for (int i = 0; i < 2000 && !fs::exists(path); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return fs::exists(path);
}

TEST_F(QemuInput, NbdUnixUriIsReadDirectly) {
  Bytes raw;
  const std::string raw_path = raw_image(&raw);
  const std::string image = in_dir() + "/disk.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "qcow2", raw_path, image});
  const std::string sock = tmp().path().string() + "/s.sock";
  ExternalServer server({"--read-only", "--persistent", "--shared=4", "--format=qcow2",
                         "--export-name=disk", "--socket=" + sock, image});
  ASSERT_TRUE(wait_for(sock));
  const std::string uri = "nbd+unix:///disk?socket=" + sock;
  const auto result = hexz::pack(options(uri, uri, output("u.hxz")));
  const auto snap = hexz::Snapshot::open(output("u.hxz"));
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), raw);
  EXPECT_EQ(read_stream(*snap, Stream::kMemory), raw);
  EXPECT_LT(result.streams[0].bytes_read, uint64_t{9} << 20);  // block status over the URI
  EXPECT_TRUE(exited_ok(hexz({"pack", "-q", "--disk", uri, "-o", output("cli.hxz")})));
  EXPECT_TRUE(files_equal(output("cli.hxz"), output("u.hxz")) ||
              read_stream(*hexz::Snapshot::open(output("cli.hxz")), Stream::kDisk) == raw);
}

TEST_F(QemuInput, NbdTcpUriIsReadDirectly) {
  Bytes raw;
  const std::string raw_path = raw_image(&raw);
  const int port = 20000 + static_cast<int>(::getpid() % 20000);
  const std::string pidfile = tmp().path().string() + "/pid";
  ExternalServer server({"--read-only", "--persistent", "--format=raw", "--bind=127.0.0.1",
                         "--port=" + std::to_string(port), "--pid-file=" + pidfile, raw_path});
  ASSERT_TRUE(wait_for(pidfile));
  const std::string uri = "nbd://127.0.0.1:" + std::to_string(port) + "/";
  hexz::pack(options(uri, "", output("t.hxz")));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("t.hxz")), Stream::kDisk), raw);
}

TEST_F(QemuInput, UnreachableNbdUriIsOneError) {
  const std::string uri = "nbd+unix:///?socket=" + tmp().path().string() + "/none.sock";
  EXPECT_TRUE(is_cli_error(hexz({"pack", "--disk", uri, "-o", output("x.hxz")}),
                           "cannot connect to disk image '" + uri + "'"));
  EXPECT_FALSE(fs::exists(output("x.hxz")));
}

TEST_F(QemuInput, OutputNamingTheContainerIsRefusedAndLeavesItIntact) {
  const std::string image = in_dir() + "/d.qcow2";
  run_ok({"/usr/bin/qemu-img", "convert", "-O", "qcow2", raw_image(), image});
  const Bytes before = read_file(image);
  EXPECT_TRUE(is_cli_error(hexz({"pack", "--force", "--disk", image, "-o", image}),
                           "is the same file as the disk image"));
  EXPECT_EQ(read_file(image), before);
}

/// An overlay over a copy of `raw_path` written by qemu-io `commands`, then pointed (without
/// checking) at an nbdkit export that is not running: commit must not need its backing file.
std::string make_overlay(const std::string& dir, const std::string& raw_path,
                         const std::vector<std::string>& commands) {
  const std::string backing = dir + "/backing.raw";
  fs::copy_file(raw_path, backing);
  const std::string overlay = dir + "/overlay.qcow2";
  run_process(
      {"/usr/bin/qemu-img", "create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", overlay});
  std::vector<std::string> io = {"/usr/bin/qemu-io"};
  for (const auto& c : commands) {
    io.push_back("-c");
    io.push_back(c);
  }
  io.push_back(overlay);
  EXPECT_EQ(run_process(io).exit_code, 0);
  EXPECT_EQ(run_process({"/usr/bin/qemu-img", "rebase", "-u", "-F", "raw", "-b",
                         "nbd+unix:///?socket=" + dir + "/not-running.sock", overlay})
                .exit_code,
            0);
  fs::remove(backing);
  return overlay;
}

TEST_F(QemuInput, CommitFoldsTheOverlaysWritesIntoAThinSnapshot) {
  Bytes expected;
  const std::string raw_path = raw_image(&expected);
  const std::string base = output("base.hxz");
  hexz::pack(options(raw_path, "", base));
  // Data over data, data into the hole, zeros over data (must win over the base).
  const std::string overlay =
      make_overlay(tmp().path().string(), raw_path,
                   {"write -P 0xab 1M 64k", "write -P 0xcd 10M 8k", "write -z 2M 128k"});
  std::fill(expected.begin() + (1 << 20), expected.begin() + (1 << 20) + (64 << 10), 0xab);
  std::fill(expected.begin() + (10 << 20), expected.begin() + (10 << 20) + (8 << 10), 0xcd);
  std::fill(expected.begin() + (2 << 20), expected.begin() + (2 << 20) + (128 << 10), 0);
  const std::string out = output("new.hxz");
  const ProcessResult r = hexz({"commit", overlay, "--base", base, "-o", out});
  ASSERT_TRUE(exited_ok(r));
  EXPECT_NE(r.err.find("committed 24.00 MiB"), std::string::npos) << r.err;
  const auto snap = hexz::Snapshot::open(out);
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), expected);
  // Thin: it depends on the base and stores only the written chunks (72 KiB, compressible).
  const auto info = snap->info();
  ASSERT_EQ(info.bases.size(), 1u);
  EXPECT_LT(info.streams[0].stored_bytes, uint64_t{16} << 10);
  EXPECT_FALSE(snap->has_stream(Stream::kMemory));
}

TEST_F(QemuInput, CommitOfAnUntouchedOverlayStoresNothing) {
  Bytes expected;
  const std::string raw_path = raw_image(&expected);
  const std::string base = output("base.hxz");
  hexz::pack(options(raw_path, "", base));
  const std::string overlay = make_overlay(tmp().path().string(), raw_path, {"read 0 4k"});
  hexz::PackOptions o;
  o.output_path = output("new.hxz");
  o.base_path = base;
  const auto result = hexz::commit_overlay(overlay, o);
  EXPECT_EQ(result.streams[0].blocks, 0u);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(o.output_path), Stream::kDisk), expected);
}

TEST_F(QemuInput, CommitOntoAnEncryptedBaseIsAnEncryptedThinSnapshot) {
  Bytes expected;
  const std::string raw_path = raw_image(&expected);
  const std::string base = output("base.hxz");
  auto b = options(raw_path, "", base);
  b.encrypt = true;
  b.password = "base password";
  b.kdf_iterations = 1;
  b.kdf_memory_kib = hexz::kMinKdfMemoryKib;
  b.kdf_parallelism = 1;
  hexz::pack(b);
  const std::string overlay =
      make_overlay(tmp().path().string(), raw_path, {"write -P 0xab 1M 64k"});
  std::fill(expected.begin() + (1 << 20), expected.begin() + (1 << 20) + (64 << 10), 0xab);
  const std::string out = output("new.hxz");
  // Without --encrypt an encrypted base is refused before anything is asked or written.
  EXPECT_TRUE(is_cli_error(hexz({"commit", overlay, "--base", base, "-o", out}),
                           "is encrypted: a commit onto it must be encrypted too"));
  const std::string pw_base = input(
      "pw-base.txt", Bytes{'b', 'a', 's', 'e', ' ', 'p', 'a', 's', 's', 'w', 'o', 'r', 'd', '\n'});
  const std::string pw_new = input("pw-new.txt", Bytes{'n', 'e', 'w', '\n'});
  ProcessResult r =
      hexz({"commit", overlay, "--base", base, "-o", out, "--encrypt", "--password-file", pw_new});
  EXPECT_TRUE(is_cli_error(r, "--base-password-file")) << r.err;
  EXPECT_FALSE(fs::exists(out));
  r = hexz({"commit", overlay, "--base", base, "-o", out, "--encrypt", "--password-file", pw_new,
            "--base-password-file", pw_base});
  ASSERT_TRUE(exited_ok(r)) << r.err;
  hexz::OpenOptions o;
  o.password = "new";  // the base's password is not needed to read the chain
  const auto snap = hexz::Snapshot::open(out, o);
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), expected);
  const auto info = snap->info();
  EXPECT_TRUE(info.encrypted);
  ASSERT_EQ(info.bases.size(), 1u);
  EXPECT_LT(info.streams[0].stored_bytes, uint64_t{16} << 10);
  EXPECT_TRUE(snap->verify().ok);
  // An unencrypted base refuses an encrypted commit.
  const std::string plain = output("plain.hxz");
  hexz::pack(options(raw_path, "", plain));
  EXPECT_TRUE(is_cli_error(hexz({"commit", overlay, "--base", plain, "-o", output("x.hxz"),
                                 "--encrypt", "--password-file", pw_new}),
                           "is not encrypted: an encrypted commit needs an encrypted base"));
}

TEST_F(QemuInput, CommitErrors) {
  const std::string raw_path = raw_image();
  const std::string base = output("base.hxz");
  hexz::pack(options(raw_path, "", base));
  const std::string out = output("new.hxz");
  EXPECT_TRUE(is_usage_error(hexz({"commit", raw_path, "-o", out})));
  EXPECT_TRUE(is_cli_error(hexz({"commit", raw_path, "--base", base, "-o", out}),
                           "overlay '" + raw_path + "' is a raw file, not a qcow2"));
  EXPECT_TRUE(is_cli_error(hexz({"commit", raw_path, "--base", output("none.hxz"), "-o", out})));
  const std::string bad = in_dir() + "/bad.qcow2";
  write_file(bad, with_magic(std::string("QFI\xfb\0\0\0\3", 8), 0));
  EXPECT_TRUE(is_cli_error(hexz({"commit", bad, "--base", base, "-o", out}),
                           "qemu-nbd cannot read overlay '" + bad + "' as qcow2"));
  EXPECT_FALSE(fs::exists(out));
  const ProcessResult help = hexz({"commit", "--help"});
  EXPECT_NE(help.out.find("--base"), std::string::npos);
}

}  // namespace
}  // namespace hexz_test
