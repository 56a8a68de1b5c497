// Turning a thin snapshot into a standalone one.
#pragma once

#include <string>

#include "hexz/pack.hpp"
#include "hexz/snapshot.hpp"

namespace hexz {

/// Writes a standalone snapshot with the same stream contents as `snapshot_path` (which may be
/// thin; its bases are found as `open_options` says) to options.output_path. The input paths
/// and base_path of `options` are ignored; codec, level, chunking, block size, dictionary and
/// threads apply as for pack(). Every chunk read is checked against its digest (a base's
/// chunk against the base's digest), as with OpenOptions::verify_reads, so bad base bytes fail
/// with kCorrupt instead of being repacked. Throws hexz::Error; on failure no output is left.
PackResult flatten(const std::string& snapshot_path, const PackOptions& options,
                   const OpenOptions& open_options = {}, const ProgressFn& progress = {});

/// The pack options that reproduce `info`'s codec, level, chunking and block size, and for an
/// encrypted snapshot a key derivation cost at least its own and at least the default.
PackOptions options_like(const SnapshotInfo& info);

}  // namespace hexz
