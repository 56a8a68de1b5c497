// The full chunk digests behind the compact dedup table, kept mostly on disk.
#pragma once

#include <cstdint>
#include <vector>

#include "hash/digest.hpp"

namespace hexz::packing {

/// An append-only array of chunk digests numbered 0, 1, 2, ... Only a small tail buffer and a
/// one-page read cache live in memory (about 70 KiB in all); the rest goes to an unlinked
/// temporary file under $TMPDIR (else /tmp), created on the first spill and gone when this
/// object is destroyed or the process dies. So memory does not grow with the number of digests.
class DigestLog {
 public:
  DigestLog() = default;
  ~DigestLog();
  DigestLog(const DigestLog&) = delete;
  DigestLog& operator=(const DigestLog&) = delete;

  /// Appends `digest`; returns its number. Throws hexz::Error (kIo) if the temporary file
  /// cannot be created or written.
  uint64_t append(const hash::ChunkDigest& digest);
  /// The digest numbered `n`. REQUIRES: n < size(). Throws hexz::Error (kIo) on a read error.
  const hash::ChunkDigest& get(uint64_t n);
  /// Number of digests appended.
  uint64_t size() const { return flushed_ + tail_.size(); }

 private:
  void flush();

  std::vector<hash::ChunkDigest> tail_;  ///< Digests flushed_ .. size() - 1.
  uint64_t flushed_ = 0;                 ///< Digests already in the file.
  std::vector<hash::ChunkDigest> page_;  ///< Read cache: digests page_first_ .. + page_.size().
  uint64_t page_first_ = 0;
  int fd_ = -1;
};

}  // namespace hexz::packing
