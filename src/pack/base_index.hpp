// What a thin pack takes from its base snapshot: the chunks it can reference instead of storing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/records.hpp"
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

/// The base of a thin pack, opened and indexed.
class BaseIndex {
 public:
  /// Opens `path` and its own bases (looked up as OpenOptions::base_dirs says): their indexes
  /// hold the digests of every chunk the chain stores. Throws hexz::Error if one cannot be
  /// opened or the chain would exceed 255 snapshots.
  BaseIndex(const std::string& path, const std::vector<std::string>& base_dirs,
            const std::string& endpoint = {});

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
