// A raw image opened for packing: sequential reads that skip holes of sparse files.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hexz::io {

/// A byte range [offset, offset + length) of an input file.
struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
};

/// Something a stream is packed from: a raw image file, or a stream of another snapshot.
class InputSource {
 public:
  virtual ~InputSource() = default;
  /// Size in bytes.
  virtual uint64_t size() const = 0;
  /// A name for messages.
  virtual const std::string& path() const = 0;
  /// The next data extent at or after `offset`, clamped to size(); bytes before it are known
  /// zeros (a hole). Length 0 at size() when only zeros remain.
  virtual Extent next_data(uint64_t offset) const = 0;
  /// Reads exactly out.size() bytes at `offset`. Throws hexz::Error.
  virtual void read_at(uint64_t offset, std::span<std::byte> out) const = 0;
  /// True for a stream (a pipe, standard input): its size is unknown until its end, and it is
  /// read only in order with read_next(); size(), next_data() and read_at() are not used.
  virtual bool streamed() const { return false; }
  /// Bytes read so far by read_at() and read_next() (holes and zero ranges are not read).
  virtual uint64_t bytes_read() const { return 0; }
  /// Streams only: reads the next bytes into `out`, as many as fit unless the stream ends
  /// first; returns how many (0 at the end). Throws hexz::Error.
  virtual size_t read_next(std::span<std::byte> out) const {
    (void)out;
    return 0;
  }
};

/// A stream read once from its start to its end, such as a pipe on standard input (`--disk -`):
/// no seeking, no SEEK_HOLE, the size known only at the end.
class StreamInput final : public InputSource {
 public:
  /// Reads descriptor `fd` (not closed); `name` names it in messages ("standard input"). With
  /// `refuse_containers`, a stream starting with a qcow2/VMDK/VHD/VHDX/VDI/LUKS magic is refused
  /// (kUnsupported) at its first read: such images are read through qemu-nbd, from a file.
  StreamInput(int fd, std::string name, std::string role, bool refuse_containers = false);
  uint64_t size() const override { return done_; }
  const std::string& path() const override { return name_; }
  Extent next_data(uint64_t offset) const override { return {offset, 0}; }
  /// Not supported (throws kInternal): a stream is read with read_next() only.
  void read_at(uint64_t offset, std::span<std::byte> out) const override;
  bool streamed() const override { return true; }
  size_t read_next(std::span<std::byte> out) const override;
  uint64_t bytes_read() const override { return done_; }

 private:
  int fd_;
  std::string name_;
  std::string role_;
  bool refuse_containers_ = false;
  mutable uint64_t done_ = 0;  ///< Bytes read so far.
};

/// A read-only regular file. Opening checks that it exists, is a regular file (or a block
/// device) and is readable, throwing hexz::Error with a message naming `role` and the path.
class InputFile final : public InputSource {
 public:
  /// `role` names the input in messages, e.g. "disk image".
  InputFile(const std::string& path, const std::string& role);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Size in bytes at open time.
  uint64_t size() const override { return size_; }
  const std::string& path() const override { return path_; }
  /// Device and inode, to detect an output path that names this input.
  uint64_t device() const { return dev_; }
  uint64_t inode() const { return ino_; }

  /// Returns the next data extent at or after `offset` (SEEK_DATA/SEEK_HOLE), clamped to the
  /// size. Bytes between `offset` and the returned extent are a hole (zeros). Returns an
  /// extent with length 0 at size() when only holes remain. Files without hole support are one
  /// extent.
  Extent next_data(uint64_t offset) const override;

  /// Reads exactly out.size() bytes at `offset`; throws kIo (or kTruncated if the file shrank).
  void read_at(uint64_t offset, std::span<std::byte> out) const override;
  uint64_t bytes_read() const override { return bytes_read_.load(); }

 private:
  std::string path_;
  std::string role_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t dev_ = 0;
  uint64_t ino_ = 0;
  bool holes_supported_ = true;
  mutable std::atomic<uint64_t> bytes_read_{0};
};

}  // namespace hexz::io
