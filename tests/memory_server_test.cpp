// The memory server (`hexz serve-memory`) against a client that does what Firecracker does, the
// handshake parser, and in-process lazy mappings (hexz::map_stream).
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "hexz/memory.hpp"
#include "support/fake_vmm.hpp"
#include "support/fixture.hpp"
#include "support/json.hpp"
#include "support/layout.hpp"
#include "support/process.hpp"
#include "uffd/handshake.hpp"

namespace fs = std::filesystem;
using namespace hexz_test;

namespace {

constexpr uint64_t kMiB = 1ull << 20;

/// The hexz CLI running in the background.
class Server {
 public:
  explicit Server(std::vector<std::string> args) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    RunOptions ro;
    ro.on_start = [this](pid_t pid) { pid_.store(pid); };
    thread_ = std::thread([this, args, ro] { result_ = run_process(args, ro); });
    while (pid_.load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Server() {
    if (thread_.joinable()) {
      ::kill(pid_.load(), SIGKILL);
      thread_.join();
    }
  }
  /// Waits for the server to exit and returns what it did.
  ProcessResult wait() {
    thread_.join();
    return result_;
  }
  pid_t pid() const { return pid_.load(); }

 private:
  std::atomic<pid_t> pid_{0};
  std::thread thread_;
  ProcessResult result_;
};

class MemoryServerTest : public HexzTest {
 protected:
  void SetUp() override {
    const std::string reason = FakeVmm::unavailable_reason();
    if (!reason.empty()) GTEST_SKIP() << reason;
  }

  /// A memory image of `size` bytes (zero pages, duplicates, code, random) and its snapshot.
  std::string pack_memory(const std::string& name, const Bytes& memory,
                          std::vector<std::string> extra = {}) {
    std::string out = output(name + ".hxz");
    std::vector<std::string> args = {
        HEXZ_CLI_PATH, "pack", "--memory", input(name + ".img", memory), "-o", out, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = run_process(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }

  std::string socket_path() const { return (tmp().path() / "uffd.sock").string(); }

  /// Serves `snap` (with `extra` options) to a fake VMM touching `image`, whose pages cannot
  /// all be served: the server must kill the VMM and exit 1 with one error line containing
  /// `phrase`.
  void expect_vmm_stopped(const std::string& snap, const Bytes& image,
                          std::vector<std::string> extra, const std::string& phrase) {
    std::vector<std::string> args = {"serve-memory", snap, "--socket", socket_path(), "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    Server server(args);
    ProcessResult vmm = run_process({FAKE_FIRECRACKER_PATH, "vmm", "--socket", socket_path(),
                                     "--image", input("mem.img", image), "--threads", "1"});
    EXPECT_TRUE(vmm.signaled) << vmm.out << vmm.err;
    EXPECT_EQ(vmm.exit_code, 128 + SIGKILL);
    ProcessResult r = server.wait();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find(phrase), std::string::npos) << r.err;
  }

  /// Serves `snap` to a fake VMM with regions `sizes`; touches and compares every page from
  /// four threads; removes a range and checks it reads zeros; hangs up; returns the stats.
  Json serve_and_check(const std::string& snap, const Bytes& image, std::vector<uint64_t> sizes,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"serve-memory", snap,     "--socket",
                                     socket_path(),  "--json", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    Server server(args);
    FakeVmm vmm(sizes);
    vmm.connect(socket_path());
    std::string first_bad;
    EXPECT_EQ(vmm.touch_and_compare(image, 4, &first_bad), 0u) << first_bad;
    // The balloon: what was removed reads as zeros afterwards.
    vmm.remove(0, 64 * 4096, 32 * 4096);
    const std::byte* removed = vmm.region(0) + 64 * 4096;
    for (uint64_t i = 0; i < 32 * 4096; i += 4096) {
      std::byte zeros[4096] = {};
      EXPECT_EQ(std::memcmp(removed + i, zeros, 4096), 0) << "removed page " << i / 4096;
    }
    // Pages outside the removed range still hold the image.
    EXPECT_EQ(std::memcmp(vmm.region(0) + 63 * 4096, image.data() + 63 * 4096, 4096), 0);
    EXPECT_EQ(std::memcmp(vmm.region(0) + 96 * 4096, image.data() + 96 * 4096, 4096), 0);
    vmm.hang_up();
    ProcessResult r = server.wait();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(socket_path())) << "the socket file is removed at exit";
    Json j;
    EXPECT_NO_THROW(j = parse_json(r.out)) << r.out;
    return j;
  }
};

std::string text_of(const Bytes& b) {
  return std::string(b.begin(), b.end());
}

Bytes memory_image(size_t size, uint64_t seed) {
  return make_memory_image(size, make_disk_image(4 * kMiB, seed), seed + 1);
}

}  // namespace

TEST_F(MemoryServerTest, ServesTwoRegionsLikeFirecracker) {
  const Bytes image = memory_image(24 * kMiB, 1);
  const std::string snap = pack_memory("mem", image);
  Json j = serve_and_check(snap, image, {16 * kMiB, 8 * kMiB}, {"--stats"});
  EXPECT_EQ(j["pages_total"].u64(), 24 * kMiB / 4096);
  EXPECT_GT(j["faults"].u64(), 0u);
  EXPECT_GT(j["zero_pages"].u64(), 0u) << "zero chunks are filled with UFFDIO_ZEROPAGE";
  EXPECT_GT(j["prefetched_pages"].u64(), 0u) << "a fault fills its whole block";
  EXPECT_EQ(j["removed_pages"].u64(), 32u);
  // Every page was filled once (the removed ones twice, with zeros the second time).
  EXPECT_GE(j["pages_copied"].u64() + j["zero_pages"].u64(), 24 * kMiB / 4096);
  EXPECT_GT(j["p99_us"].number, 0.0);
}

TEST_F(MemoryServerTest, RemovesWhileOtherThreadsFault) {
  // The balloon deflating while vCPUs fault: fills race with REMOVE events (EAGAIN), yet every
  // removed page reads zeros and every other page the image.
  const Bytes image = memory_image(12 * kMiB, 13);
  const std::string snap = pack_memory("mem", image);
  Server server(
      {"serve-memory", snap, "--socket", socket_path(), "--json", "-q", "--threads", "3"});
  FakeVmm vmm({12 * kMiB});
  vmm.connect(socket_path());
  constexpr uint64_t kRemoved = 256 * 4096;  // The first MiB is the balloon's.
  std::atomic<uint64_t> bad{0};
  std::thread balloon([&] {
    std::byte zeros[4096] = {};
    for (int round = 0; round < 40; ++round) {
      vmm.remove(0, 0, kRemoved);
      for (uint64_t at = 0; at < kRemoved; at += 4096) {
        if (std::memcmp(vmm.region(0) + at, zeros, 4096) != 0) bad.fetch_add(1);
      }
    }
  });
  std::vector<std::thread> vcpus;
  for (int t = 0; t < 3; ++t) {
    vcpus.emplace_back([&, t] {
      for (uint64_t at = kRemoved + 4096 * static_cast<uint64_t>(t); at < image.size();
           at += 3 * 4096) {
        if (std::memcmp(vmm.region(0) + at, image.data() + at, 4096) != 0) bad.fetch_add(1);
      }
    });
  }
  balloon.join();
  for (std::thread& v : vcpus) v.join();
  EXPECT_EQ(bad.load(), 0u);
  vmm.hang_up();
  ProcessResult r = server.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = parse_json(r.out);
  EXPECT_GE(j["removed_pages"].u64(), 40u * 256u);
}

TEST_F(MemoryServerTest, EveryFillUnitGivesTheSameBytes) {
  const Bytes image = memory_image(6 * kMiB, 2);
  // 16 KiB chunks: a chunk fill covers four pages.
  const std::string snap =
      pack_memory("mem", image, {"--compression", "lz4", "--chunk-size", "16K"});
  for (const char* fill : {"page", "chunk", "block"}) {
    SCOPED_TRACE(fill);
    Json j = serve_and_check(snap, image, {4 * kMiB, 2 * kMiB}, {"--fill", fill});
    if (std::string(fill) == "page") {
      EXPECT_EQ(j["prefetched_pages"].u64(), 0u);
    } else {
      EXPECT_GT(j["prefetched_pages"].u64(), 0u);
    }
  }
}

TEST_F(MemoryServerTest, ContentDefinedChunksAndOddStreamEnd) {
  // CDC chunks do not line up with pages, and the stream ends inside the last page.
  Bytes image = memory_image(3 * kMiB, 3);
  image.resize(image.size() - 1000);
  const std::string snap = pack_memory("cdc", image, {"--cdc"});
  serve_and_check(snap, image, {2 * kMiB, 1 * kMiB});
}

TEST_F(MemoryServerTest, EncryptedSnapshot) {
  const Bytes image = memory_image(4 * kMiB, 4);
  const std::string pw = input("pw", Bytes{'s', 'e', 'c', 'r', 'e', 't'});
  const std::string snap = pack_memory(
      "enc", image,
      {"--encrypt", "--password-file", pw, "--kdf-memory", "8M", "--kdf-iterations", "1"});
  serve_and_check(snap, image, {2 * kMiB, 2 * kMiB}, {"--password-file", pw});
  // Without the password it does not start.
  ProcessResult r = run_process({HEXZ_CLI_PATH, "serve-memory", snap, "--socket", socket_path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("password"), std::string::npos) << r.err;
}

TEST_F(MemoryServerTest, EncryptedThinSnapshotServedWithItsOwnPassword) {
  Bytes base_image = memory_image(4 * kMiB, 6);
  const std::string pw_base = input("pw-base", Bytes{'b', 'a', 's', 'e'});
  const std::string pw_thin = input("pw-thin", Bytes{'t', 'h', 'i', 'n'});
  const std::vector<std::string> cheap = {"--kdf-memory", "8M", "--kdf-iterations", "1"};
  std::vector<std::string> a = {"--encrypt", "--password-file", pw_base};
  a.insert(a.end(), cheap.begin(), cheap.end());
  const std::string base = pack_memory("base", base_image, a);
  Bytes image = base_image;
  for (size_t i = 0; i < image.size(); i += 64 * 4096) image[i + 7] ^= 0x5a;
  std::vector<std::string> b = {
      "--base", base, "--encrypt", "--password-file", pw_thin, "--base-password-file", pw_base};
  b.insert(b.end(), cheap.begin(), cheap.end());
  const std::string thin = pack_memory("thin", image, b);
  EXPECT_LT(fs::file_size(thin) * 4, fs::file_size(base));
  Json j = serve_and_check(thin, image, {3 * kMiB, 1 * kMiB}, {"--password-file", pw_thin});
  EXPECT_GT(j["faults"].u64(), 0u);
}

TEST_F(MemoryServerTest, ThinSnapshotOverABase) {
  Bytes base_image = memory_image(4 * kMiB, 5);
  const std::string base = pack_memory("base", base_image);
  Bytes image = base_image;
  for (size_t i = 0; i < image.size(); i += 64 * 4096) image[i + 7] ^= 0x5a;
  const std::string thin = pack_memory("thin", image, {"--base", base});
  Json j = serve_and_check(thin, image, {3 * kMiB, 1 * kMiB});
  EXPECT_GT(j["faults"].u64(), 0u);
}

TEST_F(MemoryServerTest, ThreeGenerationDiffChain) {
  // Firecracker diff snapshots: sparse files whose holes mean "unchanged". Each generation is
  // packed thin over the previous with --holes-inherit and served straight from the chain.
  if (!filesystem_supports_holes(out_dir())) GTEST_SKIP() << "the temp file system keeps no holes";
  const uint64_t size = 6 * kMiB;
  Bytes merged = memory_image(size, 15);
  std::string prev = pack_memory("gen0", merged);
  std::mt19937_64 rng(16);
  for (int gen = 1; gen <= 2; ++gen) {
    std::vector<std::pair<uint64_t, Bytes>> dirty;
    for (int i = 0; i < 40; ++i) {
      const uint64_t at = (rng() % (size / 4096)) * 4096;
      dirty.emplace_back(at, random_bytes(4096 * (1 + rng() % 3), rng()));
    }
    dirty.emplace_back(4096, Bytes(4096, 0));  // Written zeros are data, not a hole.
    for (const auto& [at, bytes] : dirty) {
      const size_t n = std::min<size_t>(bytes.size(), size - at);
      std::copy(bytes.begin(), bytes.begin() + static_cast<long>(n),
                merged.begin() + static_cast<long>(at));
    }
    for (auto& [at, bytes] : dirty) bytes.resize(std::min<size_t>(bytes.size(), size - at));
    const std::string mem = in_dir() + "/gen" + std::to_string(gen) + ".mem";
    make_sparse_file(mem, size, dirty);
    const std::string out = output("gen" + std::to_string(gen) + ".hxz");
    ProcessResult r = run_process({HEXZ_CLI_PATH, "pack", "--memory", mem, "--base", prev,
                                   "--holes-inherit", "-o", out, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    prev = out;
  }
  Json j = serve_and_check(prev, merged, {4 * kMiB, 2 * kMiB});
  EXPECT_GT(j["faults"].u64(), 0u);
}

TEST_F(MemoryServerTest, HydrationMakesEveryPageResident) {
  const Bytes image = memory_image(8 * kMiB, 6);
  const std::string snap = pack_memory("mem", image);
  Server server({"serve-memory", snap, "--socket", socket_path(), "--hydrate", "--json", "-q"});
  FakeVmm vmm({6 * kMiB, 2 * kMiB});
  vmm.connect(socket_path());
  // Touch nothing: pages become resident anyway.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool resident = false;
  while (!resident && std::chrono::steady_clock::now() < deadline) {
    resident = true;
    for (size_t k = 0; k < vmm.region_count() && resident; ++k) {
      std::vector<unsigned char> vec(vmm.region_size(k) / 4096);
      ASSERT_EQ(::mincore(vmm.region(k), vmm.region_size(k), vec.data()), 0);
      for (unsigned char v : vec) resident = resident && (v & 1) != 0;
    }
    if (!resident) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(resident) << "hydration did not fill every page within 60 s";
  std::string first_bad;
  EXPECT_EQ(vmm.touch_and_compare(image, 2, &first_bad), 0u) << first_bad;
  vmm.hang_up();
  ProcessResult r = server.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json j = parse_json(r.out);
  EXPECT_TRUE(j["hydrated"].boolean);
  EXPECT_GT(j["hydrated_pages"].u64(), 0u);
}

TEST_F(MemoryServerTest, BadHandshakesAreRefusedWithOneLine) {
  const Bytes image = memory_image(2 * kMiB, 7);
  const std::string snap = pack_memory("mem", image);
  struct Case {
    std::string json;
    bool send_fd;
    std::string phrase;
  };
  FakeVmm probe({2 * kMiB});
  const std::vector<Case> cases = {
      {"not json", true, "bad memory region message"},
      {"[]", true, "no regions"},
      {probe.handshake_json(), false, "no userfaultfd"},
      {"[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":1000}]", true,
       "page size 1000"},
      {"[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0}]", true, "page size 0"},
      {"[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":" + std::to_string(64 * kMiB) +
           ",\"page_size\":4096}]",
       true, "extends past the end of the memory stream"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    Server server({"serve-memory", snap, "--socket", socket_path(), "-q"});
    FakeVmm vmm({2 * kMiB});
    vmm.connect(socket_path(), 30000, c.json, c.send_fd);
    ProcessResult r = server.wait();
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    EXPECT_NE(r.err.find("hexz: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.phrase), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(socket_path()));
  }
}

TEST_F(MemoryServerTest, CommandLineErrors) {
  const Bytes image = memory_image(1 * kMiB, 8);
  const std::string snap = pack_memory("mem", image);
  // No memory stream.
  const std::string disk_only = output("d.hxz");
  ASSERT_EQ(
      run_process({HEXZ_CLI_PATH, "pack", "--disk", input("d.img", image), "-o", disk_only, "-q"})
          .exit_code,
      0);
  ProcessResult r =
      run_process({HEXZ_CLI_PATH, "serve-memory", disk_only, "--socket", socket_path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no memory stream"), std::string::npos) << r.err;
  // The socket path is a regular file: never replaced.
  const std::string file = input("not-a-socket", Bytes{'x'});
  r = run_process({HEXZ_CLI_PATH, "serve-memory", snap, "--socket", file});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not a socket"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(file), Bytes{'x'});
  // Usage errors.
  r = run_process({HEXZ_CLI_PATH, "serve-memory", snap});
  EXPECT_EQ(r.exit_code, 2);
  r = run_process({HEXZ_CLI_PATH, "serve-memory", snap, "--socket", socket_path(), "--fill", "x"});
  EXPECT_EQ(r.exit_code, 2);
  r = run_process(
      {HEXZ_CLI_PATH, "serve-memory", output("missing.hxz"), "--socket", socket_path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("missing.hxz"), std::string::npos) << r.err;
  r = run_process({HEXZ_CLI_PATH, "serve-memory", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--hydrate"), std::string::npos);
}

TEST_F(MemoryServerTest, SigtermWhileWaitingRemovesTheSocket) {
  const Bytes image = memory_image(1 * kMiB, 9);
  const std::string snap = pack_memory("mem", image);
  Server server({"serve-memory", snap, "--socket", socket_path(), "-q"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!fs::exists(socket_path()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(socket_path()));
  ::kill(server.pid(), SIGTERM);
  ProcessResult r = server.wait();
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_FALSE(fs::exists(socket_path()));
}

TEST_F(MemoryServerTest, AStaleSocketFileIsReplaced) {
  const Bytes image = memory_image(2 * kMiB, 10);
  const std::string snap = pack_memory("mem", image);
  {
    // A server killed with SIGKILL leaves its socket file behind.
    Server dead({"serve-memory", snap, "--socket", socket_path(), "-q"});
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!fs::exists(socket_path()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_TRUE(fs::exists(socket_path()));
  serve_and_check(snap, image, {2 * kMiB});
}

TEST_F(MemoryServerTest, AnUnreadablePageStopsTheVmm) {
  // Once the server is gone, the kernel would fill the VM's missing pages with zeros: a VM
  // whose memory cannot be read must not run on.
  const Bytes image = memory_image(2 * kMiB, 12);
  const std::string snap = pack_memory("mem", image);
  Bytes file = read_file(snap);
  file[512 + 20] ^= 0xff;  // Inside the first data block.
  const std::string bad = output("bad.hxz");
  write_file(bad, file);
  expect_vmm_stopped(bad, image, {}, "hexz: error:");
}

TEST_F(MemoryServerTest, VerifiedReadsStopTheVmmAtARewrittenBlock) {
  // Issue 14: an attacker rewrites a block and recomputes its XXH3 checksum. Plain serving hands
  // the guest the changed page; --verify-reads checks each chunk's digest and stops the VM.
  const Bytes image = random_bytes(1 * kMiB, 31);
  hexz::PackOptions o = options("", input("mem.img", image), output("rw.hxz"));
  o.codec = hexz::Codec::kNone;
  o.block_size = 65536;  // the first block is [512, 66048), stored raw
  hexz::pack(o);
  Bytes file = read_file(output("rw.hxz"));
  for (size_t i = 0; i < 16; ++i) file[600 + i] ^= 0x5a;
  write_file(output("rw.hxz"),
             layout::with_block_checksum(file, 0, 512, XXH3_64bits(file.data() + 512, 65536)));
  {
    Server server({"serve-memory", output("rw.hxz"), "--socket", socket_path(), "-q"});
    FakeVmm vmm({image.size()});
    vmm.connect(socket_path());
    std::string first_bad;
    EXPECT_GE(vmm.touch_and_compare(image, 2, &first_bad), 1u) << "plain serving is fooled";
    EXPECT_NE(first_bad.find("region 0 page 0 "), std::string::npos) << first_bad;
    vmm.hang_up();
    EXPECT_EQ(server.wait().exit_code, 0);
  }
  expect_vmm_stopped(output("rw.hxz"), image, {"--verify-reads"}, "does not match its digest");
}

TEST_F(MemoryServerTest, StoppingTheServerUnderARunningVmKillsTheVm) {
  // A VM left running without its server would read zeros where it has not touched yet.
  const Bytes image = memory_image(4 * kMiB, 14);
  const std::string snap = pack_memory("mem", image);
  Server server({"serve-memory", snap, "--socket", socket_path(), "--json", "-q"});
  std::atomic<pid_t> vmm_pid{0};
  ProcessResult vmm;
  const std::string ready = (tmp().path() / "vmm-ready").string();
  std::thread vmm_thread([&] {
    RunOptions ro;
    ro.on_start = [&](pid_t pid) { vmm_pid.store(pid); };
    vmm = run_process({FAKE_FIRECRACKER_PATH, "vmm", "--socket", socket_path(), "--size",
                       std::to_string(4 * kMiB), "--bench", "random", "--samples", "10", "--hold",
                       "60", "--ready-file", ready},
                      ro);
  });
  // Wait until the VM has touched its pages (a handful of faults) and holds on.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(ready) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(fs::exists(ready)) << "the fake VMM did not get going";
  ::kill(server.pid(), SIGTERM);
  ProcessResult r = server.wait();
  vmm_thread.join();
  EXPECT_EQ(r.exit_code, 128 + SIGTERM) << r.err;
  EXPECT_NE(r.err.find("the VMM was killed"), std::string::npos) << r.err;
  EXPECT_TRUE(vmm.signaled);
  EXPECT_EQ(vmm.exit_code, 128 + SIGKILL);
  Json j = parse_json(r.out);
  EXPECT_TRUE(j["vmm_killed"].boolean);
  EXPECT_GT(j["faults"].u64(), 0u);
}

// --- The library: the handshake parser and in-process mappings --------------------------------

TEST(MemoryHandshake, ParsesFirecrackersMessage) {
  const auto regions = hexz::uffd::parse_regions(
      "[{\"base_host_virt_addr\":140000000000000,\"size\":3221225472,\"offset\":0,"
      "\"page_size\":4096,\"page_size_kib\":4096},"
      " {\"base_host_virt_addr\": 140004294967296, \"size\": 1048576, \"offset\": 3221225472,"
      " \"page_size_kib\": 4096, \"extra\": [1, {\"x\": null}], \"name\": \"a\\\"b\"}]");
  ASSERT_EQ(regions.size(), 2u);
  EXPECT_EQ(regions[0].host_address, 140000000000000ull);
  EXPECT_EQ(regions[0].size, 3221225472ull);
  EXPECT_EQ(regions[1].offset, 3221225472ull);
  EXPECT_EQ(regions[1].page_size, 4096u) << "page_size_kib holds bytes too";
  EXPECT_TRUE(ThrowsWith(
      [] {
        hexz::uffd::parse_regions(
            "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":0,\"page_size\":4096},"
            "{\"base_host_virt_addr\":8192,\"size\":8192,\"offset\":8192,\"page_size\":4096}]");
      },
      hexz::ErrorCode::kInvalidArgument, "overlaps"));
  EXPECT_TRUE(ThrowsWith(
      [] {
        hexz::uffd::parse_regions(
            "[{\"base_host_virt_addr\":4097,\"size\":8192,\"offset\":0,\"page_size\":4096}]");
      },
      hexz::ErrorCode::kInvalidArgument, "not aligned"));
  EXPECT_TRUE(ThrowsWith(
      [] {
        hexz::uffd::parse_regions(
            "[{\"base_host_virt_addr\":4096,\"size\":8192,\"offset\":1.5,\"page_size\":4096}]");
      },
      hexz::ErrorCode::kInvalidArgument, "not an integer"));
  EXPECT_TRUE(ThrowsWith([] { hexz::uffd::parse_regions("[{\"size\":4096}] x"); },
                         hexz::ErrorCode::kInvalidArgument, "lacks"));
}

TEST_F(MemoryServerTest, MapStreamReadsLikeTheStream) {
  Bytes image = memory_image(5 * kMiB, 11);
  image.resize(image.size() - 123);
  const std::string snap = pack_memory("mem", image, {"--compression", "lz4"});
  auto snapshot = hexz::Snapshot::open(snap);
  auto mapping = hexz::map_stream(*snapshot, hexz::Stream::kMemory);
  ASSERT_EQ(mapping->size(), image.size());
  EXPECT_TRUE(mapping->lazy()) << "userfaultfd works here, so the mapping is lazy";
  EXPECT_EQ(mapping->stats().faults, 0u) << "nothing is read before it is touched";
  // Random pages first, then everything, from two threads.
  EXPECT_EQ(std::memcmp(mapping->data() + 3 * kMiB + 5, image.data() + 3 * kMiB + 5, 100), 0);
  std::thread other(
      [&] { EXPECT_EQ(std::memcmp(mapping->data() + kMiB, image.data() + kMiB, kMiB), 0); });
  EXPECT_EQ(std::memcmp(mapping->data(), image.data(), image.size()), 0);
  other.join();
  EXPECT_GT(mapping->stats().faults, 0u);
  // Writes are private: the next mapping reads the stream again.
  mapping->data()[0] = std::byte{0xff};
  auto again = hexz::map_stream(*snapshot, hexz::Stream::kMemory);
  EXPECT_EQ(static_cast<unsigned char>(again->data()[0]), image[0]);
  EXPECT_TRUE(ThrowsWith([&] { hexz::map_stream(*snapshot, hexz::Stream::kDisk); },
                         hexz::ErrorCode::kOutOfRange, "no disk stream"));
}

TEST_F(MemoryServerTest, RecordsATraceAndReplaysItAsPrefetch) {
  const Bytes image = memory_image(12 * kMiB, 21);
  const std::string snap = pack_memory("mem", image);
  const std::string trace = output("mem.trace");
  const std::string stats1 = output("first.json");
  const std::string stats2 = output("second.json");
  serve_and_check(snap, image, {12 * kMiB}, {"--record-trace", trace, "--stats-file", stats1});
  ProcessResult shown = run_process({HEXZ_CLI_PATH, "trace", "show", trace, "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const Json summary = parse_json(shown.out)["summary"];
  EXPECT_GT(summary["blocks_per_stream"]["memory"].u64(), 10u);
  EXPECT_EQ(summary["blocks_per_stream"]["disk"].u64(), 0u);
  const Json first = parse_json(text_of(read_file(stats1)));
  // Each traced block was fetched by a fault (or by the reader's readahead for one).
  EXPECT_LE(first["demand_block_misses"].u64(), summary["blocks"].u64());
  EXPECT_GT(first["demand_block_misses"].u64(), summary["blocks"].u64() / 2);
  ASSERT_EQ(run_process({HEXZ_CLI_PATH, "trace", "add", "-q", snap, trace}).exit_code, 0);

  // Replay: the traced blocks are decoded before the VMM touches them.
  Server server({"serve-memory", snap, "--socket", socket_path(), "-q", "--stats-file", stats2});
  FakeVmm vmm({12 * kMiB});
  vmm.connect(socket_path());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  std::string first_bad;
  EXPECT_EQ(vmm.touch_and_compare(image, 2, &first_bad), 0u) << first_bad;
  vmm.hang_up();
  ProcessResult r = server.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json second = parse_json(text_of(read_file(stats2)));
  // (Exactly zero misses on a quiet machine; a slow sanitizer build may still be decoding.)
  EXPECT_EQ(second["trace_events"].u64(), summary["events"].u64());
  EXPECT_GT(second["prefetched_blocks"].u64(), summary["blocks"].u64() / 2);
  EXPECT_LE(second["demand_block_misses"].u64(), summary["blocks"].u64() / 4);
  EXPECT_EQ(second["prefetched_unused_bytes"].u64(), 0u) << "every prefetched block was used";
}
