#include "reader_oracle.hpp"

#include <algorithm>
#include <random>

#include "fuzz_input.hpp"
#include "hexz/diff.hpp"
#include "hexz/error.hpp"
#include "read/snapshot_reader.hpp"
#include "support/craft.hpp"

namespace hexz_fuzz {

namespace {

/// Streams at most this long are read back whole by the oracle.
constexpr uint64_t kMaxOracleBytes = 4u << 20;

std::vector<std::byte> read_all(const hexz::Snapshot& snap, hexz::Stream s, size_t piece) {
  std::vector<std::byte> out(snap.size(s));
  for (size_t at = 0; at < out.size(); at += piece) {
    const size_t n = std::min(piece, out.size() - at);
    snap.read(s, at, std::span(out).subspan(at, n));
  }
  return out;
}

}  // namespace

std::unique_ptr<hexz::Snapshot> open_memory(std::shared_ptr<const std::vector<uint8_t>> file,
                                            const std::string& password, bool cold) {
  hexz::OpenOptions o;
  o.threads = 1;
  o.readahead_bytes = 0;
  o.password = password;
  // The seeds use the cheapest key derivation; a mutated cost above this is refused unrun, so
  // an iteration never spends seconds in Argon2id.
  o.max_kdf_memory_kib = 16 * 1024;
  o.max_kdf_iterations = 2;
  o.block_cache_bytes = cold ? 0 : 4u << 20;
  o.page_cache_bytes = cold ? 0 : 1u << 20;
  return std::make_unique<hexz::read::SnapshotReader>(
      std::make_unique<hexz_test::craft::MemoryFile>(std::move(file)), o, false);
}

void exercise(const hexz::Snapshot& snap, std::shared_ptr<const std::vector<uint8_t>> file,
              const std::string& password, uint32_t seed) {
  std::mt19937 rng(seed);
  try {
    (void)snap.info();
  } catch (const hexz::Error&) {
  }
  for (int si = 0; si < hexz::kStreamCount; ++si) {
    const auto s = static_cast<hexz::Stream>(si);
    if (!snap.has_stream(s)) continue;
    const uint64_t size = snap.size(s);
    try {
      uint64_t covered = 0;
      snap.for_each_extent(s, 0, size, [&](uint64_t, uint64_t len, bool) { covered += len; });
      if (covered != size) finding("extents do not cover the stream");
    } catch (const hexz::Error&) {
    }
    std::vector<std::byte> buf(1 << 16);
    for (int r = 0; r < 6 && size > 0; ++r) {
      const uint64_t at = std::uniform_int_distribution<uint64_t>(0, size - 1)(rng);
      const size_t len = static_cast<size_t>(
          std::min<uint64_t>(size - at, std::uniform_int_distribution<size_t>(1, buf.size())(rng)));
      try {
        snap.read(s, at, std::span(buf).first(len));
      } catch (const hexz::Error&) {
      }
    }
  }
  try {
    const hexz::DiffResult d = hexz::diff(snap, snap);
    for (const auto& sd : d.streams) {
      if (!sd.ranges.empty()) finding("a snapshot differs from itself");
    }
  } catch (const hexz::Error&) {
  }
  const hexz::VerifyReport report = snap.verify({});  // must not throw
  if (!report.ok) return;
  if (snap.size(hexz::Stream::kDisk) + snap.size(hexz::Stream::kMemory) > kMaxOracleBytes) return;
  // Verify-then-read: a file that verifies reads back, cold and warm, with the same bytes.
  try {
    const auto cold = open_memory(file, password, true);
    for (int si = 0; si < hexz::kStreamCount; ++si) {
      const auto s = static_cast<hexz::Stream>(si);
      if (!cold->has_stream(s)) continue;
      const auto small = read_all(*cold, s, 1000);
      const auto whole = read_all(snap, s, SIZE_MAX);
      if (small != whole) finding("a verified stream reads back differently");
    }
  } catch (const hexz::Error& e) {
    std::fprintf(stderr, "read after verify OK failed: %s\n", e.what());
    finding("a verified snapshot failed a read");
  }
}

}  // namespace hexz_fuzz
