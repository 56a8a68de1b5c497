// Serving the streams of a snapshot as files through FUSE 3 (`hexz mount`), and taking such a
// mount down again (`hexz umount`).
//
// The mount shows one directory with a regular file per stream present in the snapshot: `disk`
// and/or `memory`, each with the stream's exact size. Reads go through the library's reader
// (hexz::Snapshot: block and index caches, sequential readahead, parallel decode); the kernel
// keeps what it read in its page cache (the snapshot never changes while mounted). The files
// are read-only, unless the mount has an overlay directory (`--overlay DIR`, overlay.hpp): then
// they are writable and writes go to sparse side files there.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hexz/snapshot.hpp"

namespace hexz::mount {

/// One line of /proc/self/mountinfo, the fields hexz needs.
struct MountEntry {
  std::string mount_point;  ///< Absolute path, unescaped.
  std::string fs_type;      ///< e.g. "fuse.hexz", "ext4".
  std::string source;       ///< e.g. "hexz:/path/to/vm.hxz".
};

/// The entry of the file system mounted exactly at `path` (an absolute, canonical path), if any.
/// The last matching entry wins (the top of a stack of mounts). Throws hexz::Error(kIo) if the
/// mount table cannot be read.
std::optional<MountEntry> find_mount(const std::string& path);

/// The file system type hexz mounts carry in the mount table.
inline constexpr const char* kFsType = "fuse.hexz";

/// Resolves `dir` to a canonical absolute path and checks that it can take a new mount: it exists
/// (else kNotFound), is a directory (else kInvalidArgument) and nothing is mounted on it yet (else
/// kAlreadyExists, "busy"). Returns the canonical path.
std::string check_mount_point(const std::string& dir);

/// Checks that this machine can mount FUSE file systems: /dev/fuse exists and can be opened, and
/// (when not root) fusermount3 is on the PATH. Throws hexz::Error(kUnsupported) naming what is
/// missing and how to get it.
void check_fuse_available();

/// Everything mount_snapshot() needs.
struct MountRequest {
  std::string snapshot_path;  ///< Shown as the mount's source; its mtime is the files' mtime.
  std::string mount_point;    ///< A directory; checked with check_mount_point().
  /// Keep the serving process in the foreground (attached to the terminal, errors on stderr)
  /// instead of detaching it once the mount is live.
  bool foreground = false;
  /// Extra FUSE mount options, each "allow_other" or "allow_root" (`mount -o`): let other
  /// users (e.g. a VMM running as another user) or root open the files. Non-root users need
  /// user_allow_other in /etc/fuse.conf.
  std::vector<std::string> fuse_options;
  /// Most FUSE worker threads serving requests at once (0 = a default based on the cores).
  unsigned max_threads = 0;
  /// When the mount ends, write the trace the snapshot recorded here (it must be opened with
  /// OpenOptions::record_trace) and the reader's statistics (read_stats_json); empty = do not.
  /// Absolute paths (the serving process runs in "/").
  std::string record_trace_path;
  std::string stats_path;
  /// With --overlay: the directory of the side files (absolute; created if missing, its parent
  /// must exist); the files become writable (see open_overlay() in overlay.hpp). Empty = a
  /// read-only mount.
  std::string overlay_dir;
  /// The snapshot's header facts (Snapshot::peek: its identity, which the overlay directory
  /// records and checks, and whether it is encrypted, which an overlay refuses); called in the
  /// serving process after `open`. Required with overlay_dir.
  std::function<SnapshotInfo()> peek;
  /// Opens the snapshot; called in the process that serves the mount (after it detached from the
  /// caller, which matters because the reader starts threads). May prompt for a password.
  std::function<std::unique_ptr<Snapshot>()> open;
};

/// Mounts the snapshot and serves it until the file system is unmounted (or, in the serving
/// process, SIGINT/SIGTERM/SIGHUP arrive: the mount is then taken down). With `foreground`
/// false, returns 0 in the calling process as soon as the mount is live, while a detached child
/// serves it (the child returns from this function only when the mount ends; its caller should
/// then exit). Errors found before the mount is live (no FUSE, bad mount point, unreadable or
/// encrypted snapshot, an overlay directory of another snapshot or in use, refused mount) are
/// thrown as hexz::Error in the calling process. Returns
/// the serving process's exit status.
int mount_snapshot(const MountRequest& request);

/// Unmounts the hexz mount at `dir`. Throws hexz::Error: kNotFound if `dir` does not exist,
/// kInvalidArgument if nothing (or something other than a hexz mount) is mounted there, kIo if
/// the unmount is refused (e.g. busy: a process still uses a file there).
void unmount(const std::string& dir);

}  // namespace hexz::mount
