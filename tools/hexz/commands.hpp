// Registration of the hexz subcommands. Each add_*_command() adds one subcommand (with its
// options and --help) to `parent`; when that subcommand is parsed, its action is stored in
// `*selected` for main to run.
#pragma once

#include <CLI/CLI.hpp>

#include "cli_util.hpp"

namespace hexz::cli {

/// `pack`: builds a snapshot from --disk/--memory images.
void add_pack_command(CLI::App& parent, CommandFn* selected);
/// `info`: prints a snapshot's header facts and per-stream statistics (text or --json).
void add_info_command(CLI::App& parent, CommandFn* selected);
/// `cat`: copies a byte range of one stream to stdout.
void add_cat_command(CLI::App& parent, CommandFn* selected);
/// `extract`: writes whole streams back to (sparse) raw image files.
void add_extract_command(CLI::App& parent, CommandFn* selected);
/// `verify`: checks every checksum and digest in a snapshot.
void add_verify_command(CLI::App& parent, CommandFn* selected);
/// `push`: uploads a snapshot to s3://bucket/key (multipart, checked after landing).
void add_push_command(CLI::App& parent, CommandFn* selected);
/// `flatten`: writes a standalone copy of a (thin) snapshot.
void add_flatten_command(CLI::App& parent, CommandFn* selected);
/// `commit`: a qcow2 overlay over a snapshot, folded back into a thin snapshot.
void add_commit_command(CLI::App& parent, CommandFn* selected);
/// `diff`: compares the streams of two snapshots (text or --json).
void add_diff_command(CLI::App& parent, CommandFn* selected);
/// `keygen`: writes an Ed25519 key pair for `sign`.
void add_keygen_command(CLI::App& parent, CommandFn* selected);
/// `sign`: adds a signature of a snapshot's identity to the snapshot, without repacking.
void add_sign_command(CLI::App& parent, CommandFn* selected);
/// `serve-memory`: serves a stream to a VMM's userfaultfd, page by page (Firecracker's protocol).
void add_serve_memory_command(CLI::App& parent, CommandFn* selected);
/// `attach` (change a snapshot's attachments in place) and `attachment` (write one out).
void add_attach_commands(CLI::App& parent, CommandFn* selected);
/// `trace show|add|remove`: a snapshot's boot trace (recorded by the serving commands).
void add_trace_command(CLI::App& parent, CommandFn* selected);
/// `mount` and `umount`: a snapshot's streams as read-only files through FUSE (tools/mount/).
void add_mount_commands(CLI::App& parent, CommandFn* selected);

}  // namespace hexz::cli
