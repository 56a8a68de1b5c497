// Where `extract` writes a stream: a regular file (via a temporary file), a block device (in
// place), or a byte stream (standard output, a character device such as /dev/null, a FIFO).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace hexz::cli {

/// Memory and file-offset alignment of the direct writes of a file output: the page size, which
/// covers the logical block size of every common device. Pieces handed to
/// ExtractOutput::write() whose address and offset agree modulo this are written with O_DIRECT.
constexpr size_t kDirectAlignment = 4096;

/// Device and inode of a file, to recognise the same file under another name (hard links,
/// symlinks, other paths).
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

/// The FileId of `path` (following symlinks), or none if it cannot be stat'ed.
std::vector<FileId> file_id_of(const std::string& path);

/// One output of `extract`. Data arrives in increasing offset order; zero runs are announced
/// with zeros() so that each kind of output can keep them cheap (holes, BLKZEROOUT) or write
/// them (streams).
class ExtractOutput {
 public:
  virtual ~ExtractOutput() = default;
  /// Writes `data` at `offset`. Throws hexz::Error(kIo).
  virtual void write(uint64_t offset, std::span<const std::byte> data) = 0;
  /// Makes [offset, offset+length) read as zeros. Throws hexz::Error(kIo).
  virtual void zeros(uint64_t offset, uint64_t length) = 0;
  /// Completes the output of `size` bytes (sizes, flushes, renames into place). Throws
  /// hexz::Error(kIo).
  virtual void finish(uint64_t size) = 0;
};

/// What open_extract_output() must refuse to write to.
struct OutputRules {
  bool force = false;           ///< Replace an existing regular file; write over a block device.
  uint64_t size = 0;            ///< Bytes the stream has (a block device must hold them).
  std::vector<FileId> inputs;   ///< Files being read (the snapshot and its bases).
  std::vector<FileId> outputs;  ///< Outputs already opened by this command.
  /// Flush a file or block device to stable storage when finished (one fsync at the end; the
  /// data is handed to writeback as it is written, so that fsync finds little left to do).
  bool sync = true;
};

/// Checks `path` against `rules` without creating anything; returns its FileId list (empty for
/// a new file or "-"). Throws hexz::Error: kAlreadyExists (exists, no --force), kInvalidArgument
/// (output is an input or another output, a directory, a socket, a terminal, a too small
/// device).
std::vector<FileId> check_extract_output(const std::string& path, const OutputRules& rules);

/// Opens `path` for writing a stream as check_extract_output() allows: "-" is standard output;
/// a regular file or a new name is written to a temporary file renamed into place when
/// finished (a symlink is written through); a block device is written in place; a character
/// device or a FIFO (which must have a reader: never blocks) is written as a stream.
std::unique_ptr<ExtractOutput> open_extract_output(const std::string& path,
                                                   const OutputRules& rules);

}  // namespace hexz::cli
