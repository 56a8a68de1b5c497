// What a thin pack takes from its base snapshot: the chunks it can reference instead of storing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/records.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "pack/dedup_table.hpp"
#include "pack/segment_reader.hpp"
#include "read/snapshot_reader.hpp"

namespace hexz::packing {

/// A block stored in one of the snapshots a thin snapshot depends on.
struct BaseBlock {
  uint8_t source = 0;  ///< Source id in the new snapshot (1..255).
  format::BlockRef ref;
};

/// Throws `e` (a failure to open an encrypted base with the password given) again, with a hint
/// at --base-password-file when it is kWrongPassword.
[[noreturn]] void rethrow_base_open_error(const Error& e);

/// The base of a thin pack, opened and indexed.
class BaseIndex {
 public:
  /// Opens `path` and its own bases (looked up as OpenOptions::base_dirs says): their indexes
  /// hold the digests of every chunk the chain stores. An encrypted base needs its `password`
  /// (and makes the new snapshot an encrypted thin one); an unencrypted base refuses one.
  /// Throws hexz::Error if one cannot be opened, the password is missing, wrong or given for an
  /// unencrypted base, or the chain would exceed 255 snapshots.
  BaseIndex(const std::string& path, const std::vector<std::string>& base_dirs,
            const std::string& endpoint = {}, const std::string& password = {});

  /// True if the base is encrypted (the new snapshot must be too).
  bool encrypted() const { return reader_->cipher() != nullptr; }
  /// Encrypted base: the key chunk digests of the whole chain are keyed with.
  const crypto::Key& dedup_key() const { return reader_->cipher()->dedup_key(); }
  /// Encrypted base: the master keys of the new snapshot's base records, in table() order (the
  /// base's own, then those its base key table holds), for the new base key table.
  std::vector<crypto::Key> master_keys() const;

  /// The new snapshot's base table: the base itself, then the snapshots it depends on.
  const std::vector<format::BaseRecord>& table() const { return table_; }
  /// True if the base was chunked as `chunking` asks (otherwise little will dedup).
  bool same_chunking(const ChunkingParams& chunking) const;
  /// Describes the base's chunking for messages, e.g. "fixed 4096-byte chunks".
  std::string chunking_description() const;
  /// Records every chunk stored in the base chain (the base's own, then each of its bases',
  /// also those the base no longer uses) in `table`; locations get
  /// DedupTable::kBaseFlag and index `blocks`, which this appends to.
  void add_chunks(DedupTable& table, std::vector<BaseBlock>& blocks) const;
  /// The base, opened with its own bases (so its streams can be read).
  const Snapshot& snapshot() const { return *reader_; }

 private:
  std::unique_ptr<read::SnapshotReader> reader_;
  std::vector<format::BaseRecord> table_;
};

}  // namespace hexz::packing
