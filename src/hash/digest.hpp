// BLAKE3 digests: chunk identities for dedup and the snapshot's content identity.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

namespace hexz::hash {

/// Bytes of a stored chunk digest: BLAKE3 output truncated to 128 bits.
inline constexpr size_t kChunkDigestSize = 16;

/// A chunk's dedup key. All-zero value is reserved for "no digest" (zero chunks).
struct ChunkDigest {
  std::array<unsigned char, kChunkDigestSize> bytes{};
  bool operator==(const ChunkDigest& o) const { return bytes == o.bytes; }
  /// A well-mixed 64-bit value for hash tables (the digest's first 8 bytes).
  uint64_t prefix64() const {
    uint64_t v;
    std::memcpy(&v, bytes.data(), sizeof v);
    return v;
  }
};

/// BLAKE3 of `data`, truncated to kChunkDigestSize bytes.
ChunkDigest chunk_digest(const void* data, size_t size);

/// Incremental BLAKE3-256, e.g. for the snapshot identity.
class Blake3 {
 public:
  Blake3();
  ~Blake3();
  Blake3(const Blake3&) = delete;
  Blake3& operator=(const Blake3&) = delete;
  /// Absorbs `size` bytes.
  void update(const void* data, size_t size);
  /// Returns the 32-byte digest of everything absorbed so far.
  std::array<unsigned char, 32> finish() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Lower-case hex of `size` bytes.
std::string to_hex(const unsigned char* data, size_t size);

}  // namespace hexz::hash
