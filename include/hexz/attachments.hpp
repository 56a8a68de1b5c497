// Named attachments of a snapshot (docs/FORMAT.md section 10.6): adding, replacing and removing
// them in an existing snapshot without repacking its data.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "hexz/pack.hpp"
#include "hexz/snapshot.hpp"

namespace hexz {

/// How update_attachments() opens and rewrites the snapshot.
struct AttachOptions {
  /// Opening the snapshot: the password of an encrypted one (needed: attachments are sealed
  /// under its keys), base_dirs of a thin one is not needed (bases are not opened).
  OpenOptions open;
  /// A signed snapshot's signatures cover its identity, which changes with its attachments:
  /// without this, a signed snapshot is refused (kInvalidArgument); with it, its signatures
  /// are removed (sign it again afterwards).
  bool drop_signatures = false;
};

/// What update_attachments() did.
struct AttachResult {
  std::string identity_hex;       ///< The snapshot's new identity.
  size_t attachments = 0;         ///< Attachments it holds now.
  size_t signatures_dropped = 0;  ///< Signatures removed (drop_signatures).
};

/// Adds the attachments of `set` to the local snapshot `path` (replacing any of the same name)
/// and removes those named in `remove` (kNotFound if it has no such attachment), in place: the
/// header and the attachment region at the end of the tail are rewritten, every byte before
/// them (data blocks, index pages, dictionary, base table, master index) stays as it is. The
/// snapshot's identity changes (so thin snapshots packed against it no longer accept it as
/// their base). The new region is written past the old end before the header switches to it, so
/// an error leaves the snapshot as it was. Throws kInvalidArgument (remote path, bad or
/// duplicate names, too large, signed without drop_signatures), kNotFound, kWrongPassword,
/// kUnsupported (a tail holding sections this hexz does not know), and what opening throws.
AttachResult update_attachments(const std::string& path, const std::vector<AttachmentSource>& set,
                                const std::vector<std::string>& remove,
                                const AttachOptions& options = {});

/// update_attachments() with one attachment `name` = `bytes` to add or replace.
AttachResult add_attachment(const std::string& path, const std::string& name,
                            std::span<const std::byte> bytes, const AttachOptions& options = {});

/// update_attachments() removing the one attachment `name`.
AttachResult remove_attachment(const std::string& path, const std::string& name,
                               const AttachOptions& options = {});

/// The content of the file at `path` as an attachment called `name` (for messages). Throws
/// kNotFound, kInvalidArgument (not a regular file, larger than 64 MiB), kIo.
std::vector<std::byte> read_attachment_file(const std::string& path, const std::string& name);

}  // namespace hexz
