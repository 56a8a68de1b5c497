// The `hexz` command line: threads, CDC, dictionaries, thin snapshots and their bases, flatten,
// diff and encryption. Runs the real binary as a separate process.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "hexz/hexz.hpp"
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

using hexz::Stream;

/// Number of times `needle` occurs in `haystack`.
size_t count_occurrences(const Bytes& haystack, const std::string& needle) {
  size_t count = 0;
  auto it = haystack.begin();
  for (;;) {
    it = std::search(it, haystack.end(), needle.begin(), needle.end());
    if (it == haystack.end()) return count;
    ++count;
    ++it;
  }
}

class CliFeatures : public HexzTest {
 protected:
  void SetUp() override {
    // The tests decide where passwords and bases come from; the caller's environment must not.
    ::unsetenv("HEXZ_PASSWORD");
    ::unsetenv("HEXZ_BASE_PATH");
  }

  static ProcessResult hexz(std::vector<std::string> args, const RunOptions& ro = {}) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    return run_process(args, ro);
  }

  /// Runs hexz with `env` ("NAME=value") added to its environment.
  static ProcessResult hexz_env(std::vector<std::string> args, std::vector<std::string> env) {
    RunOptions ro;
    ro.extra_env = std::move(env);
    return hexz(std::move(args), ro);
  }

  /// Runs hexz without a controlling terminal (so it can never prompt).
  static ProcessResult hexz_no_tty(std::vector<std::string> args,
                                   const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    RunOptions ro;
    ro.extra_env = env;
    ro.new_session = true;
    return run_process(args, ro);
  }

  static ::testing::AssertionResult is_error(const ProcessResult& r,
                                             const std::string& must_contain = "") {
    return is_cli_error(r, must_contain);
  }
  static ::testing::AssertionResult ok(const ProcessResult& r) { return exited_ok(r); }

  /// `hexz info --json` of `snap` (plus `extra` arguments), parsed; fails the test on errors.
  static Json info_json(const std::string& snap, std::vector<std::string> extra = {},
                        std::vector<std::string> env = {}) {
    std::vector<std::string> args = {"info", "--json", snap};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = hexz_env(args, std::move(env));
    EXPECT_TRUE(ok(r));
    Json j;
    EXPECT_NO_THROW(j = parse_json(r.out)) << r.out;
    return j;
  }

  /// Packs `disk` (written to in/<name>.img) into out/<name>.hxz with `extra` options, -q.
  std::string pack_disk(const std::string& name, const Bytes& disk,
                        std::vector<std::string> extra = {}, std::vector<std::string> env = {}) {
    std::string out = output(name + ".hxz");
    std::vector<std::string> args = {"pack", "--disk", input(name + ".img", disk), "-o", out, "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = hexz_env(args, std::move(env));
    EXPECT_TRUE(ok(r));
    EXPECT_EQ(r.err, "") << "-q should print nothing";
    return out;
  }

  /// Extracts the disk stream of `snap` (with `extra` options) and returns its bytes.
  Bytes extract_disk(const std::string& snap, std::vector<std::string> extra = {},
                     std::vector<std::string> env = {}) {
    std::string out = output("extracted.img");
    std::vector<std::string> args = {"extract", snap, "--disk", out, "-q", "-f"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = hexz_env(args, std::move(env));
    EXPECT_TRUE(ok(r));
    if (r.exit_code != 0) return {};
    Bytes data = read_file(out);
    fs::remove(out);
    return data;
  }
};

// --- --threads -------------------------------------------------------------------------------

TEST_F(CliFeatures, ThreadCountDoesNotChangeTheFile) {
  Bytes disk = make_disk_image(3u << 20, 11);
  Bytes memory = make_memory_image(1u << 20, disk, 12);
  std::string d = input("disk.img", disk);
  std::string m = input("mem.img", memory);
  for (const char* threads : {"1", "2"}) {
    ProcessResult r =
        hexz({"pack", "--disk", d, "--memory", m, "-o", output(std::string("t") + threads + ".hxz"),
              "-q", "--threads", threads, "--compression", "zstd", "--block-size", "16K"});
    ASSERT_TRUE(ok(r)) << threads;
  }
  EXPECT_GT(hexz::Snapshot::open(output("t1.hxz"))->info().streams[0].blocks, 10u);
  EXPECT_TRUE(files_equal(output("t1.hxz"), output("t2.hxz")));
  EXPECT_TRUE(
      is_usage_error(hexz({"pack", "--disk", d, "-o", output("x.hxz"), "--threads", "-1"})));
  // Out of range is a usage error like a malformed value (one exit-code rule).
  ProcessResult many = hexz({"pack", "--disk", d, "-o", output("x.hxz"), "--threads", "5000"});
  EXPECT_TRUE(is_usage_error(many));
  EXPECT_NE(many.err.find("hexz: error: --threads: '5000' is out of range (0 to 1024)"),
            std::string::npos)
      << many.err;
  EXPECT_FALSE(fs::exists(output("x.hxz")));
}

// --- CDC -------------------------------------------------------------------------------------

TEST_F(CliFeatures, CdcRoundTripAndInfo) {
  Bytes disk = make_disk_image((2u << 20) + 777, 21);
  std::string snap = pack_disk(
      "cdc", disk, {"--cdc", "--min-chunk", "1K", "--avg-chunk", "4K", "--max-chunk", "16K"});
  EXPECT_EQ(first_difference(extract_disk(snap), disk), -1);

  Json j = info_json(snap);
  EXPECT_EQ(j["chunking"].text, "fastcdc-v1");
  EXPECT_EQ(j["min_chunk"].u64(), 1024u);
  EXPECT_EQ(j["avg_chunk"].u64(), 4096u);
  EXPECT_EQ(j["chunk_size"].u64(), 4096u);
  EXPECT_EQ(j["max_chunk"].u64(), 16384u);
  // The histogram counts every chunk, in buckets no larger than the maximum chunk.
  uint64_t histogram_chunks = 0;
  ASSERT_FALSE(j["chunk_histogram"].array.empty());
  for (const Json& bucket : j["chunk_histogram"].array) {
    EXPECT_GT(bucket["chunks"].u64(), 0u) << "empty buckets are not listed";
    EXPECT_LE(bucket["min_length"].u64(), 16384u);
    EXPECT_EQ(bucket["max_length"].u64(), 2 * bucket["min_length"].u64() - 1);
    histogram_chunks += bucket["chunks"].u64();
  }
  EXPECT_EQ(histogram_chunks, j["streams"]["disk"]["chunks"].u64());
  EXPECT_GT(j["chunk_histogram"].array.size(), 1u) << "CDC chunks should vary in size";

  ProcessResult r = hexz({"info", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("fastcdc-v1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("16384"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2K-4K:"), std::string::npos) << r.out;

  // Without sizes, --cdc uses the library's defaults.
  std::string defaults = pack_disk("cdcdefault", disk, {"--cdc"});
  j = info_json(defaults);
  EXPECT_EQ(j["chunking"].text, "fastcdc-v1");
  EXPECT_EQ(j["min_chunk"].u64(), hexz::kDefaultMinChunk);
  EXPECT_EQ(j["avg_chunk"].u64(), hexz::kDefaultAvgChunk);
  EXPECT_EQ(j["max_chunk"].u64(), hexz::kDefaultMaxChunk);

  // Fixed chunking says so and has no CDC sizes.
  j = info_json(pack_disk("fixed", disk, {"--chunk-size", "8K"}));
  EXPECT_EQ(j["chunking"].text, "fixed");
  EXPECT_EQ(j["chunk_size"].u64(), 8192u);
  EXPECT_FALSE(j.has("min_chunk"));
  ASSERT_EQ(j["chunk_histogram"].array.size(), 2u);  // 8K chunks and one short last chunk.
  EXPECT_EQ(j["chunk_histogram"].array[1]["min_length"].u64(), 8192u);
  EXPECT_EQ(j["chunk_histogram"].array[1]["chunks"].u64(), disk.size() / 8192);
}

TEST_F(CliFeatures, BadCdcSizesAreRefused) {
  std::string d = input("disk.img", make_disk_image(200000, 22));
  std::string o = output("x.hxz");
  // Sizes out of range: usage errors (exit 2) like malformed ones, refused before any work.
  const std::vector<std::vector<std::string>> library_errors = {
      {"--min-chunk", "8K", "--avg-chunk", "4K"},                       // min > avg
      {"--avg-chunk", "64K", "--max-chunk", "64K"},                     // avg == max
      {"--min-chunk", "32", "--avg-chunk", "1K", "--max-chunk", "4K"},  // min < 64
      {"--max-chunk", "32M"},                                           // max > 16 MiB
  };
  for (const auto& extra : library_errors) {
    std::vector<std::string> args = {"pack", "--disk", d, "-o", o, "--cdc"};
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = hexz(args);
    EXPECT_TRUE(is_usage_error(r)) << extra[0] << " " << extra[1];
    EXPECT_EQ(r.err.rfind("hexz: error: ", 0), 0u) << r.err;
    EXPECT_TRUE(r.err.find("chunk") != std::string::npos) << r.err;
  }
  // Command lines that make no sense: usage errors.
  EXPECT_TRUE(is_usage_error(hexz({"pack", "--disk", d, "-o", o, "--min-chunk", "1K"})));
  EXPECT_TRUE(is_usage_error(hexz({"pack", "--disk", d, "-o", o, "--cdc", "--chunk-size", "8K"})));
  EXPECT_TRUE(is_usage_error(hexz({"pack", "--disk", d, "-o", o, "--cdc", "--avg-chunk", "lots"})));
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{});
}

// --- Dictionaries ----------------------------------------------------------------------------

TEST_F(CliFeatures, TrainedDictionaryRoundTrip) {
  std::mt19937_64 rng(31);
  Bytes disk;
  append_text(disk, 3u << 20, rng);
  std::string d = input("disk.img", disk);
  std::string snap = output("dict.hxz");
  ProcessResult r = hexz({"pack", "--disk", d, "-o", snap, "--compression", "zstd", "--train-dict",
                          "--block-size", "8K"});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.err.find("dictionary"), std::string::npos)
      << "the summary should mention the dictionary: " << r.err;
  Json j = info_json(snap);
  EXPECT_GT(j["dictionary_bytes"].u64(), 0u);
  EXPECT_EQ(j["dictionary_bytes"].u64(), hexz::Snapshot::open(snap)->info().dictionary_bytes);
  EXPECT_EQ(first_difference(extract_disk(snap), disk), -1);
  r = hexz({"info", snap});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("dictionary:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(std::to_string(j["dictionary_bytes"].u64()) + " bytes"), std::string::npos)
      << r.out;

  // Without --train-dict there is none.
  j = info_json(pack_disk("plain", disk, {"--compression", "zstd"}));
  EXPECT_EQ(j["dictionary_bytes"].u64(), 0u);
}

TEST_F(CliFeatures, TrainedDictionaryNeedsZstd) {
  std::string d = input("disk.img", text_bytes(100000, 1));
  EXPECT_TRUE(is_error(
      hexz({"pack", "--disk", d, "-o", output("x.hxz"), "--train-dict", "--compression", "lz4"}),
      "zstd"));
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{});
}

// --- Thin snapshots, bases, flatten ----------------------------------------------------------

TEST_F(CliFeatures, ThinSnapshotFindsItsBaseAndFlattens) {
  Bytes v1 = make_disk_image(4u << 20, 41);
  Bytes v2 = v1;
  for (size_t i = 0; i < 5000; ++i) v2[(1u << 20) + i] ^= 0x5a;
  std::string base = pack_disk("v1", v1);
  std::string thin = pack_disk("v2", v2, {"--base", base});
  std::string full_v2 = pack_disk("v2full", v2);
  EXPECT_LT(fs::file_size(thin) * 4, fs::file_size(full_v2))
      << "the thin snapshot should store only the changed chunks";
  EXPECT_EQ(first_difference(extract_disk(thin), v2), -1);

  const std::string base_identity = hexz::Snapshot::open(base)->info().identity_hex;
  Json j = info_json(thin);
  ASSERT_EQ(j["bases"].array.size(), 1u);
  const Json& b = j["bases"].array[0];
  EXPECT_EQ(b["name"].text, "v1.hxz");
  EXPECT_EQ(b["identity"].text, base_identity);
  EXPECT_EQ(fs::path(b["path"].text).filename(), "v1.hxz");
  EXPECT_EQ(b["bytes_referenced"]["disk"].u64(),
            hexz::Snapshot::open(thin)->info().bases.at(0).bytes_referenced[0]);
  EXPECT_GT(b["bytes_referenced"]["disk"].u64(), v2.size() / 2);
  EXPECT_LT(b["bytes_referenced"]["disk"].u64(), v2.size() - 5000);
  EXPECT_EQ(info_json(base)["bases"].array.size(), 0u);
  ProcessResult r = hexz({"info", thin});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find(base_identity), std::string::npos) << r.out;

  // Move the base away: the thin snapshot cannot be read without being told where it is.
  std::string elsewhere = (tmp().path() / "elsewhere").string();
  fs::create_directory(elsewhere);
  std::string moved = elsewhere + "/v1.hxz";
  fs::rename(base, moved);
  for (const char* cmd : {"info", "cat", "verify"}) {
    EXPECT_TRUE(is_error(hexz({cmd, thin}), "v1.hxz")) << cmd;
  }
  EXPECT_TRUE(is_error(hexz({"extract", thin, "--disk", output("x.img")}), "v1.hxz"));
  EXPECT_FALSE(fs::exists(output("x.img")));

  j = info_json(thin, {"--base-dir", in_dir(), "--base-dir", elsewhere});
  ASSERT_EQ(j["bases"].array.size(), 1u);
  EXPECT_EQ(j["bases"].array[0]["path"].text, moved);
  j = info_json(thin, {}, {"HEXZ_BASE_PATH=/nonexistent:" + elsewhere});
  ASSERT_EQ(j["bases"].array.size(), 1u);
  EXPECT_EQ(j["bases"].array[0]["path"].text, moved);
  EXPECT_EQ(first_difference(extract_disk(thin, {"--base-dir", elsewhere}), v2), -1);
  EXPECT_EQ(first_difference(extract_disk(thin, {}, {"HEXZ_BASE_PATH=" + elsewhere}), v2), -1);
  r = hexz({"cat", "--base-dir", elsewhere, thin, "--offset", "1M", "--length", "5000"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()),
            Bytes(v2.begin() + (1 << 20), v2.begin() + (1 << 20) + 5000));
  EXPECT_TRUE(ok(hexz({"verify", "-q", thin, "--base-dir", elsewhere})));

  // flatten needs the base too, and then makes a standalone snapshot.
  std::string flat = output("flat.hxz");
  EXPECT_TRUE(is_error(hexz({"flatten", thin, "-o", flat, "-q"}), "v1.hxz"));
  EXPECT_FALSE(fs::exists(flat));
  r = hexz({"flatten", thin, "-o", flat, "--base-dir", elsewhere, "--threads", "2"});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.err.find("flat.hxz"), std::string::npos) << "summary line expected: " << r.err;
  fs::remove(moved);
  EXPECT_TRUE(is_error(hexz({"info", thin, "--base-dir", elsewhere}), "v1.hxz"));
  j = info_json(flat);
  EXPECT_EQ(j["bases"].array.size(), 0u);
  EXPECT_EQ(j["chunking"].text, "fixed");
  EXPECT_EQ(first_difference(extract_disk(flat), v2), -1);
  EXPECT_TRUE(ok(hexz({"verify", "-q", flat})));
  // An existing output is kept unless --force.
  EXPECT_TRUE(is_error(hexz({"flatten", flat, "-o", flat, "-q"})));
  EXPECT_TRUE(is_usage_error(hexz({"flatten", flat})));  // no -o
}

TEST_F(CliFeatures, EncryptedThinChainReadsWithTheNewestPassword) {
  Bytes v1 = make_disk_image(2u << 20, 61);
  Bytes v2 = v1;
  for (size_t i = 0; i < 3000; ++i) v2[(1u << 20) + i] ^= 0x33;
  const std::string pw1 = input("pw1.txt", Bytes{'o', 'n', 'e', '\n'});
  const std::string pw2 = input("pw2.txt", Bytes{'t', 'w', 'o', '\n'});
  const std::vector<std::string> cheap = {"--kdf-memory", "8M", "--kdf-iterations", "1"};
  std::vector<std::string> a = {"--encrypt", "--password-file", pw1};
  a.insert(a.end(), cheap.begin(), cheap.end());
  const std::string base = pack_disk("v1", v1, a);
  // The base's password differs and is not given: refused, naming the option that gives it.
  std::vector<std::string> b = {"--base", base, "--encrypt", "--password-file", pw2};
  b.insert(b.end(), cheap.begin(), cheap.end());
  std::vector<std::string> args = {"pack", "--disk", input("v2.img", v2), "-o", output("v2.hxz")};
  args.insert(args.end(), b.begin(), b.end());
  EXPECT_TRUE(is_error(hexz(args), "--base-password-file"));
  EXPECT_FALSE(fs::exists(output("v2.hxz")));
  // Without --encrypt an encrypted base is refused before anything is asked.
  EXPECT_TRUE(is_error(
      hexz_no_tty({"pack", "--disk", input("v2.img", v2), "-o", output("v2.hxz"), "--base", base}),
      "must be encrypted too"));
  // An unencrypted base cannot take an encrypted thin snapshot: refused before any prompt.
  const std::string plain = pack_disk("plain", v1);
  EXPECT_TRUE(is_error(hexz_no_tty({"pack", "--disk", input("v2.img", v2), "-o", output("v2.hxz"),
                                    "--encrypt", "--base", plain}),
                       "is not encrypted: an encrypted thin snapshot needs an encrypted base"));
  b.push_back("--base-password-file");
  b.push_back(pw1);
  const std::string thin = pack_disk("v2", v2, b);
  EXPECT_LT(fs::file_size(thin) * 4, fs::file_size(base));
  // Its own password reads it (and verifies every chunk of the chain); the base's does not.
  EXPECT_EQ(first_difference(extract_disk(thin, {"--password-file", pw2}), v2), -1);
  ProcessResult r = hexz({"verify", thin, "--password-file", pw2});
  EXPECT_TRUE(ok(r)) << r.err;
  EXPECT_TRUE(is_error(hexz({"cat", thin, "--password-file", pw1}), "wrong password"));
  Json j = info_json(thin, {"--password-file", pw2});
  EXPECT_EQ(j["format_version"].text, "1.2");
  ASSERT_EQ(j["bases"].array.size(), 1u);
  EXPECT_EQ(j["bases"].array[0]["name"].text, "v1.hxz");
}

TEST_F(CliFeatures, ThinPackCopiesTheBasesChunking) {
  Bytes v1 = make_disk_image(3u << 20, 51);
  Bytes v2 = v1;
  // An insertion shifts everything after it: only CDC keeps finding the old chunks.
  Bytes insert = text_bytes(3000, 52);
  v2.insert(v2.begin() + 500000, insert.begin(), insert.end());
  std::string base = pack_disk(
      "v1", v1, {"--cdc", "--min-chunk", "2K", "--avg-chunk", "8K", "--max-chunk", "32K"});
  std::string thin = pack_disk("v2", v2, {"--base", base});
  Json j = info_json(thin);
  EXPECT_EQ(j["chunking"].text, "fastcdc-v1");
  EXPECT_EQ(j["min_chunk"].u64(), 2048u);
  EXPECT_EQ(j["avg_chunk"].u64(), 8192u);
  EXPECT_EQ(j["max_chunk"].u64(), 32768u);
  EXPECT_LT(fs::file_size(thin) * 5, fs::file_size(base));
  EXPECT_EQ(first_difference(extract_disk(thin), v2), -1);

  // Explicit options win (and the library warns that little will dedup).
  std::string out = output("fixed.hxz");
  ProcessResult r = hexz(
      {"pack", "--disk", input("v2.img", v2), "-o", out, "--base", base, "--chunk-size", "4K"});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.err.find("hexz: warning:"), std::string::npos) << r.err;
  EXPECT_EQ(info_json(out)["chunking"].text, "fixed");
}

// --- diff ------------------------------------------------------------------------------------

TEST_F(CliFeatures, DiffReportsTheEditedChunk) {
  Bytes a = make_disk_image(1u << 20, 61);
  Bytes b = a;
  b[5 * 4096 + 100] ^= 1;
  b[5 * 4096 + 3000] ^= 1;
  std::string sa = pack_disk("a", a);
  std::string sb = pack_disk("b", b);

  ProcessResult r = hexz({"diff", "--json", sa, sb});
  ASSERT_EQ(r.exit_code, 1) << "1 = the snapshots differ: " << r.err;
  Json j;
  ASSERT_NO_THROW(j = parse_json(r.out)) << r.out;
  EXPECT_FALSE(j["identical"].boolean);
  EXPECT_EQ(j["identical"].type, Json::Type::kBool);
  EXPECT_EQ(j["compared_by"].text, "index");
  EXPECT_FALSE(j["streams"].has("memory"));
  const Json& disk = j["streams"]["disk"];
  EXPECT_TRUE(disk["in_a"].boolean);
  EXPECT_TRUE(disk["in_b"].boolean);
  EXPECT_EQ(disk["size_a"].u64(), a.size());
  EXPECT_EQ(disk["size_b"].u64(), b.size());
  EXPECT_EQ(disk["stored_bytes_a"].u64(), hexz::Snapshot::open(sa)->info().streams[0].stored_bytes);
  EXPECT_EQ(disk["differing_bytes"].u64(), 4096u);
  EXPECT_EQ(disk["range_count"].u64(), 1u);
  ASSERT_EQ(disk["ranges"].array.size(), 1u);
  EXPECT_EQ(disk["ranges"].array[0]["offset"].u64(), 5u * 4096);
  EXPECT_EQ(disk["ranges"].array[0]["length"].u64(), 4096u);

  r = hexz({"diff", sa, sb});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("identical:           no"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("offset 20480, length 4096"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("index"), std::string::npos) << r.out;

  // A snapshot is identical to itself (exit status 0 either way).
  r = hexz({"diff", "--json", sa, sa});
  ASSERT_TRUE(ok(r));
  j = parse_json(r.out);
  EXPECT_TRUE(j["identical"].boolean);
  EXPECT_EQ(j["streams"]["disk"]["ranges"].array.size(), 0u);
  r = hexz({"diff", sa, sa});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("identical:           yes"), std::string::npos) << r.out;

  // Different chunking: the data is compared and the ranges are exact.
  std::string sc = pack_disk("c", b, {"--chunk-size", "8K"});
  r = hexz({"diff", "--json", sa, sc});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  j = parse_json(r.out);
  EXPECT_EQ(j["compared_by"].text, "data");
  const Json& ranges = j["streams"]["disk"]["ranges"];
  ASSERT_EQ(ranges.array.size(), 2u) << r.out;
  EXPECT_EQ(ranges.array[0]["offset"].u64(), 5u * 4096 + 100);
  EXPECT_EQ(ranges.array[0]["length"].u64(), 1u);
  EXPECT_EQ(ranges.array[1]["offset"].u64(), 5u * 4096 + 3000);
  EXPECT_EQ(j["streams"]["disk"]["differing_bytes"].u64(), 2u);

  // Errors: one line, exit 1; usage: exit 2.
  ProcessResult missing = hexz({"diff", sa, output("missing.hxz")});
  EXPECT_EQ(missing.exit_code, 3) << "3 = error (1 means differ)";
  EXPECT_NE(missing.err.find("hexz: error: cannot open snapshot"), std::string::npos);
  EXPECT_NE(missing.err.find("missing.hxz"), std::string::npos) << missing.err;
  EXPECT_TRUE(is_usage_error(hexz({"diff", sa})));
}

TEST_F(CliFeatures, DiffTextListsTwentyRangesJsonAll) {
  Bytes a = make_disk_image(1u << 20, 71);
  Bytes b = a;
  for (size_t k = 0; k < 30; ++k) b[(2 * k + 1) * 4096 + 7] ^= 0xff;
  Bytes mem_a = text_bytes(100000, 72);
  std::string sa = output("a.hxz");
  std::string sb = output("b.hxz");
  ASSERT_TRUE(ok(hexz(
      {"pack", "--disk", input("a.img", a), "--memory", input("m.img", mem_a), "-o", sa, "-q"})));
  ASSERT_TRUE(ok(hexz({"pack", "--disk", input("b.img", b), "-o", sb, "-q"})));
  ProcessResult r = hexz({"diff", sa, sb});
  ASSERT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("differing ranges:  30"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("offset " + std::to_string(39 * 4096) + ","), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("offset " + std::to_string(41 * 4096) + ","), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("10 more"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("absent"), std::string::npos) << "memory is only in A: " << r.out;

  Json j = parse_json(hexz({"diff", "--json", sa, sb}).out);
  const Json& ranges = j["streams"]["disk"]["ranges"];
  ASSERT_EQ(ranges.array.size(), 30u);
  for (size_t k = 0; k < 30; ++k) {
    EXPECT_EQ(ranges.array[k]["offset"].u64(), (2 * k + 1) * 4096);
    EXPECT_EQ(ranges.array[k]["length"].u64(), 4096u);
  }
  const Json& memory = j["streams"]["memory"];
  EXPECT_TRUE(memory["in_a"].boolean);
  EXPECT_FALSE(memory["in_b"].boolean);
  EXPECT_EQ(memory["size_b"].u64(), 0u);
  EXPECT_EQ(memory["differing_bytes"].u64(), mem_a.size());
  EXPECT_FALSE(j["identical"].boolean);
}

// --- Encryption ------------------------------------------------------------------------------

class CliEncryption : public CliFeatures {
 protected:
  static constexpr const char* kMarker = "HEXZ-PLAINTEXT-MARKER-7f3a";

  void SetUp() override {
    CliFeatures::SetUp();
    Bytes text = text_bytes(1u << 20, 81);
    const std::string marker = kMarker;
    for (size_t off = 0; off + marker.size() < text.size(); off += 4000) {
      std::copy(marker.begin(), marker.end(), text.begin() + off);
    }
    disk_ = text;
    disk_path_ = input("secret.img", disk_);
    password_file_ = tmp().file("pw.txt");
    write_file(password_file_, Bytes{'h', 'u', 'n', 't', 'e', 'r', '2', '\n'});
    snap_ = output("secret.hxz");
  }

  Bytes disk_;
  std::string disk_path_;
  std::string password_file_;
  std::string snap_;
};

TEST_F(CliEncryption, PackAndReadWithPasswordFileAndEnvironment) {
  ASSERT_GT(count_occurrences(disk_, kMarker), 200u);
  // The cheapest key derivation (--kdf-memory 8M --kdf-iterations 1) keeps the test fast.
  ASSERT_TRUE(
      ok(hexz({"pack", "--disk", disk_path_, "-o", snap_, "-q", "--encrypt", "--password-file",
               password_file_, "--kdf-memory", "8M", "--kdf-iterations", "1"})));
  EXPECT_EQ(count_occurrences(read_file(snap_), kMarker), 0u) << "plaintext leaked";
  // Control: with LZ4 (which leaves literals readable) and no encryption, the marker is visible.
  std::string plain = pack_disk("plain", disk_, {"--compression", "lz4"});
  EXPECT_GT(count_occurrences(read_file(plain), kMarker), 0u);

  // info, with the file and with HEXZ_PASSWORD (its first line only, without the newline).
  Json j = info_json(snap_, {"--password-file", password_file_});
  EXPECT_TRUE(j["encrypted"].boolean);
  EXPECT_EQ(j["kdf"]["algorithm"].text, "argon2id");
  EXPECT_GT(j["kdf"]["iterations"].u64(), 0u);
  EXPECT_GT(j["kdf"]["memory_kib"].u64(), 0u);
  EXPECT_GT(j["kdf"]["parallelism"].u64(), 0u);
  j = info_json(snap_, {}, {"HEXZ_PASSWORD=hunter2"});
  EXPECT_TRUE(j["encrypted"].boolean);
  j = info_json(plain);
  EXPECT_FALSE(j["encrypted"].boolean);
  EXPECT_EQ(j["kdf"].type, Json::Type::kNull);
  ProcessResult r = hexz({"info", snap_, "--password-file", password_file_});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("AES-256-GCM"), std::string::npos) << r.out;

  // cat, extract, verify.
  r = hexz({"cat", snap_, "--password-file", password_file_});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(first_difference(Bytes(r.out.begin(), r.out.end()), disk_), -1);
  r = hexz_env(
      {"cat", snap_, "--offset", "4000", "--length", std::to_string(std::string(kMarker).size())},
      {"HEXZ_PASSWORD=hunter2"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(r.out, std::string(kMarker));
  EXPECT_EQ(first_difference(extract_disk(snap_, {"--password-file", password_file_}), disk_), -1);
  EXPECT_EQ(first_difference(extract_disk(snap_, {}, {"HEXZ_PASSWORD=hunter2"}), disk_), -1);
  r = hexz({"verify", snap_, "--password-file", password_file_});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("OK"), std::string::npos);
  EXPECT_TRUE(ok(hexz_env({"verify", "-q", snap_}, {"HEXZ_PASSWORD=hunter2"})));
  // --password-file wins over HEXZ_PASSWORD.
  EXPECT_TRUE(ok(hexz_env({"verify", "-q", snap_, "--password-file", password_file_},
                          {"HEXZ_PASSWORD=wrong"})));

  // An unencrypted snapshot never asks (even with no way to answer).
  EXPECT_TRUE(ok(hexz_no_tty({"verify", "-q", plain})));

  // diff and flatten; flatten keeps the encryption.
  std::string flat = output("flat.hxz");
  ASSERT_TRUE(ok(hexz_env({"flatten", snap_, "-o", flat, "-q"}, {"HEXZ_PASSWORD=hunter2"})));
  EXPECT_EQ(count_occurrences(read_file(flat), kMarker), 0u);
  EXPECT_TRUE(info_json(flat, {"--password-file", password_file_})["encrypted"].boolean);
  r = hexz({"diff", "--json", snap_, flat, "--password-file", password_file_});
  ASSERT_TRUE(ok(r));
  EXPECT_TRUE(parse_json(r.out)["identical"].boolean);
  // Issue 14: a password means every snapshot opened with it must be encrypted.
  // (diff exits 3 on an error: 1 means "they differ".)
  r = hexz({"diff", "--json", snap_, plain, "--password-file", password_file_});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("hexz: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("is not encrypted, but a password was given"), std::string::npos) << r.err;
  // The attack of issue 14: an unencrypted file in place of the encrypted one is refused by
  // cat and verify given the password by file or environment, and nothing of it is printed.
  for (const auto& extra :
       std::vector<std::vector<std::string>>{{"--password-file", password_file_}, {}}) {
    const std::vector<std::string> env = extra.empty()
                                             ? std::vector<std::string>{"HEXZ_PASSWORD=hunter2"}
                                             : std::vector<std::string>{};
    std::vector<std::string> cat = {"cat", plain, "--length", "4096"};
    cat.insert(cat.end(), extra.begin(), extra.end());
    r = hexz_env(cat, env);
    EXPECT_TRUE(is_cli_error(r, "is not encrypted, but a password was given")) << r.err;
    EXPECT_TRUE(r.out.empty());
    std::vector<std::string> verify = {"verify", plain};
    verify.insert(verify.end(), extra.begin(), extra.end());
    r = hexz_env(verify, env);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("is not encrypted, but a password was given"), std::string::npos) << r.err;
  }
  // Without a password to be had, info shows what the clear header says (issue 15).
  r = hexz_no_tty({"info", flat});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("AES-256-GCM, Argon2id key"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("in the encrypted index (give the password)"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("is encrypted; without its password only the header is shown"),
            std::string::npos)
      << r.err;
  r = hexz_no_tty({"info", "--json", flat});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json header_only = parse_json(r.out);
  EXPECT_TRUE(header_only["header_only"].boolean);
  EXPECT_TRUE(header_only["encrypted"].boolean);
  EXPECT_EQ(header_only["streams"]["disk"]["chunks"].type, Json::Type::kNull);
  EXPECT_EQ(header_only["identity"].text,
            info_json(flat, {"--password-file", password_file_})["identity"].text);
  // --header-only never asks and reads no index; an unencrypted header carries the counters.
  r = hexz({"info", "--json", "--header-only", plain});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Json plain_header = parse_json(r.out);
  EXPECT_TRUE(plain_header["header_only"].boolean);
  EXPECT_EQ(plain_header["streams"]["disk"]["chunks"].u64(),
            info_json(plain)["streams"]["disk"]["chunks"].u64());
  EXPECT_FALSE(info_json(plain)["header_only"].boolean);

  // pack with HEXZ_PASSWORD instead of a file.
  std::string env_snap = output("env.hxz");
  ASSERT_TRUE(ok(hexz_env({"pack", "--disk", disk_path_, "-o", env_snap, "-q", "--encrypt",
                           "--kdf-memory", "8M", "--kdf-iterations", "1"},
                          {"HEXZ_PASSWORD=hunter2"})));
  EXPECT_TRUE(ok(hexz({"verify", "-q", env_snap, "--password-file", password_file_})));
}

TEST_F(CliEncryption, WrongMissingAndEmptyPasswords) {
  // The cheapest key derivation (--kdf-memory 8M --kdf-iterations 1) keeps the test fast.
  ASSERT_TRUE(
      ok(hexz({"pack", "--disk", disk_path_, "-o", snap_, "-q", "--encrypt", "--password-file",
               password_file_, "--kdf-memory", "8M", "--kdf-iterations", "1"})));
  std::string wrong = tmp().file("wrong.txt");
  write_file(wrong, Bytes{'h', 'u', 'n', 't', 'e', 'r', '3', '\n'});
  std::string empty = tmp().file("empty.txt");
  write_file(empty, Bytes{});
  std::string newline_only = tmp().file("newline.txt");
  write_file(newline_only, Bytes{'\n', 'x', '\n'});

  for (const char* cmd : {"info", "cat", "verify"}) {
    SCOPED_TRACE(cmd);
    EXPECT_TRUE(is_error(hexz({cmd, snap_, "--password-file", wrong}), "wrong password"));
    EXPECT_TRUE(is_error(hexz_env({cmd, snap_}, {"HEXZ_PASSWORD=hunter3"}), "wrong password"));
    if (std::string(cmd) != "info") {  // info shows the header instead (tested above)
      EXPECT_TRUE(is_error(hexz_no_tty({cmd, snap_}), "password is needed"));
    }
    EXPECT_TRUE(is_error(hexz({cmd, snap_, "--password-file", empty}), "empty"));
    EXPECT_TRUE(is_error(hexz({cmd, snap_, "--password-file", newline_only}), "empty"));
    EXPECT_TRUE(is_error(hexz_env({cmd, snap_}, {"HEXZ_PASSWORD="}), "empty"));
    EXPECT_TRUE(
        is_error(hexz({cmd, snap_, "--password-file", tmp().file("nope.txt")}), "nope.txt"));
  }
  EXPECT_TRUE(
      is_error(hexz({"extract", snap_, "--disk", output("x.img"), "--password-file", wrong}),
               "wrong password"));
  EXPECT_TRUE(
      is_error(hexz_no_tty({"extract", snap_, "--disk", output("x.img")}), "password is needed"));
  EXPECT_TRUE(
      is_error(hexz_no_tty({"flatten", snap_, "-o", output("x.hxz")}), "password is needed"));
  // diff: exit 1 means "differ", so its errors exit 3.
  ProcessResult d = hexz({"diff", snap_, snap_, "--password-file", wrong});
  EXPECT_EQ(d.exit_code, 3);
  EXPECT_NE(d.err.find("hexz: error: wrong password"), std::string::npos) << d.err;

  // pack: no password source and no terminal, or an empty password.
  std::string o = output("new.hxz");
  ProcessResult r = hexz_no_tty({"pack", "--disk", disk_path_, "-o", o, "--encrypt"});
  EXPECT_TRUE(
      is_error(r, "a password is needed: use --password-file, --password-fd, --password-command"));
  EXPECT_TRUE(
      is_error(hexz({"pack", "--disk", disk_path_, "-o", o, "--encrypt", "--password-file", empty}),
               "empty"));
  EXPECT_TRUE(is_error(
      hexz_no_tty({"pack", "--disk", disk_path_, "-o", o, "--encrypt"}, {"HEXZ_PASSWORD="}),
      "empty"));
  // Never from the command line; the password file only goes with --encrypt.
  EXPECT_TRUE(is_usage_error(
      hexz({"pack", "--disk", disk_path_, "-o", o, "--encrypt", "--password", "hunter2"})));
  EXPECT_TRUE(is_usage_error(
      hexz({"pack", "--disk", disk_path_, "-o", o, "--password-file", password_file_})));
  // An encrypted thin snapshot of the encrypted snap_ asks for the new snapshot's password (and
  // finds none); an unencrypted one of it is refused before anything is asked; so is
  // --base-password-file without --base.
  EXPECT_TRUE(
      is_error(hexz_no_tty({"pack", "--disk", disk_path_, "-o", o, "--encrypt", "--base", snap_}),
               "a password is needed"));
  EXPECT_TRUE(is_error(hexz_no_tty({"pack", "--disk", disk_path_, "-o", o, "--base", snap_}),
                       "is encrypted: a thin snapshot of it must be encrypted too"));
  EXPECT_TRUE(
      is_usage_error(hexz({"pack", "--disk", disk_path_, "-o", o, "--encrypt", "--password-file",
                           password_file_, "--base-password-file", password_file_})));
  EXPECT_FALSE(fs::exists(o));
  EXPECT_EQ(list_dir(out_dir()), std::vector<std::string>{"secret.hxz"});
}

TEST_F(CliFeatures, HelpListsTheNewCommandsAndOptions) {
  ProcessResult r = hexz({"--help"});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("flatten"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("diff"), std::string::npos) << r.out;
  r = hexz({"pack", "--help"});
  ASSERT_TRUE(ok(r));
  for (const char* option :
       {"--threads", "--train-dict", "--cdc", "--min-chunk", "--avg-chunk", "--max-chunk", "--base",
        "--base-dir", "--encrypt", "--password-file"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
  for (const char* cmd : {"info", "cat", "extract", "verify", "flatten", "diff"}) {
    r = hexz({cmd, "--help"});
    ASSERT_TRUE(ok(r)) << cmd;
    EXPECT_NE(r.out.find("--password-file"), std::string::npos) << cmd;
    EXPECT_NE(r.out.find("--base-dir"), std::string::npos) << cmd;
  }
}

// --verify-reads: a block rewritten with its XXH3 checksums recomputed reads back silently
// without it, and is refused with it (cat, extract); other blocks still read.
TEST_F(CliFeatures, VerifyReadsRefusesARewrittenBlock) {
  const Bytes disk = random_bytes(1 << 20, 21);
  auto o = options(input("d.img", disk), "", output("s.hxz"));
  o.codec = hexz::Codec::kNone;
  o.block_size = 65536;  // the first block is [512, 66048), stored raw
  hexz::pack(o);
  Bytes file = read_file(output("s.hxz"));
  for (size_t i = 0; i < 16; ++i) file[600 + i] ^= 0x5a;
  const uint64_t sum = XXH3_64bits(file.data() + 512, 65536);
  write_file(output("s.hxz"), layout::with_block_checksum(file, 0, 512, sum));
  const std::string snap = output("s.hxz");
  ProcessResult r = hexz({"cat", snap, "--length", "4096"});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(Bytes(r.out.begin(), r.out.end()), Bytes(disk.begin(), disk.begin() + 4096));
  EXPECT_TRUE(is_error(hexz({"cat", "--verify-reads", snap, "--length", "4096"}),
                       "chunk at disk offset 0 (4096 bytes, in the block at file offset 512 of "
                       "this file) does not match its digest"));
  EXPECT_TRUE(is_error(hexz({"extract", "--verify-reads", snap, "--disk", output("x.img")}),
                       "does not match its digest"));
  EXPECT_FALSE(fs::exists(output("x.img")));
  r = hexz({"cat", "--verify-reads", snap, "--offset", "65536", "--length", "4096"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()),
            Bytes(disk.begin() + 65536, disk.begin() + 65536 + 4096));
}

// keygen, sign, and --key on the reading commands: a signed snapshot verifies with its key,
// is refused with another key, and an unsigned one is refused when a key is required.
TEST_F(CliFeatures, KeygenSignAndVerifyWithAKey) {
  const Bytes disk = make_disk_image(1 << 20, 22);
  const std::string snap = output("s.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--disk", input("d.img", disk), "-o", snap})));
  const std::string key = output("key");
  ProcessResult r = hexz({"keygen", "-o", key});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("key.pub"), std::string::npos) << r.out;
  EXPECT_TRUE(is_error(hexz({"keygen", "-o", key}), "already exists"));
  EXPECT_TRUE(is_error(hexz({"verify", "-q", snap, "--key", key + ".pub"}), "is not signed"));
  r = hexz({"sign", snap, "--key", key});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.out.find("1 signature"), std::string::npos) << r.out;
  // info lists the signature's key (without checking it).
  Json j = info_json(snap);
  ASSERT_EQ(j["signatures"].array.size(), 1u);
  EXPECT_EQ(j["signatures"].array[0]["public_key"].text.size(), 64u);
  EXPECT_NE(hexz({"info", snap}).out.find("signature:"), std::string::npos);
  EXPECT_EQ(info_json(snap, {"--header-only"})["signatures"].array.size(), 1u);
  EXPECT_TRUE(ok(hexz({"verify", "-q", snap, "--key", key + ".pub"})));
  EXPECT_TRUE(ok(hexz({"verify", "-q", snap})));  // no key: the signature is not required
  r = hexz({"cat", snap, "--key", key + ".pub", "--length", "4096"});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), Bytes(disk.begin(), disk.begin() + 4096));
  ASSERT_TRUE(ok(hexz({"keygen", "-o", output("other")})));
  EXPECT_TRUE(is_error(hexz({"verify", "-q", snap, "--key", output("other.pub")}),
                       "not signed by a trusted key"));
  EXPECT_TRUE(ok(hexz({"info", snap, "--key", output("other.pub"), "--key", key + ".pub"})));
  EXPECT_TRUE(is_error(hexz({"verify", "-q", snap, "--key", snap}), "is not an Ed25519"));
}

// --- attachments ------------------------------------------------------------------------------

TEST_F(CliFeatures, PackAttachInfoAndAttachmentWriteOut) {
  const Bytes vmstate = text_bytes(100000, 3);
  const std::string vm = input("vm.snap", vmstate);
  const std::string cfg = input("vm.json", Bytes{'{', '}', '\n'});
  const std::string snap = pack_disk("a", make_disk_image(1 << 20, 2),
                                     {"--attach", "vmstate=" + vm, "--attach", "config=" + cfg});
  Json j = info_json(snap);
  EXPECT_EQ(j["format_version"].text, "1.1");
  ASSERT_EQ(j["attachments"].array.size(), 2u);
  EXPECT_EQ(j["attachments"].array[0]["name"].text, "vmstate");
  EXPECT_EQ(j["attachments"].array[0]["size"].u64(), vmstate.size());
  EXPECT_LT(j["attachments"].array[0]["stored_size"].u64(), vmstate.size());
  EXPECT_EQ(j["attachments"].array[1]["name"].text, "config");
  // --header-only reads no index, but the clear tail's attachment table still lists them.
  Json peek = info_json(snap, {"--header-only"});
  ASSERT_EQ(peek["attachments"].array.size(), 2u);
  EXPECT_EQ(peek["attachments"].array[1]["name"].text, "config");
  ProcessResult text = hexz({"info", snap});
  ASSERT_TRUE(ok(text));
  EXPECT_NE(text.out.find("attachments:\n  vmstate:"), std::string::npos) << text.out;
  // To standard output and to a file (refused if it exists, unless -f).
  ProcessResult out = hexz({"attachment", snap, "vmstate"});
  ASSERT_TRUE(ok(out));
  EXPECT_EQ(Bytes(out.out.begin(), out.out.end()), vmstate);
  const std::string dest = output("vm.out");
  EXPECT_TRUE(ok(hexz({"attachment", snap, "config", "-o", dest})));
  EXPECT_EQ(read_file(dest), read_file(cfg));
  EXPECT_TRUE(is_error(hexz({"attachment", snap, "config", "-o", dest}), "already exists"));
  EXPECT_TRUE(ok(hexz({"attachment", snap, "vmstate", "-o", dest, "-f"})));
  EXPECT_EQ(read_file(dest), vmstate);
  EXPECT_TRUE(is_error(hexz({"attachment", snap, "nope", "-o", output("n.out")}),
                       "has no attachment 'nope' (it has: vmstate, config)"));
  EXPECT_FALSE(fs::exists(output("n.out")));
}

TEST_F(CliFeatures, AttachReplacesAndRemovesInPlace) {
  const Bytes disk = make_disk_image(1 << 20, 4);
  const std::string snap = pack_disk("u", disk);
  const Bytes original = read_file(snap);
  const std::string a = input("a.bin", text_bytes(5000, 1));
  const std::string b = input("b.bin", text_bytes(7000, 2));
  ProcessResult r = hexz({"attach", snap, "trace=" + a, "vmstate=" + b});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.err.find("2 attachments"), std::string::npos) << r.err;
  EXPECT_TRUE(ok(hexz({"attach", "-q", snap, "trace=" + b})));
  ProcessResult got = hexz({"attachment", snap, "trace"});
  EXPECT_EQ(Bytes(got.out.begin(), got.out.end()), read_file(b));
  EXPECT_EQ(extract_disk(snap), disk);
  EXPECT_TRUE(ok(hexz({"verify", "-q", snap})));
  EXPECT_TRUE(ok(hexz({"attach", "-q", snap, "--remove", "trace", "--remove", "vmstate"})));
  EXPECT_EQ(read_file(snap), original);
}

TEST_F(CliFeatures, AttachErrorsAreOneLineAndLeaveTheSnapshotAlone) {
  const std::string snap = pack_disk("e", make_disk_image(1 << 20, 5));
  const Bytes before = read_file(snap);
  const std::string f = input("f.bin", text_bytes(100, 1));
  EXPECT_TRUE(is_usage_error(hexz({"attach", snap, "noequals"})));
  EXPECT_TRUE(is_usage_error(hexz({"attach", snap})));
  EXPECT_TRUE(is_usage_error(hexz({"pack", "--disk", f, "-o", output("x.hxz"), "--attach", "x"})));
  EXPECT_FALSE(fs::exists(output("x.hxz")));
  EXPECT_TRUE(is_error(hexz({"attach", snap, "bad/name=" + f}), "is not valid"));
  EXPECT_TRUE(is_error(hexz({"attach", snap, "a=" + f, "a=" + f}), "is given twice"));
  EXPECT_TRUE(is_error(hexz({"attach", snap, "a=" + output("missing")}), "no such file"));
  EXPECT_TRUE(is_error(hexz({"attach", snap, "--remove", "ghost"}), "no attachment 'ghost'"));
  EXPECT_TRUE(is_error(hexz({"pack", "--disk", f, "-o", output("y.hxz"), "--attach", ".x=" + f}),
                       "is not valid"));
  EXPECT_FALSE(fs::exists(output("y.hxz")));
  EXPECT_EQ(read_file(snap), before);
  // A signed snapshot needs --drop-signatures.
  const std::string key = output("key");
  ASSERT_TRUE(ok(hexz({"keygen", "-o", key})));
  ASSERT_TRUE(ok(hexz({"sign", "-q", snap, "--key", key})));
  EXPECT_TRUE(is_error(hexz({"attach", snap, "a=" + f}), "--drop-signatures"));
  ProcessResult r = hexz({"attach", snap, "a=" + f, "--drop-signatures"});
  ASSERT_TRUE(ok(r));
  EXPECT_NE(r.err.find("sign it again"), std::string::npos) << r.err;
  for (const char* cmd : {"attach", "attachment"}) {
    ProcessResult help = hexz({cmd, "--help"});
    EXPECT_TRUE(ok(help));
    EXPECT_NE(help.out.find("Usage"), std::string::npos);
  }
}

TEST_F(CliFeatures, EncryptedAttachmentsNeedThePassword) {
  const std::string pw = input("pw", Bytes{'s', 'e', 'c', 'r', 'e', 't', '\n'});
  const std::string vm = input("vm.snap", text_bytes(3000, 8));
  const std::string snap = output("enc.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--disk", input("d.img", make_disk_image(1 << 20, 6)), "-o", snap,
                       "-q", "--encrypt", "--password-file", pw, "--kdf-memory", "8M",
                       "--kdf-iterations", "1", "--attach", "vmstate=" + vm})));
  EXPECT_TRUE(is_error(hexz_no_tty({"attachment", snap, "vmstate"}), "password"));
  ProcessResult r = hexz({"attachment", snap, "vmstate", "--password-file", pw});
  ASSERT_TRUE(ok(r));
  EXPECT_EQ(Bytes(r.out.begin(), r.out.end()), read_file(vm));
  EXPECT_TRUE(ok(hexz({"attach", "-q", snap, "config=" + pw, "--password-file", pw})));
  Json j = info_json(snap, {"--password-file", pw});
  EXPECT_EQ(j["attachments"].array.size(), 2u);
}

// --- diff memory snapshots (--holes-inherit) --------------------------------------------------

TEST_F(CliFeatures, HolesInheritNeedsBaseAndReadsAsTheMergedMemory) {
  const std::string mem = in_dir() + "/diff.mem";
  make_sparse_file(mem, 64 * 4096, {{4096 * 3 + 100, text_bytes(5000, 1)}});
  EXPECT_TRUE(
      is_usage_error(hexz({"pack", "--memory", mem, "-o", output("d.hxz"), "--holes-inherit"})));
  EXPECT_FALSE(fs::exists(output("d.hxz")));
  ProcessResult help = hexz({"pack", "--help"});
  EXPECT_NE(help.out.find("--holes-inherit"), std::string::npos);
  if (!filesystem_supports_holes(in_dir())) GTEST_SKIP() << "no holes on this file system";
  Bytes merged = make_memory_image(64 * 4096, {}, 3);
  const std::string base = output("base.hxz");
  ASSERT_TRUE(ok(hexz({"pack", "--memory", input("full.mem", merged), "-o", base, "-q"})));
  ASSERT_TRUE(ok(hexz(
      {"pack", "--memory", mem, "--base", base, "--holes-inherit", "-o", output("d.hxz"), "-q"})));
  const Bytes piece = text_bytes(5000, 1);
  std::copy(piece.begin(), piece.end(), merged.begin() + 4096 * 3 + 100);
  ProcessResult cat = hexz({"cat", output("d.hxz"), "--stream", "memory"});
  ASSERT_TRUE(ok(cat));
  EXPECT_EQ(Bytes(cat.out.begin(), cat.out.end()), merged);
}

}  // namespace
}  // namespace hexz_test

// --- boot traces ------------------------------------------------------------------------------

namespace hexz_test {
namespace {

/// Records a trace of a few scattered reads of `snap` through the library, into out/NAME.
std::string record_trace_file(const std::string& snap, const std::string& path) {
  hexz::OpenOptions o;
  o.record_trace = true;
  o.threads = 1;
  const auto s = hexz::Snapshot::open(snap, o);
  std::vector<std::byte> buf(4096);
  for (uint64_t block : {9, 2, 13, 5}) s->read(hexz::Stream::kDisk, block << 16, buf);
  const auto trace = s->recorded_trace();
  write_file(path, Bytes(reinterpret_cast<const uint8_t*>(trace.data()),
                         reinterpret_cast<const uint8_t*>(trace.data()) + trace.size()));
  return path;
}

TEST_F(CliFeatures, TraceAddShowInfoAndRemove) {
  const Bytes disk = random_bytes(1 << 20, 8);
  const std::string snap = pack_disk("t", disk);
  const Bytes original = read_file(snap);
  const std::string trace = record_trace_file(snap, output("boot.trace"));
  ProcessResult shown = hexz({"trace", "show", trace, "--json", "--events"});
  ASSERT_TRUE(ok(shown));
  Json j = parse_json(shown.out);
  EXPECT_EQ(j["summary"]["blocks"].u64(), 4u);
  EXPECT_EQ(j["summary"]["index_pages"].u64(), 1u);
  ASSERT_EQ(j["events"].array.size(), 5u);
  EXPECT_EQ(j["events"].array[0]["kind"].text, "index_page");
  EXPECT_EQ(j["events"].array[1]["logical_offset"].u64(), 9u << 16);
  EXPECT_EQ(j["events"].array[4]["logical_offset"].u64(), 5u << 16);
  EXPECT_TRUE(is_error(hexz({"trace", "show", snap}), "has no boot trace"));
  EXPECT_EQ(info_json(snap)["trace"].type, Json::Type::kNull);

  ASSERT_TRUE(ok(hexz({"trace", "add", "-q", snap, trace})));
  EXPECT_EQ(extract_disk(snap), disk);
  EXPECT_TRUE(ok(hexz({"verify", "-q", snap})));
  EXPECT_EQ(info_json(snap)["trace"]["blocks"].u64(), 4u);
  ProcessResult text = hexz({"info", snap});
  EXPECT_NE(text.out.find("boot trace:"), std::string::npos) << text.out;
  ProcessResult stored = hexz({"trace", "show", snap});
  ASSERT_TRUE(ok(stored));
  EXPECT_NE(stored.out.find("4 blocks"), std::string::npos) << stored.out;
  // `hexz attach` keeps hexz.* names for hexz; the trace is removed with `hexz trace remove`.
  EXPECT_TRUE(is_usage_error(hexz({"attach", snap, "hexz.trace=" + trace})));
  ASSERT_TRUE(ok(hexz({"trace", "remove", "-q", snap})));
  EXPECT_EQ(read_file(snap), original);
  EXPECT_TRUE(is_error(hexz({"trace", "remove", snap}), "has no boot trace"));
}

TEST_F(CliFeatures, CommitAndPackShareTheLevelRangesOfEachCodec) {
  const std::string d = input("d.img", random_bytes(8192, 1));
  for (const char* cmd : {"pack", "commit"}) {
    std::vector<std::string> base =
        std::string(cmd) == "pack"
            ? std::vector<std::string>{"pack", "--disk", d, "-o", output("x.hxz")}
            : std::vector<std::string>{"commit",        d,    "--base",
                                       output("b.hxz"), "-o", output("x.hxz")};
    auto with = [&](std::vector<std::string> extra) {
      auto args = base;
      args.insert(args.end(), extra.begin(), extra.end());
      return hexz(args);
    };
    EXPECT_TRUE(is_usage_error(with({"--compression", "lz4", "--level", "13"}))) << cmd;
    EXPECT_TRUE(is_usage_error(with({"--level", "23"}))) << cmd;
    EXPECT_TRUE(is_usage_error(with({"--level", "-1"}))) << cmd;
    EXPECT_TRUE(is_usage_error(with({"--compression", "brotli"}))) << cmd;
    EXPECT_FALSE(fs::exists(output("x.hxz"))) << cmd;
  }
}

TEST_F(CliFeatures, TraceErrorsAreOneLineAndLeaveTheSnapshotAlone) {
  const std::string a = pack_disk("a", random_bytes(1 << 20, 1));
  const std::string b = pack_disk("b", random_bytes(1 << 20, 2));
  const Bytes before = read_file(b);
  const std::string trace = record_trace_file(a, output("a.trace"));
  EXPECT_TRUE(is_error(hexz({"trace", "add", b, trace}), "recorded on another snapshot"));
  Bytes damaged = read_file(trace);
  damaged[75] ^= 1;
  const std::string bad = input("bad.trace", damaged);
  EXPECT_TRUE(is_error(hexz({"trace", "add", b, bad}), "checksum does not match"));
  EXPECT_TRUE(is_error(hexz({"trace", "show", bad}), "is not a valid boot trace"));
  EXPECT_TRUE(is_error(hexz({"trace", "add", b, output("missing.trace")}), "no such file"));
  EXPECT_TRUE(is_error(hexz({"trace", "add", b, a}), "trace magic"));
  EXPECT_TRUE(is_error(hexz({"trace", "add", "http://127.0.0.1:9/b.hxz", trace}), "in place"));
  EXPECT_TRUE(is_usage_error(hexz({"trace"})));
  EXPECT_TRUE(is_usage_error(hexz({"trace", "add", b})));
  EXPECT_EQ(read_file(b), before);
}

}  // namespace
}  // namespace hexz_test
