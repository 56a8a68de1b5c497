// An on-disk cache of a remote object's bytes, shared by processes (--cache-dir).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace hexz::io {

/// Caches fixed-size pieces of one version of one object (identified by name, ETag and size)
/// as files `<dir>/<object-hash>/<piece>`. Pieces are written to a temporary file and renamed
/// into place, so concurrent processes never see a partial piece. Thread-safe.
class DiskCache {
 public:
  static constexpr uint64_t kPieceSize = uint64_t(1) << 20;

  /// REQUIRES: `etag` is not empty. Creates the directories; throws kIo if it cannot.
  DiskCache(const std::string& dir, const std::string& name, const std::string& etag,
            uint64_t object_size);

  /// Number of bytes piece `index` holds (kPieceSize except for the last piece).
  uint64_t piece_length(uint64_t index) const;
  /// Copies `out.size()` bytes of piece `index` starting at `offset_in_piece` into `out` if the
  /// piece is cached (and complete). Returns false on a miss.
  bool get(uint64_t index, uint64_t offset_in_piece, std::span<std::byte> out) const;
  /// Stores a whole piece (best effort: failures to write are ignored).
  void put(uint64_t index, std::span<const std::byte> bytes) const;

 private:
  std::string path_of(uint64_t index) const;

  std::string dir_;
  uint64_t size_;
};

/// The cache directory to use: `configured` if not empty, else HEXZ_CACHE_DIR, else none.
std::optional<std::string> cache_dir_for(const std::string& configured);

}  // namespace hexz::io
