// The `hexz` command line as a VM operator uses it (issue 15): outputs that are inputs, devices,
// symlinks, standard output, FIFOs, the umask, signals and SIGKILL, exit codes and messages,
// help text, password sources. Runs the real binary as a separate process.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_checks.hpp"
#include "support/fixture.hpp"
#include "support/json.hpp"
#include "support/layout.hpp"
#include "support/process.hpp"
#include "support/test_data.hpp"

#ifndef HEXZ_CLI_PATH
#error "HEXZ_CLI_PATH must name the hexz binary"
#endif

namespace hexz_test {
namespace {

class CliOperator : public HexzTest {
 protected:
  void SetUp() override {
    ::unsetenv("HEXZ_PASSWORD");
    ::unsetenv("HEXZ_PASSWORD_FD");
    ::unsetenv("HEXZ_PASSCOMMAND");
  }

  static ProcessResult hexz(std::vector<std::string> args, const RunOptions& ro = {}) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    return run_process(args, ro);
  }

  /// Runs `script` with /bin/sh -c; "$HEXZ" names the binary.
  static ProcessResult shell(const std::string& script, std::vector<std::string> env = {}) {
    RunOptions ro;
    env.push_back(std::string("HEXZ=") + HEXZ_CLI_PATH);
    ro.extra_env = std::move(env);
    ro.new_session = true;  // No terminal: nothing may prompt.
    return run_process({"/bin/sh", "-c", script}, ro);
  }

  /// Packs `disk` into out/<name>.hxz; returns the path.
  std::string pack(const std::string& name, const Bytes& disk,
                   std::vector<std::string> extra = {}) {
    std::string out = output(name + ".hxz");
    std::vector<std::string> args = {"pack", "--disk", input(name + ".img", disk), "-o", out, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(exited_ok(hexz(args)));
    return out;
  }

  /// Names in out/ that look like temporary files.
  std::vector<std::string> temp_files() const {
    std::vector<std::string> found;
    for (const std::string& name : list_dir(out_dir())) {
      if (name.find(".tmp-") != std::string::npos) found.push_back(name);
    }
    return found;
  }

  static mode_t mode_of(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
};

// --- output == input -----------------------------------------------------------------------

TEST_F(CliOperator, ExtractOntoItsOwnSnapshotIsRefusedUnderAnyName) {
  Bytes disk = make_disk_image(300000, 1);
  std::string snap = pack("s", disk);
  const Bytes before = read_file(snap);
  std::string hard = output("hard.hxz");
  ASSERT_EQ(::link(snap.c_str(), hard.c_str()), 0);
  std::string sym = output("sym.hxz");
  ASSERT_EQ(::symlink(snap.c_str(), sym.c_str()), 0);
  const std::string dotted = out_dir() + "/./s.hxz";
  for (const std::string& target : {snap, hard, sym, dotted}) {
    ProcessResult r = hexz({"extract", snap, "--disk", target, "--force", "-q"});
    EXPECT_TRUE(is_cli_error(r, "is the snapshot being read")) << target;
    ProcessResult m = hexz({"extract", snap, "--disk", output("d.img"), "--memory", target, "-f"});
    EXPECT_FALSE(exited_ok(m)) << target;
  }
  EXPECT_EQ(read_file(snap), before);
  EXPECT_FALSE(fs::exists(output("d.img")));
  // Two outputs that are one file (a hard link) are refused too.
  write_file(output("one.img"), Bytes{1});
  ASSERT_EQ(::link(output("one.img").c_str(), output("two.img").c_str()), 0);
  Bytes mem = make_disk_image(100000, 2);
  std::string both = output("both.hxz");
  ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", input("d2.img", disk), "--memory",
                              input("m2.img", mem), "-o", both, "-q"})));
  EXPECT_TRUE(is_cli_error(hexz({"extract", both, "--disk", output("one.img"), "--memory",
                                 output("two.img"), "-f", "-q"}),
                           "same file as another output"));
  // pack and flatten refuse an output that is an input under another name as well.
  EXPECT_TRUE(is_cli_error(hexz({"flatten", snap, "-o", hard, "-f", "-q"}), "same file"));
  // flatten of a thin snapshot onto its own base.
  std::string thin = output("thin.hxz");
  Bytes edited = disk;
  edited[1000] ^= 1;
  ASSERT_TRUE(exited_ok(
      hexz({"pack", "--disk", input("e.img", edited), "--base", snap, "-o", thin, "-q"})));
  EXPECT_TRUE(is_cli_error(hexz({"flatten", thin, "-o", hard, "-f", "-q"}),
                           "same file as the base snapshot"));
  EXPECT_TRUE(is_cli_error(
      hexz({"pack", "--disk", input("s.img", disk), "-o", out_dir() + "/../in/s.img", "-f"}),
      "same file"));
  EXPECT_EQ(read_file(snap), before);
}

// --- devices, FIFOs, symlinks, "-" ---------------------------------------------------------

TEST_F(CliOperator, PackAndFlattenNeverReplaceADeviceOrFifo) {
  Bytes disk = make_disk_image(100000, 3);
  std::string snap = pack("s", disk);
  std::string fifo = output("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& target : {std::string("/dev/null"), fifo}) {
    EXPECT_TRUE(
        is_cli_error(hexz({"pack", "--disk", input("s.img", disk), "-o", target, "--force", "-q"}),
                     "is not a regular file"))
        << target;
    EXPECT_TRUE(is_cli_error(hexz({"flatten", snap, "-o", target, "--force", "-q"}),
                             "is not a regular file"))
        << target;
  }
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null was replaced";
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(CliOperator, SymlinkOutputsAreWrittenThrough) {
  Bytes disk = make_disk_image(200000, 4);
  std::string target = output("target.hxz");
  write_file(target, Bytes{'o', 'l', 'd'});
  std::string link = output("link.hxz");
  ASSERT_EQ(::symlink("target.hxz", link.c_str()), 0);  // Relative, as users make them.
  ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", input("d.img", disk), "-o", link, "-f", "-q"})));
  struct stat st {};
  ASSERT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link was replaced by a file";
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(target), hexz::Stream::kDisk), disk);

  std::string img = output("img");
  write_file(img, Bytes{'x'});
  std::string img_link = output("img.link");
  ASSERT_EQ(::symlink(img.c_str(), img_link.c_str()), 0);
  ASSERT_TRUE(exited_ok(hexz({"extract", target, "--disk", img_link, "-f", "-q"})));
  ASSERT_EQ(::lstat(img_link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(read_file(img), disk);
  EXPECT_TRUE(temp_files().empty());
}

TEST_F(CliOperator, ExtractToStandardOutputAndCharacterDevices) {
  Bytes disk = make_disk_image(700000, 5);
  for (size_t i = 100000; i < 400000; ++i) disk[i] = 0;  // A zero run, written as zeros.
  std::string snap = pack("s", disk);
  RunOptions ro;
  ro.stdout_path = output("stdout.img");
  ProcessResult r = hexz({"extract", snap, "--disk", "-", "-q"}, ro);
  ASSERT_TRUE(exited_ok(r));
  EXPECT_EQ(read_file(output("stdout.img")), disk);
  EXPECT_FALSE(fs::exists(tmp().path() / "-"));
  EXPECT_FALSE(fs::exists("-"));
  // A character device is written as a stream, never replaced.
  ASSERT_TRUE(exited_ok(hexz({"extract", snap, "--disk", "/dev/null", "-q"})));
  struct stat st {};
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  // Through a pipe too.
  ProcessResult piped =
      shell("\"$HEXZ\" extract '" + snap + "' --disk - -q | cat > '" + output("piped.img") + "'");
  ASSERT_TRUE(exited_ok(piped));
  EXPECT_EQ(read_file(output("piped.img")), disk);
  // Standard output that is the snapshot itself is refused.
  ProcessResult s = run_process({"/bin/sh", "-c",
                                 std::string("exec \"") + HEXZ_CLI_PATH + "\" extract '" + snap +
                                     "' --disk - -q >> '" + snap + "'"});
  EXPECT_TRUE(is_cli_error(s, "is the snapshot being read"));
  ProcessResult c = run_process(
      {"/bin/sh", "-c",
       std::string("exec \"") + HEXZ_CLI_PATH + "\" cat '" + snap + "' >> '" + snap + "'"});
  EXPECT_TRUE(is_cli_error(c, "standard output is the snapshot being read"));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(snap), hexz::Stream::kDisk), disk);
}

TEST_F(CliOperator, FifosWithoutPeerAreRefusedWithoutBlocking) {
  Bytes disk = make_disk_image(100000, 6);
  std::string snap = pack("s", disk);
  std::string fifo = output("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  // Each of these blocked forever in open() before.
  EXPECT_TRUE(is_cli_error(hexz({"extract", snap, "--disk", fifo, "-q"}), "has no reader"));
  EXPECT_TRUE(
      is_cli_error(hexz({"pack", "--disk", fifo, "-o", output("x.hxz"), "-q"}), "is a FIFO"));
  EXPECT_TRUE(is_cli_error(hexz({"info", fifo}), "not a regular file"));
  EXPECT_TRUE(is_cli_error(hexz({"verify", fifo}), "not a regular file"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_FALSE(fs::exists(output("x.hxz")));
  // A FIFO with a reader receives the stream.
  ProcessResult r =
      shell("cat '" + fifo + "' > '" + output("got.img") + "' & sleep 0.3; \"$HEXZ\" extract '" +
            snap + "' --disk '" + fifo + "' -q; s=$?; wait; exit $s");
  ASSERT_TRUE(exited_ok(r));
  EXPECT_EQ(read_file(output("got.img")), disk);
}

TEST_F(CliOperator, DashIsNeverAFileNamedDash) {
  Bytes disk = make_disk_image(100000, 7);
  std::string img = input("d.img", disk);
  RunOptions ro;
  ro.working_dir = out_dir();
  ProcessResult r = hexz({"pack", "--disk", img, "-o", "-"}, ro);
  EXPECT_TRUE(is_usage_error(r));
  EXPECT_NE(r.err.find("hexz: error: -o -: a snapshot cannot be written to standard output"),
            std::string::npos)
      << r.err;
  r = hexz({"pack", "--disk", "-", "--memory", "-", "-o", "x.hxz"}, ro);
  EXPECT_TRUE(is_usage_error(r));
  EXPECT_NE(r.err.find("only one image can come from standard input"), std::string::npos) << r.err;
  std::string snap = pack("s", disk);
  EXPECT_TRUE(is_usage_error(hexz({"flatten", snap, "-o", "-"}, ro)));
  EXPECT_FALSE(fs::exists(output("-")));
}

TEST_F(CliOperator, PackReadsAPipeOnStandardInputAsAStream) {
  Bytes disk = make_disk_image(3u << 20, 18);
  for (size_t i = 500000; i < 1500000; ++i) disk[i] = 0;
  std::string img = input("d.img", disk);
  Bytes mem = make_disk_image(300000, 19);
  std::string mem_img = input("m.img", mem);
  // The same bytes from a file and from a pipe give the same snapshot (fixed chunks and CDC).
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--cdc"}}) {
    std::string opts;
    for (const std::string& e : extra) opts += " " + e;
    std::string from_file = output("file.hxz");
    std::string from_pipe = output("pipe.hxz");
    std::vector<std::string> args = {"pack", "--disk",  img,  "--memory", mem_img,
                                     "-o",   from_file, "-q", "-f"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(exited_ok(hexz(args)));
    ProcessResult r = shell("cat '" + img + "' | \"$HEXZ\" pack --disk - --memory '" + mem_img +
                            "' -o '" + from_pipe + "' -q -f" + opts);
    ASSERT_TRUE(exited_ok(r)) << opts;
    auto snap = hexz::Snapshot::open(from_pipe);
    EXPECT_EQ(snap->size(hexz::Stream::kDisk), disk.size());
    EXPECT_EQ(read_stream(*snap, hexz::Stream::kDisk), disk) << opts;
    EXPECT_EQ(read_stream(*snap, hexz::Stream::kMemory), mem) << opts;
    EXPECT_TRUE(files_equal(from_file, from_pipe)) << "a stream packs like its file" << opts;
    EXPECT_TRUE(snap->verify().ok);
  }
  // An empty stream is an empty disk stream.
  ProcessResult r =
      shell("\"$HEXZ\" pack --disk - -o '" + output("empty.hxz") + "' -q < /dev/null");
  ASSERT_TRUE(exited_ok(r));
  EXPECT_EQ(hexz::Snapshot::open(output("empty.hxz"))->size(hexz::Stream::kDisk), 0u);
  EXPECT_TRUE(is_usage_error(hexz({"pack", "--disk", "-", "-o", output("t.hxz"), "--train-dict"})));
}

/// A loop device on a file in the test's directory; detached by the destructor.
class LoopDevice {
 public:
  LoopDevice(const std::string& backing, uint64_t size) {
    write_file(backing, Bytes(static_cast<size_t>(size), 0x5a));
    ProcessResult r = run_process({"/usr/sbin/losetup", "-f", "--show", backing});
    if (r.exit_code == 0 && !r.out.empty()) device_ = lines_of(r.out).at(0);
    why_ = r.err;
  }
  ~LoopDevice() {
    if (!device_.empty()) run_process({"/usr/sbin/losetup", "-d", device_});
  }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;
  const std::string& device() const { return device_; }
  const std::string& why() const { return why_; }

 private:
  std::string device_;
  std::string why_;
};

TEST_F(CliOperator, ExtractWritesABlockDeviceInPlace) {
  if (::geteuid() != 0 || ::access("/usr/sbin/losetup", X_OK) != 0) {
    GTEST_SKIP() << "needs root and losetup for a loop device";
  }
  Bytes disk = make_disk_image(1u << 20, 8);
  for (size_t i = 200000; i < 600000; ++i) disk[i] = 0;  // Zero run: BLKZEROOUT or zeros.
  std::string snap = pack("s", disk);
  LoopDevice small(tmp().file("small.img"), 512 * 1024);
  if (small.device().empty()) GTEST_SKIP() << "losetup failed: " << small.why();
  LoopDevice big(tmp().file("big.img"), 2u << 20);
  if (big.device().empty()) GTEST_SKIP() << "losetup failed: " << big.why();

  // Without --force a device is not overwritten; a too small one is refused before writing.
  EXPECT_TRUE(is_cli_error(hexz({"extract", snap, "--disk", big.device(), "-q"}), "--force"));
  EXPECT_TRUE(
      is_cli_error(hexz({"extract", snap, "--disk", small.device(), "-f", "-q"}), "too small"));
  ASSERT_TRUE(exited_ok(hexz({"extract", snap, "--disk", big.device(), "-f", "-q"})));
  struct stat st {};
  ASSERT_EQ(::stat(big.device().c_str(), &st), 0);
  EXPECT_TRUE(S_ISBLK(st.st_mode)) << "the device node was replaced";
  ProcessResult r =
      run_process({"/bin/sh", "-c", "head -c " + std::to_string(disk.size()) + " " + big.device()});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), disk);
  // The bytes past the stream are untouched.
  r = run_process({"/bin/sh", "-c", "tail -c 16 " + big.device()});
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), Bytes(16, 0x5a));
}

// --- umask --------------------------------------------------------------------------------

TEST_F(CliOperator, OutputsHonourTheUmask) {
  Bytes disk = make_disk_image(100000, 9);
  std::string img = input("d.img", disk);
  for (mode_t mask : {mode_t{077}, mode_t{022}}) {
    RunOptions ro;
    ro.umask = mask;
    const mode_t want = 0666 & ~mask;
    const std::string tag = std::to_string(mask);
    std::string snap = output("s" + tag + ".hxz");
    ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", img, "-o", snap, "-q"}, ro)));
    EXPECT_EQ(mode_of(snap), want) << "pack, umask " << tag;
    std::string flat = output("f" + tag + ".hxz");
    ASSERT_TRUE(exited_ok(hexz({"flatten", snap, "-o", flat, "-q"}, ro)));
    EXPECT_EQ(mode_of(flat), want) << "flatten, umask " << tag;
    std::string ex = output("e" + tag + ".img");
    ASSERT_TRUE(exited_ok(hexz({"extract", snap, "--disk", ex, "-q"}, ro)));
    EXPECT_EQ(mode_of(ex), want) << "extract, umask " << tag;
  }
}

// --- signals and SIGKILL ------------------------------------------------------------------

/// An input that takes a while to pack (incompressible, zstd at a high level, one thread).
Bytes slow_input() {
  return random_bytes(24u << 20, 10);
}

TEST_F(CliOperator, TwoSignalsCloseTogetherStillRemoveTheTempFile) {
  std::string img = input("d.img", slow_input());
  std::string snap = output("s.hxz");
  for (int run = 0; run < 6; ++run) {
    RunOptions ro;
    const int delay_ms = 150 + 40 * run;
    ro.on_start = [delay_ms](pid_t pid) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      ::kill(pid, SIGTERM);
      ::kill(pid, SIGINT);  // As `timeout` or a process-group kill send them.
      ::kill(pid, SIGTERM);
    };
    ProcessResult r = hexz({"pack", "--disk", img, "-o", snap, "-q", "--threads", "1",
                            "--compression", "zstd", "--level", "19"},
                           ro);
    if (r.exit_code == 0) continue;  // Finished before the signals: nothing to check.
    EXPECT_FALSE(r.signaled) << "killed by a signal before cleaning up, run " << run;
    EXPECT_TRUE(r.exit_code == 128 + SIGTERM || r.exit_code == 128 + SIGINT) << r.exit_code;
    EXPECT_FALSE(fs::exists(snap));
    EXPECT_EQ(temp_files(), std::vector<std::string>{}) << "run " << run;
  }
}

TEST_F(CliOperator, SigkillAtRandomPointsNeverTouchesTheDestination) {
  std::string img = input("d.img", random_bytes(12u << 20, 11));
  std::string existing = output("s.hxz");
  ASSERT_TRUE(exited_ok(hexz(
      {"pack", "--disk", input("old.img", make_disk_image(50000, 12)), "-o", existing, "-q"})));
  const Bytes before = read_file(existing);
  std::string fresh = output("new.hxz");
  std::mt19937 rng(2026);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  size_t leftovers = 0;
  for (int run = 0; run < 20 && std::chrono::steady_clock::now() < deadline; ++run) {
    const bool replace = run % 2 == 0;
    const std::string dest = replace ? existing : fresh;
    RunOptions ro;
    const int delay_ms = static_cast<int>(rng() % 600);
    ro.on_start = [delay_ms](pid_t pid) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      ::kill(pid, SIGKILL);
    };
    ProcessResult r = hexz({"pack", "--disk", img, "-o", dest, "-f", "-q", "--threads", "1",
                            "--compression", "zstd", "--level", "12"},
                           ro);
    if (!r.signaled) {
      // Finished first: a complete snapshot; put the old one back for the next runs.
      ASSERT_TRUE(exited_ok(r));
      EXPECT_EQ(read_stream(*hexz::Snapshot::open(dest), hexz::Stream::kDisk), read_file(img));
      if (replace) write_file(existing, before);
      if (!replace) fs::remove(fresh);
      continue;
    }
    // A kill that lands after the rename (while the process exits) finds the new
    // snapshot complete in place; anything else must leave the destination untouched.
    const auto complete_new = [&](const std::string& path) {
      return read_stream(*hexz::Snapshot::open(path), hexz::Stream::kDisk) == read_file(img);
    };
    if (read_file(existing) != before) {
      EXPECT_TRUE(replace && complete_new(existing)) << "run " << run;
      write_file(existing, before);
    }
    if (!replace && fs::exists(fresh)) {
      EXPECT_TRUE(complete_new(fresh)) << "run " << run;
      fs::remove(fresh);
    }
    for (const std::string& name : temp_files()) {
      // <dest name>.tmp-<pid>-<6 characters>
      EXPECT_TRUE(name.rfind("s.hxz.tmp-", 0) == 0 || name.rfind("new.hxz.tmp-", 0) == 0) << name;
      ++leftovers;
    }
  }
  // The next pack into the directory removes what killed packs of that name left behind.
  ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", input("small.img", make_disk_image(50000, 13)),
                              "-o", existing, "-f", "-q"})));
  ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", input("small.img", make_disk_image(50000, 13)),
                              "-o", fresh, "-f", "-q"})));
  EXPECT_EQ(temp_files(), std::vector<std::string>{}) << leftovers << " leftovers seen";
}

TEST_F(CliOperator, CleanupSparesLiveWritersAndOtherFiles) {
  Bytes disk = make_disk_image(50000, 14);
  // A temp name of a live process (ourselves), one of another output name, and a look-alike.
  const std::string live = output("s.hxz.tmp-" + std::to_string(::getpid()) + "-AbC123");
  const std::string other = output("t.hxz.tmp-999999-AbC123");
  const std::string odd = output("s.hxz.tmp-notapid");
  for (const std::string& p : {live, other, odd}) write_file(p, Bytes{1});
  ASSERT_TRUE(
      exited_ok(hexz({"pack", "--disk", input("d.img", disk), "-o", output("s.hxz"), "-q"})));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(odd));
}

// --- exit codes and messages -----------------------------------------------------------------

TEST_F(CliOperator, ParseAndRangeErrorsShareOnePrefixAndExitTwo) {
  ProcessResult r = hexz({"pakc"});
  EXPECT_TRUE(is_usage_error(r));
  EXPECT_EQ(r.err,
            "hexz: error: unknown command 'pakc' (run 'hexz --help' for the list of commands)\n");
  r = hexz({});
  EXPECT_TRUE(is_usage_error(r));
  EXPECT_EQ(r.err.rfind("hexz: error: no command given", 0), 0u) << r.err;
  Bytes disk = make_disk_image(50000, 15);
  std::string img = input("d.img", disk);
  const std::vector<std::vector<std::string>> cases = {
      {"pack", "--disk", img, "-o", output("x.hxz"), "--level", "high"},  // malformed
      {"pack", "--disk", img, "-o", output("x.hxz"), "--level", "99"},    // out of range
      {"pack", "--disk", img, "-o", output("x.hxz"), "--level", "-5"},
      {"pack", "--disk", img, "-o", output("x.hxz"), "--compression", "lz4", "--level", "13"},
      {"pack", "--disk", img, "-o", output("x.hxz"), "--chunk-size", "3000"},
      {"pack", "--disk", img, "-o", output("x.hxz"), "--block-size", "32M"},
      {"pack", "--disk", img, "-o", output("x.hxz"), "--threads", "100000"},
      {"pack", "--disk", img},                                   // missing -o
      {"pack", "--disk", img, "-o", output("x.hxz"), "--nope"},  // unknown option
      {"extract", "x.hxz"},
      {"cat", "x.hxz", "--offset", "lots"},
      {"verify", "x.hxz", "--threads", "-1"},
  };
  for (const auto& args : cases) {
    r = hexz(args);
    EXPECT_TRUE(is_usage_error(r)) << args.back();
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("hexz: error: ", 0), 0u) << r.err;
  }
  r = hexz({"pack", "--disk", img, "-o", output("x.hxz"), "--level", "99"});
  EXPECT_NE(r.err.find("--level 99 is out of range for zstd: use 1 to 22"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(output("x.hxz")));
}

TEST_F(CliOperator, VerifyJsonAndExitCodes) {
  Bytes disk = text_bytes(400000, 16);
  std::string snap = pack("s", disk, {"--block-size", "16K"});
  ProcessResult r = hexz({"verify", "--json", snap});
  ASSERT_TRUE(exited_ok(r));
  Json j = parse_json(r.out);
  EXPECT_TRUE(j["ok"].boolean);
  EXPECT_EQ(j["exit_status"].u64(), 0u);
  EXPECT_EQ(j["problem_count"].u64(), 0u);
  EXPECT_TRUE(j["problems"].array.empty());
  EXPECT_GT(j["blocks_checked"].u64(), 10u);

  // Damage two data blocks (the first and the last): corrupt, exit 3, both problems listed.
  Bytes bad = read_file(snap);
  const layout::Map map = layout::read_map(bad);
  ASSERT_EQ(map.pages.size(), 1u);  // written after the stream's blocks
  const uint64_t blocks_end = map.pages[0].offset;
  ASSERT_GT(blocks_end, 4096u + 4096u);
  bad[600] ^= 0x40;
  bad[blocks_end - 100] ^= 0x40;
  write_file(snap, bad);
  r = hexz({"verify", "--json", snap});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  j = parse_json(r.out);
  EXPECT_FALSE(j["ok"].boolean);
  EXPECT_EQ(j["exit_status"].u64(), 3u);
  ASSERT_GE(j["problems"].array.size(), 2u) << r.out;  // verify goes on past the first
  for (const Json& p : j["problems"].array) {
    EXPECT_EQ(p["kind"].text, "corrupt");
    EXPECT_FALSE(p["message"].text.empty());
  }
  EXPECT_NE(j["problems"].array[0]["message"].text, j["problems"].array[1]["message"].text);
  EXPECT_GE(j["problem_count"].u64(), j["problems"].array.size());
  EXPECT_GE(j["corrupt_count"].u64(), 2u);
  r = hexz({"verify", snap, "-q"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err.rfind("hexz: error: corrupt: ", 0), 0u) << r.err;
  // Not openable at all: 1 (an error, not a verdict on the snapshot).
  EXPECT_TRUE(is_cli_error(hexz({"verify", output("missing.hxz")}), "missing.hxz"));
}

TEST_F(CliOperator, ThreadsOnExtractVerifyAndCatGiveTheSameBytes) {
  const Bytes disk = make_disk_image(3u << 20, 17);
  const std::string snap = pack("t", disk, {"--block-size", "16K"});
  for (const char* threads : {"1", "3"}) {
    ProcessResult r = hexz({"cat", snap, "--threads", threads});
    ASSERT_TRUE(exited_ok(r)) << threads;
    EXPECT_TRUE(Bytes(r.out.begin(), r.out.end()) == disk) << "cat --threads " << threads;
    const std::string out = output(std::string("x") + threads + ".img");
    ASSERT_TRUE(exited_ok(hexz({"extract", snap, "--disk", out, "-q", "--threads", threads})));
    EXPECT_EQ(first_difference(read_file(out), disk), -1) << "extract --threads " << threads;
    r = hexz({"verify", "--json", snap, "--threads", threads});
    ASSERT_TRUE(exited_ok(r)) << threads;
    EXPECT_TRUE(parse_json(r.out)["ok"].boolean);
  }
}

// Pack and extract write whole pages with O_DIRECT where the filesystem takes it, the rest
// through the page cache. Content-defined chunks put data runs at unaligned offsets, with zero
// gaps shorter than a page between them; the image spans several 4 MiB pieces and staging
// buffers. Every combination must give the same bytes, and the same snapshot.
TEST_F(CliOperator, DirectAndBufferedWritesGiveTheSameBytes) {
  Bytes disk = make_disk_image(9u << 20, 23);
  for (size_t at = 1000; at + 3000 < disk.size(); at += 997 * 1024 + 333) {
    std::fill_n(disk.begin() + static_cast<std::ptrdiff_t>(at), 700 + at % 2500, uint8_t{0});
  }
  std::fill_n(disk.begin() + (5 << 20), 1 << 20, uint8_t{0});  // a long zero run: a hole
  disk.resize(disk.size() - 1234);                             // a partial last page
  const std::string in = input("cdc.img", disk);
  for (const char* chunking : {"--cdc", "--chunk-size=4K"}) {
    std::string first_snapshot;
    for (const char* direct : {"1", "0"}) {
      RunOptions ro;
      ro.extra_env = {std::string("HEXZ_DIRECT_IO=") + direct};
      const std::string snap = output(std::string(chunking) + direct + ".hxz");
      ASSERT_TRUE(exited_ok(
          hexz({"pack", "--disk", in, chunking, "--compression", "lz4", "-q", "-o", snap}, ro)))
          << chunking << direct;
      if (first_snapshot.empty()) {
        first_snapshot = snap;
      } else {
        EXPECT_TRUE(files_equal(first_snapshot, snap)) << "the snapshot depends on O_DIRECT";
      }
      for (const char* sync : {"", "--no-sync"}) {
        const std::string out = output(std::string("x") + chunking + direct + sync + ".img");
        std::vector<std::string> args = {"extract", snap, "--disk", out, "-q"};
        if (*sync != 0) args.emplace_back(sync);
        ASSERT_TRUE(exited_ok(hexz(args, ro))) << direct << sync;
        EXPECT_EQ(first_difference(read_file(out), disk), -1)
            << chunking << " HEXZ_DIRECT_IO=" << direct << " " << sync;
        if (filesystem_supports_holes(out_dir())) {
          EXPECT_LT(allocated_bytes(out), disk.size() - (1u << 19)) << "the zero run is a hole";
        }
      }
    }
  }
}

// --- help ---------------------------------------------------------------------------------

TEST_F(CliOperator, HelpIsReadable) {
  for (const char* cmd : {"pack", "info", "cat", "extract", "verify", "flatten", "diff", "mount"}) {
    ProcessResult r = hexz({cmd, "--help"});
    ASSERT_TRUE(exited_ok(r)) << cmd;
    EXPECT_EQ(r.out.find("67108864"), std::string::npos) << cmd << ": raw byte count\n" << r.out;
    EXPECT_EQ(r.out.find(":UINT"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find(":INT"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find(" in ["), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("Excludes:"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("Needs:"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("--foreground,-f"), std::string::npos) << cmd;
    EXPECT_EQ(r.out.find("-f,--foreground"), std::string::npos) << cmd;
  }
  EXPECT_NE(hexz({"mount", "--help"}).out.find("--cache-size SIZE=64M"), std::string::npos);
  EXPECT_NE(hexz({"pack", "--help"}).out.find("--chunk-size SIZE=4K"), std::string::npos);
  EXPECT_NE(hexz({"mount", "--help"}).out.find("allow_other"), std::string::npos);
  for (const char* cmd : {"extract", "verify", "cat", "pack", "flatten"}) {
    EXPECT_NE(hexz({cmd, "--help"}).out.find("--threads N=0"), std::string::npos) << cmd;
  }
  EXPECT_NE(hexz({"verify", "--help"}).out.find("3 corrupt"), std::string::npos);
  EXPECT_NE(hexz({"diff", "--help"}).out.find("1 they differ"), std::string::npos);
  EXPECT_TRUE(is_usage_error(hexz({"mount", "s.hxz", "/mnt", "-o", "exec"})));
}

// --- passwords ----------------------------------------------------------------------------

class CliOperatorPasswords : public CliOperator {
 protected:
  void SetUp() override {
    CliOperator::SetUp();
    disk_ = make_disk_image(200000, 17);
    pw_ = tmp().file("pw");
    write_file(pw_, Bytes{'s', '3', 'c', 'r', '3', 't', '\n'});
    snap_ = output("enc.hxz");
    ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", input("d.img", disk_), "-o", snap_, "-q",
                                "--encrypt", "--password-file", pw_})));
    plain_ = pack("plain", disk_);
  }
  Bytes disk_;
  std::string pw_, snap_, plain_;
};

TEST_F(CliOperatorPasswords, FromADescriptorAndACommand) {
  ProcessResult r = shell("\"$HEXZ\" cat '" + snap_ + "' --password-fd 3 3<'" + pw_ + "'");
  ASSERT_TRUE(exited_ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), disk_);
  r = shell("\"$HEXZ\" cat '" + snap_ + "' 4<'" + pw_ + "'", {"HEXZ_PASSWORD_FD=4"});
  ASSERT_TRUE(exited_ok(r));
  EXPECT_EQ(r.out.size(), disk_.size());
  r = shell("\"$HEXZ\" verify -q '" + snap_ + "' --password-command 'printf s3cr3t'");
  EXPECT_TRUE(exited_ok(r));
  r = shell("\"$HEXZ\" verify -q '" + snap_ + "'", {"HEXZ_PASSCOMMAND=echo s3cr3t"});
  EXPECT_TRUE(exited_ok(r));
  // Pack takes them too.
  r = shell("\"$HEXZ\" pack --disk '" + input("d.img", disk_) + "' -o '" + output("e2.hxz") +
            "' -q --encrypt --password-command 'echo s3cr3t'");
  ASSERT_TRUE(exited_ok(r));
  EXPECT_TRUE(exited_ok(hexz({"verify", "-q", output("e2.hxz"), "--password-file", pw_})));
  // A failing command, a wrong password, an empty one: one error line, exit 1.
  r = shell("\"$HEXZ\" verify -q '" + snap_ + "' --password-command 'exit 7'");
  EXPECT_TRUE(is_cli_error(r, "failed (exit status 7)"));
  r = shell("\"$HEXZ\" verify -q '" + snap_ + "' --password-command 'echo nope'");
  EXPECT_TRUE(is_cli_error(r, "wrong password"));
  r = shell("\"$HEXZ\" verify -q '" + snap_ + "' --password-fd 3 3</dev/null");
  EXPECT_TRUE(is_cli_error(r, "empty"));
  r = shell("\"$HEXZ\" verify -q '" + snap_ + "' --password-fd 9");
  EXPECT_TRUE(is_cli_error(r, "file descriptor 9"));
}

TEST_F(CliOperatorPasswords, HexzPasswordIsNotInheritedByChildren) {
  // The command would print "leaked" if it saw HEXZ_PASSWORD; the password from the command
  // wins over the environment, and the environment value was removed before it ran.
  ProcessResult r = shell("\"$HEXZ\" verify -q '" + snap_ +
                              "' --password-command 'if [ -n \"$HEXZ_PASSWORD\" ]; then echo "
                              "leaked; else echo s3cr3t; fi'",
                          {"HEXZ_PASSWORD=s3cr3t"});
  EXPECT_TRUE(exited_ok(r));
  // The environment password still works on its own, and an unencrypted file needs none.
  EXPECT_TRUE(exited_ok(shell("\"$HEXZ\" verify -q '" + snap_ + "'", {"HEXZ_PASSWORD=s3cr3t"})));
  EXPECT_TRUE(exited_ok(shell("\"$HEXZ\" verify -q '" + plain_ + "'")));
}
TEST_F(CliOperatorPasswords, TheTerminalPromptAllowsThreeTries) {
  if (::access("/usr/bin/script", X_OK) != 0) GTEST_SKIP() << "needs script(1) for a terminal";
  // script(1) gives hexz a terminal; the answers are typed after each prompt has appeared (the
  // prompt flushes earlier input).
  auto typed = [&](const std::vector<std::string>& answers) {
    std::string feed = "(";
    for (const std::string& a : answers) feed += "sleep 2; printf '" + a + "\\n'; ";
    feed +=
        "sleep 1) | script -qec \"'$HEXZ' verify -q '" + snap_ + "'; echo EXIT=\\$?\" /dev/null";
    return shell(feed);
  };
  ProcessResult r = typed({"bad", "s3cr3t"});
  EXPECT_NE(r.out.find("Wrong password, try again."), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("EXIT=0"), std::string::npos) << r.out;
  r = typed({"bad1", "bad2", "bad3"});
  EXPECT_NE(r.out.find("wrong password"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("EXIT=1"), std::string::npos) << r.out;
  // An unencrypted snapshot never prompts, terminal or not.
  r = shell("script -qec \"'$HEXZ' verify -q '" + plain_ + "'; echo EXIT=\\$?\" /dev/null");
  EXPECT_EQ(r.out.find("Password"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("EXIT=0"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace hexz_test

namespace hexz_test {
namespace {

/// The pid of a process that has exited (reaped): nothing runs under it now.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

TEST_F(CliOperator, ExtractRemovesWhatAKilledExtractLeftBehind) {
  const Bytes disk = make_disk_image(50000, 15);
  const std::string snap = output("x.hxz");
  ASSERT_TRUE(exited_ok(hexz({"pack", "--disk", input("x.img", disk), "-o", snap, "-q"})));
  const std::string dest = output("out.img");
  const std::string stale = dest + ".tmp-" + std::to_string(dead_pid()) + "-000003";
  const std::string live = dest + ".tmp-" + std::to_string(::getpid()) + "-000001";
  write_file(stale, Bytes{1, 2, 3});
  write_file(live, Bytes{4});
  ASSERT_TRUE(exited_ok(hexz({"extract", snap, "--disk", dest})));
  EXPECT_EQ(read_file(dest), disk);
  EXPECT_FALSE(fs::exists(stale)) << "a dead writer's temporary file is removed";
  EXPECT_TRUE(fs::exists(live)) << "a live writer's is not";
  fs::remove(live);
}

}  // namespace
}  // namespace hexz_test
