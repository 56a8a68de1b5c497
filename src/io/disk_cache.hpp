// An on-disk cache of a remote object's bytes, shared by processes (--cache-dir), kept within a
// byte budget.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

namespace hexz::io {

/// Default byte budget of a cache directory (HEXZ_CACHE_DIR_BYTES unset): 1 GiB.
inline constexpr uint64_t kDefaultCacheDirBytes = uint64_t(1) << 30;

/// Caches fixed-size pieces of one version of one object (identified by name, ETag and size)
/// as files `<dir>/<object-hash>/<piece>`. Pieces are written to a temporary file and renamed
/// into place, so concurrent processes never see a partial piece. Thread-safe.
///
/// Trust: `dir` must be owned by the effective user and not writable by group or others (else
/// the constructor refuses it), since whoever can write there could plant links or pieces.
/// Everything inside it is reached relative to the directory's file descriptor and never
/// through a symbolic link (O_NOFOLLOW, fstatat AT_SYMLINK_NOFOLLOW, unlinkat, renameat), for
/// creating, reading and deleting alike; object directories not owned by the user are not used.
/// New directories are mode 0700 and pieces 0600.
///
/// Integrity: each piece file ends with an 8-byte XXH3-64 of the piece. A piece whose length or
/// checksum is wrong (truncated, bit rot) is deleted and reported as a miss, so it is fetched
/// again instead of failing every later read.
///
/// Budget: the pieces of all objects in `dir` together are kept within `budget_bytes` (0 = no
/// limit). A hit marks its piece as used (its mtime); when a scan finds the directory over
/// budget, the least recently used pieces are removed until it is at 7/8 of the budget. Scans
/// run when a cache is opened and after each `max(1 MiB, budget / 16)` bytes it has written;
/// so several processes together may exceed the budget briefly by about that much each. Only
/// one process scans at a time (an flock on `<dir>/.lock`; the others skip). Removal is an
/// unlink: a reader that has a piece open still reads all of it, a later one misses. Temporary
/// files older than an hour (left by a crashed writer) are removed too. Nothing in `dir` whose
/// name does not follow this layout is ever touched.
class DiskCache {
 public:
  static constexpr uint64_t kPieceSize = uint64_t(1) << 20;
  /// Bytes of the checksum trailer of a piece file.
  static constexpr uint64_t kTrailerSize = 8;

  /// REQUIRES: `etag` is not empty. Creates the directories (mode 0700) and evicts if `dir` is
  /// over budget. Throws kInvalidArgument if `dir` is not a directory owned by this user or is
  /// writable by group or others, kIo if it cannot be created or opened.
  DiskCache(const std::string& dir, const std::string& name, const std::string& etag,
            uint64_t object_size, uint64_t budget_bytes = kDefaultCacheDirBytes);
  ~DiskCache();
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  /// Number of bytes piece `index` holds (kPieceSize except for the last piece).
  uint64_t piece_length(uint64_t index) const;
  /// Copies `out.size()` bytes of piece `index` starting at `offset_in_piece` into `out` if the
  /// piece is cached, complete and intact, and marks it as recently used. Returns false on a
  /// miss; a damaged piece is deleted first.
  bool get(uint64_t index, uint64_t offset_in_piece, std::span<std::byte> out) const;
  /// Stores a whole piece (best effort: failures to write are ignored; nothing is stored if the
  /// piece alone exceeds the budget), then evicts if a scan is due.
  void put(uint64_t index, std::span<const std::byte> bytes) const;
  /// Scans the whole cache directory and, if it is over budget, removes least recently used
  /// pieces (see the class comment). Returns false if another process or thread was already
  /// evicting (nothing done). Never throws.
  bool evict() const;
  /// Bytes of pieces (without their trailers) and of temporary files being written in the whole
  /// cache directory.
  uint64_t usage() const;

 private:
  /// Opens this object's directory (creating it if `create`); -1 if it is missing, not a
  /// directory, a link, or not the user's own.
  int open_object_dir(bool create) const;

  int root_fd_ = -1;    ///< The cache directory, checked at construction.
  std::string object_;  ///< Name of this object's directory (16 hex digits).
  uint64_t size_;
  uint64_t budget_;
  uint64_t scan_every_;
  mutable std::atomic<uint64_t> written_since_scan_{0};
  /// Pieces whose checksum this cache has verified: index -> (device, inode, mtime) of the file.
  /// Later hits on the same file read only the bytes asked for.
  mutable std::mutex verified_mu_;
  mutable std::unordered_map<uint64_t, std::array<uint64_t, 3>> verified_;
};

/// The cache directory to use: `configured` if not empty, else HEXZ_CACHE_DIR, else none.
std::optional<std::string> cache_dir_for(const std::string& configured);

/// The byte budget of cache directories: HEXZ_CACHE_DIR_BYTES (a size such as 512M or 2G;
/// 0 = no limit) if set, else kDefaultCacheDirBytes. Throws kInvalidArgument if
/// HEXZ_CACHE_DIR_BYTES is set but not a size.
uint64_t cache_budget_for();

}  // namespace hexz::io
