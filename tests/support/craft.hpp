// Building hostile or damaged snapshots on purpose, for regression tests and fuzz harnesses:
// take a valid unencrypted snapshot apart, change its records, and write it back with every
// checksum (and, on request, every digest and the identity) made consistent again, so that a
// change reaches the checks behind the checksums. No GoogleTest dependency (fuzzers link it).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/records.hpp"
#include "io/readable_file.hpp"

namespace hexz_test::craft {

using Bytes = std::vector<uint8_t>;

/// An unencrypted snapshot taken apart into the records rebuild() writes back.
struct Model {
  Bytes data;  ///< File bytes [0, tail_offset): the header, the blocks and the original pages.
  hexz::format::Header header;
  std::vector<hexz::format::MasterEntry> master;             ///< In master-index order.
  std::vector<std::vector<hexz::format::IndexEntry>> pages;  ///< Entries of each page.
  Bytes dictionary;                                          ///< Stored dictionary bytes.
  Bytes bases;                                               ///< Stored base table bytes.
};

/// Takes a valid unencrypted snapshot apart. Throws hexz::Error if it does not open.
Model take_apart(const Bytes& file);

/// Writes `m` back: the data region as it is, every page encoded from `m.pages` and stored raw
/// (codec 0) after it, then the dictionary, the base table and the master index, and a header
/// with every checksum. Master entries keep their `first_logical` and `stream`; the stream
/// records are m.header's. With `identity`, the index digest and the identity are recomputed.
Bytes rebuild(const Model& m, bool identity = true);

/// XXH3-64 of the stored bytes of a block of `m`'s data region (what a block entry records).
uint64_t block_checksum(const Model& m, const hexz::format::BlockRef& ref);

/// The index digest of a snapshot whose raw pages (in stream order, disk then memory) are
/// `pages` (FORMAT.md section 14).
std::array<unsigned char, 32> index_digest_of(const hexz::format::Header& header,
                                              const std::vector<Bytes>& pages_in_stream_order);
/// The identity over an index digest, the (plaintext) dictionary and the base table; an empty
/// section counts as absent.
std::array<unsigned char, 32> identity_of(const std::array<unsigned char, 32>& index_digest,
                                          std::span<const uint8_t> dictionary,
                                          std::span<const uint8_t> bases);

/// Repairs, in place and as far as the bytes allow, the checksums of an unencrypted snapshot
/// whose index pages are stored raw (as rebuild() writes them): each source-0 block checksum
/// in each raw page; with `digests` also each chunk digest (from the decoded block) and the
/// index digest and identity; every page checksum; the master index, dictionary and base table
/// checksums; and last the header checksum. Never throws; fields it cannot reach are left as they
/// are.
void reseal(Bytes& file, bool digests);

/// Makes the attachment table of an unencrypted snapshot with feature bit 4 (and neither a
/// dictionary nor bases) consistent again after its stored table bytes were changed in place:
/// the table checksum, the identity over the (changed) table, and the header checksum. Never
/// throws; a file without bit 4 is left alone.
void reseal_attachment_table(Bytes& file);

/// An immutable in-memory ReadableFile (a snapshot fed to the reader without a file system).
class MemoryFile final : public hexz::io::ReadableFile {
 public:
  explicit MemoryFile(std::shared_ptr<const Bytes> data, std::string name = "memory.hxz")
      : data_(std::move(data)), name_(std::move(name)) {}
  uint64_t size() const override { return data_->size(); }
  void read_at(uint64_t offset, std::span<std::byte> out) const override;
  const std::string& name() const override { return name_; }

 private:
  std::shared_ptr<const Bytes> data_;
  std::string name_;
};

}  // namespace hexz_test::craft
