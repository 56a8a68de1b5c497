// Random-access storage a snapshot is read from (local files now; HTTP/S3 later).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace hexz::io {

/// Thread-safe positional reads from an immutable object.
class ReadableFile {
 public:
  virtual ~ReadableFile() = default;
  /// Size of the object in bytes.
  virtual uint64_t size() const = 0;
  /// Reads exactly out.size() bytes at `offset`. Throws kTruncated if the range passes the end,
  /// kIo on failure.
  virtual void read_at(uint64_t offset, std::span<std::byte> out) const = 0;
  /// A name for messages (the path or URL).
  virtual const std::string& name() const = 0;
  /// Hint: [offset, offset+length) will be read soon (a remote backend fetches it in one
  /// request and keeps it). The default does nothing.
  virtual void will_read(uint64_t offset, uint64_t length) const {
    (void)offset;
    (void)length;
  }
  /// Prefetch: fetches [offset, offset+length) now, on the calling thread, in one request, and
  /// keeps it for the reads that follow (a remote backend, within its budget); a read of part of
  /// it made meanwhile waits for this fetch instead of fetching the bytes again. Throws what
  /// read_at() throws. The default does nothing (local files need no prefetch).
  virtual void prefetch(uint64_t offset, uint64_t length) const {
    (void)offset;
    (void)length;
  }
  /// True if prefetch() does anything (the file is remote).
  virtual bool remote() const { return false; }
  /// Requests sent and bytes fetched so far (zero for local files).
  struct Stats {
    uint64_t requests = 0;
    uint64_t bytes = 0;
  };
  virtual Stats stats() const { return {}; }
};

/// Opens a local file with pread-based reads. Throws kNotFound / kIo / kInvalidArgument.
std::unique_ptr<ReadableFile> open_local_file(const std::string& path);

}  // namespace hexz::io
