// The `commit` subcommand: folds a writable layer back into a thin snapshot: a qcow2 overlay, or
// a side file of `hexz mount --overlay DIR` (a sparse raw image whose holes mean "as in the
// base").
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../mount/overlay_meta.hpp"
#include "commands.hpp"
#include "hexz/commit.hpp"
#include "hexz/error.hpp"
#include "hexz/flatten.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "pack_report.hpp"
#include "password.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `commit`.
struct CommitArgs {
  std::string overlay;
  std::string base;
  std::vector<std::string> base_dirs;
  std::string output;
  std::string compression = "zstd";
  int level = 0;
  unsigned threads = 0;
  bool force = false;
  bool quiet = false;
  bool encrypt = false;            ///< --encrypt (needed onto an encrypted base)
  std::string password_file;       ///< --password-file
  int password_fd = -1;            ///< --password-fd
  std::string password_command;    ///< --password-command
  std::string base_password_file;  ///< --base-password-file
};

/// A side file of a `hexz mount --overlay` directory.
struct SideFileInput {
  Stream stream = Stream::kDisk;
  std::string dir;
  overlay::OverlayMeta meta;
};

/// The side file `path` is, if it is one: named disk.overlay or memory.overlay in a directory
/// that holds an overlay.json. Throws what overlay::read_meta() throws.
std::optional<SideFileInput> side_file_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  for (const Stream stream : {Stream::kDisk, Stream::kMemory}) {
    if (name != overlay::side_file_name(stream)) continue;
    auto meta = overlay::read_meta(dir);
    if (!meta) return std::nullopt;
    return SideFileInput{stream, dir, *meta};
  }
  return std::nullopt;
}

/// Commits the side file `args.overlay` (described by `side`): packs it over the base with its
/// holes taking the base's bytes (as `hexz pack --holes-inherit`), in the base's chunking.
PackResult commit_side_file(const CommitArgs& args, const SideFileInput& side,
                            const ProgressFn& progress) {
  // A mount writing into the directory holds an exclusive lock on it.
  const int lock = overlay::lock_dir(side.dir, false);
  if (lock < 0) {
    if (errno == EWOULDBLOCK) {
      throw Error(ErrorCode::kInvalidArgument, "'" + args.overlay +
                                                   "' is in use by a writable mount (hexz mount "
                                                   "--overlay); unmount it first");
    }
    throw Error(ErrorCode::kIo,
                "cannot lock '" + side.dir + "': " + std::string(std::strerror(errno)));
  }
  struct Unlock {
    int fd;
    ~Unlock() { ::close(fd); }
  } unlock{lock};
  OpenOptions peek_options;
  const SnapshotInfo base = Snapshot::peek(args.base, peek_options);
  if (base.identity_hex != side.meta.identity) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + args.overlay + "' holds the writes of another snapshot (" +
                    (side.meta.snapshot.empty() ? "identity " + side.meta.identity.substr(0, 16)
                                                : "'" + side.meta.snapshot + "'") +
                    "), not of '" + args.base + "'");
  }
  struct stat st = {};
  if (::stat(args.overlay.c_str(), &st) != 0) {
    throw Error(ErrorCode::kNotFound, "cannot open side file '" + args.overlay +
                                          "': " + std::string(std::strerror(errno)));
  }
  const uint64_t want = side.meta.sizes[static_cast<int>(side.stream)];
  if (static_cast<uint64_t>(st.st_size) != want) {
    throw Error(ErrorCode::kInvalidArgument,
                "side file '" + args.overlay + "' has " + std::to_string(st.st_size) +
                    " bytes, but its overlay directory records " + std::to_string(want));
  }
  PackOptions o;
  const PackOptions like = options_like(base);  // the base's chunking finds unchanged chunks
  o.cdc = like.cdc;
  o.chunk_size = like.chunk_size;
  o.min_chunk = like.min_chunk;
  o.avg_chunk = like.avg_chunk;
  o.max_chunk = like.max_chunk;
  if (!o.cdc && o.block_size < o.chunk_size) o.block_size = like.block_size;
  (side.stream == Stream::kDisk ? o.disk_path : o.memory_path) = args.overlay;
  o.raw = true;  // the guest's bytes, whatever they start with
  o.holes_inherit = true;
  o.output_path = args.output;
  o.base_path = args.base;
  o.base_dirs = args.base_dirs;
  o.codec = to_codec(args.compression);
  o.level = args.level;
  o.threads = args.threads;
  o.force = args.force;
  return pack(o, progress);
}

/// Runs `commit` for `args`; returns the exit status.
int run_commit(const CommitArgs& args) {
  check_compression_level(args.compression, args.level);
  const std::optional<SideFileInput> side = side_file_of(args.overlay);
  PackOptions options;
  options.output_path = args.output;
  options.base_path = args.base;
  options.base_dirs = args.base_dirs;
  options.codec = to_codec(args.compression);
  options.level = args.level;
  options.threads = args.threads;
  options.force = args.force;
  options.encrypt = args.encrypt;
  if (side && args.encrypt) {
    usage_error("--encrypt: side files of `hexz mount --overlay` are never encrypted");
  }
  if (!args.base_password_file.empty() && !args.encrypt) {
    usage_error("--base-password-file needs --encrypt");
  }
  if (!args.encrypt && (args.password_fd >= 0 || !args.password_command.empty())) {
    usage_error("--password-fd and --password-command need --encrypt");
  }
  PasswordSource passwords(
      PasswordArgs{args.password_file, args.password_fd, args.password_command});
  if (args.encrypt) {
    // Refuse a mixed chain before anyone is asked for a password.
    if (!Snapshot::peek(args.base, {}).encrypted) {
      throw Error(ErrorCode::kInvalidArgument,
                  "base snapshot '" + args.base +
                      "' is not encrypted: an encrypted commit needs an encrypted base");
    }
    options.password = passwords.for_new_snapshot();
    if (!args.base_password_file.empty())
      options.base_password = read_password_file(args.base_password_file);
  }
  struct WipeOnExit {
    PackOptions& o;
    ~WipeOnExit() {
      wipe(o.password);
      wipe(o.base_password);
    }
  } wipe_on_exit{options};
  InterruptGuard guard;
  ProgressBar bar("committing", progress_wanted(args.quiet));
  const ProgressFn progress = [&bar](uint64_t done, uint64_t total) {
    throw_if_interrupted();
    bar.update(done, total);
  };
  const PackResult result = side ? commit_side_file(args, *side, progress)
                                 : commit_overlay(args.overlay, options, progress);
  bar.clear();
  if (!args.quiet) print_pack_report(result, {"committed", args.output, false});
  return kExitOk;
}

}  // namespace

void add_commit_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<CommitArgs>();
  CLI::App* sub = add_command(
      parent, "commit",
      "Fold a writable layer over a snapshot (a qcow2 overlay, or a side file of `hexz mount "
      "--overlay`) into a new thin snapshot",
      selected, [args] { return run_commit(*args); });
  sub->add_option("OVERLAY", args->overlay,
                  "The overlay image (qcow2) whose backing file is the base's export, or a side "
                  "file SIDEDIR/disk.overlay (or memory.overlay) of `hexz mount --overlay "
                  "SIDEDIR`")
      ->type_name("")
      ->required();
  sub->add_option("--base", args->base,
                  "The snapshot the overlay was made over; the result is thin over it")
      ->type_name("BASE.hxz")
      ->required();
  sub->add_option("--base-dir", args->base_dirs,
                  "Also search DIR for the bases of BASE.hxz (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  sub->add_option("-o,--output", args->output, "Thin snapshot to write (.hxz)")
      ->type_name("OUT.hxz")
      ->required();
  add_compression_options(sub, args->compression, args->level);
  add_threads_option(
      sub, args->threads,
      "Worker threads for hashing and compression; 0 = all cores (output identical)");
  CLI::Option* encrypt =
      sub->add_flag("--encrypt", args->encrypt,
                    "Encrypt the new snapshot (needed, and only allowed, onto an encrypted base)");
  sub->add_option("--password-file", args->password_file,
                  "With --encrypt: the new snapshot's password (first line of FILE)")
      ->type_name("FILE")
      ->needs(encrypt);
  add_password_source_options(sub, args->password_fd, args->password_command);
  sub->add_option("--base-password-file", args->base_password_file,
                  "With --encrypt: the base's password, if it is not the new snapshot's")
      ->type_name("FILE")
      ->needs(encrypt);
  sub->add_flag("-f,--force", args->force, "Overwrite OUT.hxz if it exists");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar and no summary line");
  sub->parse_complete_callback([args] {
    if (args->output == "-") {
      usage_error("-o -: a snapshot cannot be written to standard output; name a file");
    }
  });
  sub->footer(
      "The overlay is read by a private qemu-nbd without its backing file, so the base's export\n"
      "need not be running: only the overlay's own clusters are read from it, every other range\n"
      "comes from BASE.hxz (and dedups against it). The chunking is BASE.hxz's.\n"
      "Typical use: nbdkit -U S hexz snapshot=BASE.hxz; qemu-img create -f qcow2 -b\n"
      "nbd+unix:///?socket=S -F raw overlay.qcow2; boot from overlay.qcow2; then\n"
      "hexz commit overlay.qcow2 --base BASE.hxz -o NEW.hxz.\n"
      "A side file of `hexz mount BASE.hxz DIR --overlay SIDEDIR` (unmounted first) is a sparse\n"
      "raw image whose holes mean 'as in BASE.hxz': hexz commit SIDEDIR/disk.overlay --base\n"
      "BASE.hxz -o NEW.hxz packs it as `hexz pack --disk SIDEDIR/disk.overlay --base BASE.hxz\n"
      "--holes-inherit --raw` would, after checking (SIDEDIR/overlay.json) that the side file\n"
      "was written over BASE.hxz.\n"
      "An encrypted BASE.hxz needs --encrypt: the new thin snapshot holds the base's keys, so its\n"
      "own password reads the chain (the password comes as for pack --encrypt).");
}

}  // namespace hexz::cli
