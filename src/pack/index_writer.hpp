// Builds the two-level index while packing: pages of up to 4096 entries written as they fill,
// master entries kept in memory (one per page) and written at the end.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "codec/codec.hpp"
#include "crypto/snapshot_cipher.hpp"
#include "format/records.hpp"
#include "hash/digest.hpp"

namespace hexz::packing {

class IndexWriter {
 public:
  /// `write_page(bytes)` appends a stored page to the output and returns its file offset.
  using PageSink = std::function<uint64_t(std::span<const std::byte>)>;

  /// With `cipher`, every stored page is encrypted (FORMAT.md, "Encryption").
  IndexWriter(Codec page_codec, PageSink sink, const crypto::SnapshotCipher* cipher = nullptr);

  /// Starts the pages of `stream`; entries added afterwards belong to it.
  void begin_stream(Stream stream);
  /// Appends the next entry of the current stream (in logical order).
  void add(const format::IndexEntry& entry);
  /// Flushes the current stream's partial page. Returns (first_page, page_count) of the stream.
  std::pair<uint32_t, uint32_t> end_stream();

  /// Master entries of every page written so far, in file order.
  const std::vector<format::MasterEntry>& master() const { return master_; }
  /// Stored bytes of all pages written.
  uint64_t stored_bytes() const { return stored_bytes_; }
  /// Feeds every decoded page, in order, into `hasher` (the snapshot identity).
  hash::Blake3& identity_hasher() { return identity_; }

 private:
  void flush_page();

  codec::Compressor compressor_;
  const crypto::SnapshotCipher* cipher_;
  PageSink sink_;
  Stream stream_ = Stream::kDisk;
  uint32_t stream_first_page_ = 0;
  uint64_t page_first_logical_ = 0;
  uint64_t next_logical_ = 0;
  std::vector<format::IndexEntry> entries_;
  std::vector<std::byte> packed_;
  std::vector<format::MasterEntry> master_;
  uint64_t stored_bytes_ = 0;
  hash::Blake3 identity_;
};

}  // namespace hexz::packing
