// hexz::commit_overlay(): a qcow2 overlay over a snapshot, folded back as a thin snapshot.
#include <sys/stat.h>

#include <memory>

#include "crypto/secrets.hpp"
#include "hexz/commit.hpp"
#include "hexz/error.hpp"
#include "hexz/flatten.hpp"
#include "hexz/snapshot.hpp"
#include "io/image_format.hpp"
#include "io/nbd_input.hpp"
#include "pack/base_index.hpp"
#include "pack/options_check.hpp"
#include "pack/overlay_source.hpp"
#include "pack/packer.hpp"
#include "pack/snapshot_source.hpp"

namespace hexz {

namespace {

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

}  // namespace

PackResult commit_overlay(const std::string& overlay_path, const PackOptions& options,
                          const ProgressFn& progress) {
  if (options.base_path.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "a commit needs the base snapshot the overlay was made over (--base SNAP)");
  }
  if (!options.disk_path.empty() || !options.memory_path.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "a commit reads the overlay only: disk_path and memory_path must be empty");
  }
  for (const std::string* input : {&overlay_path, &options.base_path}) {
    if (same_file(options.output_path, *input)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "output '" + options.output_path + "' is the same file as '" + *input + "'");
    }
  }
  // An encrypted base takes an encrypted commit (a chain is encrypted throughout, FORMAT.md
  // rule R3), which opens the base with its password: the commit's own unless base_password.
  OpenOptions open_options;
  open_options.base_dirs = options.base_dirs;
  open_options.endpoint = options.endpoint;
  const bool base_encrypted = Snapshot::peek(options.base_path, open_options).encrypted;
  if (base_encrypted != options.encrypt) {
    throw Error(
        ErrorCode::kInvalidArgument,
        "base snapshot '" + options.base_path + "' is " +
            (base_encrypted ? "encrypted: a commit onto it must be encrypted too"
                            : "not encrypted: an encrypted commit needs an encrypted base"));
  }
  std::string base_password;
  const crypto::ScopedWipe wipe_base_password(base_password);
  if (options.encrypt)
    base_password = options.base_password.empty() ? options.password : options.base_password;
  open_options.password = base_password;
  open_options.verify_reads = true;  // base bytes become part of the new snapshot's chunks
  open_options.prefetch = false;
  std::unique_ptr<Snapshot> snapshot;
  try {
    snapshot = Snapshot::open(options.base_path, open_options);
  } catch (const Error& e) {
    packing::rethrow_base_open_error(e);
  }
  if (!snapshot->has_stream(Stream::kDisk)) {
    throw Error(ErrorCode::kInvalidArgument,
                "base snapshot '" + options.base_path + "' has no disk stream to commit onto");
  }
  // The base's chunking, so that unchanged chunks are found in it.
  PackOptions o = options;
  const PackOptions like = options_like(snapshot->info());
  o.cdc = like.cdc;
  o.chunk_size = like.chunk_size;
  o.min_chunk = like.min_chunk;
  o.avg_chunk = like.avg_chunk;
  o.max_chunk = like.max_chunk;
  if (!o.cdc && o.block_size < o.chunk_size) o.block_size = like.block_size;
  o.disk_path = overlay_path;
  packing::validate_options(o);

  io::ImageFormat format;
  {
    const io::InputFile file(overlay_path, "overlay");
    format = io::detect_image_format(file);
  }
  const std::string driver = io::qemu_driver(format);
  if (driver.empty()) {
    throw Error(ErrorCode::kUnsupported,
                "overlay '" + overlay_path + "' is a " + io::image_format_name(format) +
                    " file, not a qcow2 (or other QEMU) image with a backing file");
  }
  const auto overlay = io::NbdInput::serve_file(
      {overlay_path, driver, "overlay", io::image_format_name(format), true});
  packing::SnapshotSource base_stream(*snapshot, Stream::kDisk, options.base_path + ":disk");
  packing::OverlaySource source(*overlay, overlay->own_allocation(), base_stream, overlay_path);
  packing::BaseIndex base(options.base_path, options.base_dirs, options.endpoint, base_password);
  if (!o.attachments.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "a commit takes no attachments; add them afterwards with hexz attach");
  }
  packing::PackJob job{o, {{Stream::kDisk, &source}}, &base, {}};
  return packing::run_pack(job, progress);
}

}  // namespace hexz
