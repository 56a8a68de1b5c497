// An output file that appears atomically: written beside the destination, fsynced, renamed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hexz::io {

/// Writes to a temporary file in the destination's directory. commit() fsyncs and renames it
/// onto the destination; destruction without commit() removes the temporary file, so a failed
/// or interrupted writer leaves nothing behind and never touches an existing destination.
class AtomicOutputFile {
 public:
  /// Creates the temporary file. Throws kAlreadyExists if `path` exists and !overwrite,
  /// kNotFound if its directory does not exist, kIo otherwise.
  AtomicOutputFile(const std::string& path, bool overwrite);
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  /// Appends bytes at the current end. Throws kIo (e.g. disk full).
  void append(std::span<const std::byte> data);
  /// Overwrites bytes at `offset` (< position()). Throws kIo.
  void write_at(uint64_t offset, std::span<const std::byte> data);
  /// Bytes appended so far.
  uint64_t position() const { return position_; }
  /// fsyncs the data and the directory and renames onto the destination. Throws kIo, or
  /// kAlreadyExists if the destination appeared meanwhile and !overwrite.
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  void write_all(uint64_t offset, std::span<const std::byte> data);

  std::string path_;
  std::string dir_;
  std::string temp_path_;
  bool overwrite_;
  int fd_ = -1;
  uint64_t position_ = 0;
  bool committed_ = false;
};

}  // namespace hexz::io
