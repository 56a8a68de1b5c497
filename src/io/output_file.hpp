// An output file that appears atomically: written beside the destination, fsynced, renamed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace hexz::io {

class StagedWriter;

/// Writes to a temporary file in the destination's directory. commit() fsyncs and renames it
/// onto the destination; destruction without commit() removes the temporary file, so a failed
/// or interrupted writer leaves nothing behind and never touches an existing destination.
///
/// The temporary file is named `<destination>.tmp-<pid>-<6 random characters>`, is created with
/// mode 0666 minus the umask (as any new file), and is locked (flock) while it is written. A
/// destination that is a symbolic link is written through: the link's target is replaced and
/// the link kept. A destination that exists but is not a regular file (a device such as
/// /dev/null, a FIFO, a socket, a directory) is refused, never replaced.
class AtomicOutputFile {
 public:
  /// Removes stale temporary files of `path` (see remove_stale_temp_files) and creates the
  /// temporary file. Throws kAlreadyExists if `path` exists and !overwrite, kNotFound if its
  /// directory does not exist, kInvalidArgument if it exists but is not a regular file, kIo
  /// otherwise.
  AtomicOutputFile(const std::string& path, bool overwrite);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  /// Appends bytes at the current end. Throws kIo (e.g. disk full), possibly for an earlier
  /// append: bytes are staged in large buffers and written in the background, with O_DIRECT
  /// where the filesystem takes it (see StagedWriter).
  void append(std::span<const std::byte> data);
  /// Overwrites bytes at `offset` (< position()). Throws kIo.
  void write_at(uint64_t offset, std::span<const std::byte> data);
  /// Bytes appended so far.
  uint64_t position() const;
  /// fsyncs the data and the directory and renames onto the destination. Throws kIo, or
  /// kAlreadyExists if the destination appeared meanwhile and !overwrite.
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_;  ///< The file replaced: the destination, or the target of its symlink.
  std::string dir_;
  std::string temp_path_;
  bool overwrite_;
  int fd_ = -1;
  std::unique_ptr<StagedWriter> writer_;
  bool committed_ = false;
};

/// Removes the temporary files a killed writer of `path` left behind: files in its directory
/// named `<name of path>.tmp-<pid>-<6 characters>` whose process <pid> no longer exists and
/// that no process holds locked. Files of live writers and all other files are left alone.
/// Returns how many were removed; never throws.
size_t remove_stale_temp_files(const std::string& path);

/// The path a writer of `path` replaces: `path` itself, or if it is a symbolic link the file
/// it finally points to (relative links resolved against the link's directory; at most 40
/// links followed). Throws kInvalidArgument for a link loop.
std::string resolve_output_path(const std::string& path);

}  // namespace hexz::io
