// Block compression: LZ4 (fast, or HC for level > 1) and Zstd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "hexz/types.hpp"

namespace hexz::codec {

/// A trained Zstd dictionary with its prepared compression and decompression tables.
/// Immutable after construction and safe to share between threads.
class Dictionary {
 public:
  /// Prepares `bytes` for compression at `level` (0 = default). Throws kCorrupt if Zstd
  /// rejects the dictionary.
  Dictionary(std::vector<std::byte> bytes, int level);
  ~Dictionary();
  Dictionary(const Dictionary&) = delete;
  Dictionary& operator=(const Dictionary&) = delete;

  const std::vector<std::byte>& bytes() const { return bytes_; }
  /// Opaque Zstd handles (ZSTD_CDict*, ZSTD_DDict*).
  const void* cdict() const { return cdict_; }
  const void* ddict() const { return ddict_; }

 private:
  std::vector<std::byte> bytes_;
  void* cdict_ = nullptr;
  void* ddict_ = nullptr;
};

/// Compresses blocks with one codec and level. Holds per-instance scratch state, so an
/// instance must be used by one thread at a time (give each worker its own).
class Compressor {
 public:
  /// `level` 0 selects the codec's default. Throws kInvalidArgument for an unusable level.
  /// `dictionary` (Zstd only; may be null) must outlive the compressor.
  Compressor(Codec codec, int level, const Dictionary* dictionary = nullptr);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  /// Upper bound of compress() output for `raw_size` input bytes.
  size_t bound(size_t raw_size) const;
  /// Compresses `in` into `out` (sized at least bound(in.size())). Returns the compressed
  /// size, or 0 if the result would not be smaller than the input (caller stores raw).
  size_t compress(std::span<const std::byte> in, std::span<std::byte> out);
  Codec codec() const { return codec_; }

 private:
  Codec codec_;
  int level_;
  struct State;
  std::unique_ptr<State> state_;
};

/// Decompresses blocks of any codec. One thread at a time per instance.
class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  /// Decodes `in` (compressed with `codec`) into exactly out.size() bytes. Throws
  /// hexz::Error(kCorrupt) if the data is malformed or does not decode to exactly that size.
  /// Zstd blocks of a snapshot with a dictionary need that `dictionary`.
  void decompress(Codec codec, std::span<const std::byte> in, std::span<std::byte> out,
                  const Dictionary* dictionary = nullptr);
  /// Decodes at least the first `want` bytes (1 <= want <= out.size()) of a block whose whole
  /// decoded size is out.size(), and returns how many leading bytes of `out` are valid (want to
  /// out.size()). LZ4 stops early; the other codecs decode everything. Throws kCorrupt like
  /// decompress(), for a malformed prefix or, when all is decoded, a size mismatch.
  size_t decompress_prefix(Codec codec, std::span<const std::byte> in, std::span<std::byte> out,
                           size_t want, const Dictionary* dictionary = nullptr);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The default level for `codec` (LZ4: 1, Zstd: 3).
int default_level(Codec codec);

}  // namespace hexz::codec
