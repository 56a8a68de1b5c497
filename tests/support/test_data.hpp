// Test-data generation and small file helpers shared by the hexz test suite.
//
// Every generator is deterministic: it takes an explicit seed and uses
// std::mt19937_64, so a failing test reproduces byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "hexz/hexz.hpp"

namespace hexz_test {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Temporary directories

/// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  /// path() / name, as a string.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// ---------------------------------------------------------------------------
// File helpers

void write_file(const std::string& path, const Bytes& data);
Bytes read_file(const std::string& path);
bool files_equal(const std::string& a, const std::string& b);
/// Names of the entries of `dir` (not recursive), sorted.
std::vector<std::string> list_dir(const fs::path& dir);

/// Creates a sparse file of `size` bytes (ftruncate, real holes) and writes each
/// (offset, bytes) piece into it.
void make_sparse_file(const std::string& path, uint64_t size,
                      const std::vector<std::pair<uint64_t, Bytes>>& pieces);

/// True if the file system holding `dir` keeps holes (a 16 MiB ftruncated file
/// occupies almost no blocks).
bool filesystem_supports_holes(const fs::path& dir);

/// st_blocks * 512 of `path`.
uint64_t allocated_bytes(const std::string& path);

// ---------------------------------------------------------------------------
// Content generators (each appends exactly n bytes)

/// Words from a fixed vocabulary with spaces, punctuation and newlines: looks
/// like config files, logs and source text.
void append_text(Bytes& out, size_t n, std::mt19937_64& rng);
/// Bytes drawn from a small alphabet (like bitmaps, tables of flags).
void append_small_alphabet(Bytes& out, size_t n, std::mt19937_64& rng);
/// Sequences of common x86-64 instruction encodings (prologues, calls, movs, nops).
void append_x86ish(Bytes& out, size_t n, std::mt19937_64& rng);
/// Little-endian records: counters, pointers, small ints, as in metadata blocks or heaps.
void append_structs(Bytes& out, size_t n, std::mt19937_64& rng);
/// Incompressible uniformly random bytes.
void append_random(Bytes& out, size_t n, std::mt19937_64& rng);
void append_zeros(Bytes& out, size_t n);

/// `n` bytes of random data for a given seed; distinct seeds give distinct data.
Bytes random_bytes(size_t n, uint64_t seed);
/// `n` bytes of a compressible but non-zero pattern unique to `seed`.
Bytes text_bytes(size_t n, uint64_t seed);

/// A disk-like image of exactly `size` bytes: a mix of text, binaries, metadata,
/// random (already compressed) regions, whole-chunk and partial zero runs, and
/// 4 KiB-aligned repeats of earlier parts of the image.
Bytes make_disk_image(size_t size, uint64_t seed);

/// A memory-like image of exactly `size` bytes: zero pages, code, heap-like
/// structures, random pages, and page-cache copies of 4 KiB chunks of `disk`
/// (if non-empty) at 4 KiB-aligned offsets.
Bytes make_memory_image(size_t size, const Bytes& disk, uint64_t seed);

// ---------------------------------------------------------------------------
// Reference model of chunk statistics

struct ExpectedStats {
  uint64_t chunks = 0;
  uint64_t zero_chunks = 0;
  uint64_t dup_chunks = 0;
};

/// What hexz should report for chunk size `chunk`: the disk stream is chunked
/// first, then memory; a chunk is zero if all its bytes are zero (a short final
/// chunk included), otherwise a duplicate if a chunk with identical bytes (same
/// length) was seen earlier in either stream. Absent streams are null.
void model_stats(const Bytes* disk, const Bytes* memory, uint32_t chunk, ExpectedStats out[2]);

// ---------------------------------------------------------------------------
// Snapshot helpers

/// Reads a whole stream through Snapshot::read in pieces of `piece` bytes.
Bytes read_stream(const hexz::Snapshot& snap, hexz::Stream s, size_t piece = 1 << 20);
/// Reads [offset, offset+len) of a stream.
Bytes read_range(const hexz::Snapshot& snap, hexz::Stream s, uint64_t offset, size_t len);

/// Index of the first differing byte, or -1 if equal (sizes compared too).
long long first_difference(const Bytes& a, const Bytes& b);

}  // namespace hexz_test
