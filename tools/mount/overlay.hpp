// The writable layer of `hexz mount --overlay DIR`: each stream's writes go to a sparse side
// file DIR/<stream>.overlay of the stream's size, whose allocated ranges (SEEK_DATA/SEEK_HOLE)
// hold the written bytes and whose holes mean "as in the snapshot".
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "hexz/snapshot.hpp"
#include "hexz/types.hpp"

namespace hexz::mount {

/// One stream's side file, open for reading and writing.
///
/// Invariant kept by write(): every block of block_size() bytes (the last one may be shorter)
/// is either a hole in the side file or holds the stream's current bytes for the whole block.
/// A write that covers a block only partly and finds it still a hole first fills the rest of
/// the block with the snapshot's bytes, so a hole never reads zeros where the snapshot has data.
/// This assumes the side file's file system allocates in units that divide block_size() (its
/// st_blksize, at least 4096, which holds for ext4, xfs, btrfs and tmpfs).
class SideFile {
 public:
  /// Takes ownership of `fd` (open read-write, exactly `size` bytes) at `path`.
  SideFile(int fd, std::string path, uint64_t size, uint64_t block_size);
  ~SideFile();
  SideFile(const SideFile&) = delete;
  SideFile& operator=(const SideFile&) = delete;

  /// Fills `out` with the current bytes at `offset` of the stream: the side file's allocated
  /// ranges from it, its holes from `base` (the snapshot's `stream`). REQUIRES: the range lies
  /// within size(). Runs concurrently with other reads, never with a write. Returns 0 or an
  /// errno value (EIO if the snapshot could not be read).
  int read(const Snapshot& base, Stream stream, uint64_t offset, std::span<std::byte> out) const;

  /// Writes `data` at `offset` (see the class invariant). REQUIRES: the range lies within
  /// size(). Writes are serialized. Returns 0 or an errno value (e.g. ENOSPC, EIO).
  int write(const Snapshot& base, Stream stream, uint64_t offset, std::span<const std::byte> data);

  /// fdatasync (datasync) or fsync of the side file; returns 0 or an errno value.
  int sync(bool datasync);

  uint64_t size() const { return size_; }              ///< The stream's size.
  uint64_t block_size() const { return block_size_; }  ///< See the class invariant.
  const std::string& path() const { return path_; }    ///< For messages.

 private:
  /// Whether [block_start, block end) holds no data; returns 0 or an errno value.
  int is_hole(uint64_t block_start, bool& hole) const;

  int fd_;
  std::string path_;
  uint64_t size_;
  uint64_t block_size_;
  mutable std::shared_mutex mu_;  ///< Shared by reads, exclusive for a write.
};

/// The overlay directory of a mount, opened and locked.
struct Overlay {
  std::string dir;   ///< Canonical path.
  int lock_fd = -1;  ///< Holds the exclusive lock on `dir` (overlay::lock_dir).
  /// Side file per stream (null for a stream the snapshot does not have).
  std::unique_ptr<SideFile> sides[kStreamCount];
  ~Overlay();
};

/// Opens the overlay directory `dir` for `snapshot` (its identity `identity_hex`, mounted from
/// `snapshot_path`), creating the directory (its parent must exist), DIR/overlay.json and the
/// side files (sparse, all holes, each of its stream's size) on first use, and reusing them
/// later. Takes an exclusive lock on the directory for the mount's lifetime. `mount_point` (a
/// canonical path) must not be `dir` nor contain it. Throws hexz::Error: kInvalidArgument if
/// the directory belongs to another snapshot (identity or stream sizes differ), holds side
/// files without overlay.json, is the mount point or lies under it; kAlreadyExists if another
/// mount uses it; kUnsupported if its file system does not report holes (SEEK_DATA); kIo;
/// kCorrupt for a damaged overlay.json.
std::unique_ptr<Overlay> open_overlay(const std::string& dir, const std::string& mount_point,
                                      const Snapshot& snapshot, const std::string& snapshot_path,
                                      const std::string& identity_hex);

}  // namespace hexz::mount
