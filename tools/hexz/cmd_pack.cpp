// The `pack` subcommand (also reachable as `data pack`).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/pack.hpp"
#include "hexz/remote.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "pack_report.hpp"
#include "password.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `pack`.
struct PackArgs {
  std::string disk;
  std::string memory;
  std::string output;
  std::string compression = "zstd";
  int level = 0;
  uint64_t chunk_size = kDefaultChunkSize;
  uint64_t block_size = kDefaultBlockSize;
  bool cdc = false;
  uint64_t min_chunk = kDefaultMinChunk;
  uint64_t avg_chunk = kDefaultAvgChunk;
  uint64_t max_chunk = kDefaultMaxChunk;
  unsigned threads = 0;
  bool train_dict = false;
  bool raw = false;           ///< --raw
  uint64_t memory_limit = 0;  ///< --memory-limit, bytes; 0 = a quarter of the RAM
  std::string base;
  std::vector<std::string> base_dirs;
  std::vector<std::string> attach;  ///< --attach NAME=FILE
  bool holes_inherit = false;       ///< --holes-inherit
  bool encrypt = false;
  std::string password_file;
  int password_fd = -1;
  std::string password_command;
  std::string base_password_file;                               ///< --base-password-file
  uint64_t kdf_memory = uint64_t{kDefaultKdfMemoryKib} * 1024;  ///< --kdf-memory, bytes
  uint32_t kdf_iterations = kDefaultKdfIterations;              ///< --kdf-iterations
  bool force = false;
  bool quiet = false;
  std::string endpoint;  ///< --endpoint, for an s3:// output
  /// Set after parsing: the user chose the chunking (--chunk-size, --cdc or a CDC size).
  bool chunking_given = false;
  /// Set after parsing: the user chose --block-size.
  bool block_size_given = false;
};

/// Checks the base snapshot `args.base` from its clear header (no password is needed, even for
/// an encrypted base) before anyone is asked for a password: an encrypted base needs
/// --encrypt, an unencrypted one refuses it. Unless the user chose the chunking, makes
/// `options` chunk like the base, so that its chunks can be found (dedup needs identical chunk
/// boundaries). Throws hexz::Error if the base cannot be opened.
void check_base(const PackArgs& args, PackOptions& options) {
  OpenOptions open_options;
  open_options.base_dirs = args.base_dirs;
  open_options.endpoint = args.endpoint;
  open_options.threads = 1;
  const SnapshotInfo base = Snapshot::peek(args.base, open_options);
  if (base.encrypted && !args.encrypt) {
    throw Error(ErrorCode::kInvalidArgument,
                "base snapshot '" + args.base +
                    "' is encrypted: a thin snapshot of it must be encrypted too (--encrypt; "
                    "--base-password-file if the base's password differs)");
  }
  if (!base.encrypted && args.encrypt) {
    throw Error(ErrorCode::kInvalidArgument,
                "base snapshot '" + args.base +
                    "' is not encrypted: an encrypted thin snapshot needs an encrypted base "
                    "(pack without --encrypt, or pack an encrypted copy of the base first)");
  }
  if (args.chunking_given) return;
  options.cdc = base.cdc;
  if (base.cdc) {
    options.min_chunk = base.min_chunk;
    options.avg_chunk = base.chunk_size;
    options.max_chunk = base.max_chunk;
  } else {
    options.chunk_size = base.chunk_size;
    // A large base chunk needs a block at least as large; take the base's then.
    if (!args.block_size_given && options.block_size < options.chunk_size) {
      options.block_size = base.block_size;
    }
  }
}

/// Refuses out-of-range option values as usage errors (exit status 2, like malformed ones), with
/// the same ranges the help states.
void check_ranges(const PackArgs& args) {
  check_compression_level(args.compression, args.level);
  if (!args.cdc) {
    const uint64_t c = args.chunk_size;
    if (c < kMinChunkSize || c > kMaxChunkSize || (c & (c - 1)) != 0) {
      usage_error("--chunk-size " + size_text(c) +
                  " is out of range: use a power of two from 512 to 1M");
    }
  }
  if (args.block_size < kMinBlockSize || args.block_size > kMaxBlockSize) {
    usage_error("--block-size " + size_text(args.block_size) + " is out of range: use 1K to 16M");
  }
  if (!args.cdc && args.block_size < args.chunk_size) {
    usage_error("--block-size " + size_text(args.block_size) +
                " must not be smaller than --chunk-size " + size_text(args.chunk_size));
  }
  if (args.cdc) {
    if (args.min_chunk < 64) usage_error("--min-chunk must be at least 64 bytes");
    if (!(args.min_chunk < args.avg_chunk && args.avg_chunk < args.max_chunk)) {
      usage_error("CDC chunk sizes must satisfy --min-chunk < --avg-chunk < --max-chunk (got " +
                  size_text(args.min_chunk) + ", " + size_text(args.avg_chunk) + ", " +
                  size_text(args.max_chunk) + ")");
    }
    if (args.max_chunk > kMaxCdcChunk) usage_error("--max-chunk must be at most 16M");
  }
}

/// True if the pack output is an S3 object rather than a local file.
bool is_s3(const std::string& output) {
  return output.rfind("s3://", 0) == 0;
}

/// A private temporary directory (under $TMPDIR, else /tmp) that is removed with everything in
/// it when this object goes away, whether the command succeeded or not.
class TempDir {
 public:
  TempDir() {
    const char* env = std::getenv("TMPDIR");
    std::string pattern = (env != nullptr && *env != '\0') ? env : "/tmp";
    pattern += "/hexz-pack.XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) {
      throw Error(ErrorCode::kIo, "cannot create a temporary directory in '" +
                                      pattern.substr(0, pattern.rfind('/')) +
                                      "' (set TMPDIR): " + std::strerror(errno));
    }
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Runs the pack described by `args`; returns the exit status. Unless quiet, prints the
/// library's warnings and a summary line on stderr. An s3:// output is packed into a temporary
/// local file, pushed (multipart, checked after landing) and the local file removed.
int run_pack(const PackArgs& args) {
  PackOptions options;
  options.disk_path = args.disk;
  options.memory_path = args.memory;
  options.raw = args.raw;
  options.output_path = args.output;
  const bool to_s3 = is_s3(args.output);
  PushOptions push_options;
  push_options.endpoint = args.endpoint;
  std::optional<TempDir> temp;
  if (to_s3) {
    // Before the (long) pack: the location must be valid and reachable, and not replace an
    // object unless forced.
    if (remote_exists(args.output, push_options) && !args.force) {
      throw Error(ErrorCode::kAlreadyExists,
                  "'" + args.output + "' already exists (use --force to replace it)");
    }
    temp.emplace();
    const std::string key = args.output.substr(args.output.rfind('/') + 1);
    options.output_path = temp->path() + "/" + (key.empty() ? "snapshot.hxz" : key);
  } else if (!args.endpoint.empty() && !is_s3(args.base)) {
    throw CLI::ValidationError("--endpoint", "--endpoint needs an s3:// output or --base");
  }
  options.codec = to_codec(args.compression);
  options.level = args.level;
  // size_transform() capped the sizes at UINT32_MAX; the library checks the real limits.
  options.chunk_size = static_cast<uint32_t>(args.chunk_size);
  options.block_size = static_cast<uint32_t>(args.block_size);
  options.cdc = args.cdc;
  options.min_chunk = static_cast<uint32_t>(args.min_chunk);
  options.avg_chunk = static_cast<uint32_t>(args.avg_chunk);
  options.max_chunk = static_cast<uint32_t>(args.max_chunk);
  options.threads = args.threads;
  options.train_dictionary = args.train_dict;
  options.memory_limit = args.memory_limit;
  options.base_path = args.base;
  options.base_dirs = args.base_dirs;
  options.holes_inherit = args.holes_inherit;
  for (const auto& a : args.attach) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
      throw CLI::ValidationError("--attach", "'" + a + "' is not NAME=FILE");
    }
    check_user_attachment_name(a.substr(0, eq));
    options.attachments.push_back({a.substr(0, eq), a.substr(eq + 1), {}});
  }
  options.endpoint = args.endpoint;
  options.force = args.force;
  options.encrypt = args.encrypt;
  if (args.kdf_memory % 1024 != 0) {
    throw CLI::ValidationError("--kdf-memory", "--kdf-memory must be a whole number of KiB");
  }
  options.kdf_memory_kib = static_cast<uint32_t>(args.kdf_memory / 1024);
  options.kdf_iterations = args.kdf_iterations;

  if (!args.base_password_file.empty() && (!args.encrypt || args.base.empty())) {
    usage_error("--base-password-file needs --encrypt and --base");
  }
  if (!args.base.empty()) check_base(args, options);
  PasswordSource passwords(
      PasswordArgs{args.password_file, args.password_fd, args.password_command});
  if (!args.encrypt && (args.password_fd >= 0 || !args.password_command.empty())) {
    usage_error("--password-fd and --password-command need --encrypt");
  }
  if (args.encrypt) options.password = passwords.for_new_snapshot();
  if (!args.base_password_file.empty())
    options.base_password = read_password_file(args.base_password_file);

  InterruptGuard guard;
  ProgressBar bar("packing", progress_wanted(args.quiet));
  PackResult result;
  try {
    result = pack(options, [&bar](uint64_t done, uint64_t total) {
      throw_if_interrupted();
      bar.update(done, total);
    });
  } catch (...) {
    wipe(options.password);
    wipe(options.base_password);
    throw;
  }
  wipe(options.password);
  wipe(options.base_password);
  bar.clear();
  // For an s3:// output the summary waits until the upload has succeeded.
  if (!args.quiet && !to_s3) print_pack_report(result, {"packed", args.output, args.encrypt});
  if (to_s3) {
    ProgressBar upload_bar("uploading", progress_wanted(args.quiet));
    const PushResult pushed =
        push(options.output_path, args.output, push_options, [&](uint64_t done, uint64_t total) {
          throw_if_interrupted();
          upload_bar.update(done, total);
        });
    upload_bar.clear();
    if (!args.quiet) {
      print_pack_report(result, {"packed", args.output, args.encrypt});
      std::fprintf(stderr, "uploaded %llu bytes in %llu parts to %s, identity %s checked\n",
                   static_cast<unsigned long long>(pushed.bytes),
                   static_cast<unsigned long long>(pushed.parts), args.output.c_str(),
                   pushed.identity_hex.substr(0, 16).c_str());
    }
  }
  return kExitOk;
}

}  // namespace

void add_pack_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<PackArgs>();
  CLI::App* sub = add_command(parent, "pack", "Pack raw disk and/or memory images into a snapshot",
                              selected, [args] { return run_pack(*args); });
  sub->add_option("--disk", args->disk,
                  "Disk image to store as the disk stream: a raw file or block device; a qcow2, "
                  "VMDK, VHD, VHDX or VDI file (read through qemu-nbd); an nbd:// or "
                  "nbd+unix:///EXPORT?socket=PATH URI; or - to read standard input as a stream")
      ->type_name("FILE");
  sub->add_option("--memory", args->memory,
                  "Memory image to store as the memory stream (as --disk)")
      ->type_name("FILE");
  sub->add_flag("--raw", args->raw,
                "Pack a qcow2/VMDK/VHD/VHDX/VDI/LUKS file's own bytes, not the disk it holds");
  sub->add_option("-o,--output", args->output,
                  "Snapshot file to write (.hxz), or s3://bucket/key to pack and upload")
      ->type_name("OUT.hxz")
      ->required();
  add_compression_options(sub, args->compression, args->level);
  CLI::Option* chunk_size = sub->add_option("--chunk-size", args->chunk_size,
                                            "Fixed dedup/index unit, a power of two from 512 to 1M")
                                ->type_name("SIZE")
                                ->transform(size_transform(UINT32_MAX))
                                ->capture_default_str();
  CLI::Option* block_size =
      sub->add_option("--block-size", args->block_size,
                      "Compression unit, 1K to 16M and at least the chunk size")
          ->type_name("SIZE")
          ->transform(size_transform(UINT32_MAX))
          ->capture_default_str();
  CLI::Option* cdc =
      sub->add_flag("--cdc", args->cdc,
                    "Content-defined chunking (FastCDC) instead of fixed-size chunks; not with "
                    "--chunk-size")
          ->excludes(chunk_size);  // The help text says so; hidden from the option list.
  CLI::Option* cdc_sizes[] = {
      sub->add_option("--min-chunk", args->min_chunk,
                      "With --cdc: smallest chunk (64 bytes or more)"),
      sub->add_option("--avg-chunk", args->avg_chunk,
                      "With --cdc: average chunk, above --min-chunk"),
      sub->add_option("--max-chunk", args->max_chunk,
                      "With --cdc: largest chunk, above --avg-chunk, 16M at most"),
  };
  for (CLI::Option* opt : cdc_sizes) {
    opt->type_name("SIZE")
        ->transform(size_transform(UINT32_MAX))
        ->capture_default_str()
        ->needs(cdc);
  }
  add_threads_option(
      sub, args->threads,
      "Worker threads for hashing and compression; 0 = all cores (output identical)");
  sub->add_option("--memory-limit", args->memory_limit,
                  "Memory for the dedup table (about 32 bytes per unique chunk); beyond it "
                  "pack stops recording new chunks for dedup and says how many it left out. "
                  "0 = a quarter of the RAM")
      ->type_name("SIZE")
      ->transform(size_transform())
      ->default_str("0");
  sub->add_flag("--train-dict", args->train_dict,
                "Train a zstd dictionary on a sample of the input (not with --compression lz4)");
  CLI::Option* base_option =
      sub->add_option("--base", args->base,
                      "Make a thin snapshot: chunks stored in BASE.hxz are referenced, not stored "
                      "(a file, http(s):// or s3:// URL; only its index is read)")
          ->type_name("BASE.hxz");
  sub->add_flag("--holes-inherit", args->holes_inherit,
                "With --base: holes of the inputs mean 'unchanged since the base' (a Firecracker "
                "diff snapshot), not zeros; they take the base's content at the same offsets")
      ->needs(base_option);
  sub->add_option("--attach", args->attach,
                  "Store FILE as the named attachment NAME (repeatable; e.g. vmstate=vm.snap): "
                  "small blobs, at most 64 of up to 64 MiB each (hexz attach, hexz attachment)")
      ->type_name("NAME=FILE");
  sub->add_option("--base-dir", args->base_dirs,
                  "Also search DIR for the bases of BASE.hxz (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  CLI::Option* encrypt = sub->add_flag("--encrypt", args->encrypt,
                                       "Encrypt with AES-256-GCM under a password (Argon2id key)");
  sub->add_option("--password-file", args->password_file,
                  "With --encrypt: read the password from the first line of FILE")
      ->type_name("FILE")
      ->needs(encrypt);
  sub->add_option("--password-fd", args->password_fd,
                  "With --encrypt: read the password from the first line of descriptor N")
      ->type_name("N")
      ->check(int_range(0, 1 << 20));
  sub->add_option("--password-command", args->password_command,
                  "With --encrypt: run CMD (/bin/sh -c) and use the first line it prints")
      ->type_name("CMD");
  sub->add_option("--base-password-file", args->base_password_file,
                  "With --encrypt and an encrypted --base: the base's password, if it is not the "
                  "new snapshot's (first line of FILE)")
      ->type_name("FILE")
      ->needs(encrypt);
  sub->add_option("--kdf-memory", args->kdf_memory,
                  "With --encrypt: Argon2id memory per password guess, 8M to 1G (readers refuse "
                  "more than 1G unless told --kdf-max-memory)")
      ->type_name("SIZE")
      ->transform(size_transform(UINT32_MAX))
      ->default_str("64M")
      ->needs(encrypt);
  sub->add_option("--kdf-iterations", args->kdf_iterations,
                  "With --encrypt: Argon2id passes over that memory, 1 to 64 (readers refuse more "
                  "than 16 unless told --kdf-max-iterations)")
      ->type_name("N")
      ->capture_default_str()
      ->needs(encrypt);
  sub->add_flag("-f,--force", args->force, "Overwrite OUT.hxz (or the S3 object) if it exists");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar and no summary line");
  add_endpoint_option(sub, args->endpoint);
  sub->footer(
      "At least one of --disk and --memory is required; one of them may be - (standard input,\n"
      "e.g. a pipe from ssh or dd: read once in order, progress shows the bytes done).\n"
      "With -o s3://bucket/key the snapshot is packed into a temporary file in $TMPDIR (which\n"
      "needs room for it), uploaded as 'hexz push' does, and the temporary file removed.\n"
      "SIZE accepts a byte count with an optional binary suffix K, M or G, e.g. 64K.\n"
      "With --base and no chunking options, the base's chunking is used (needed for dedup).\n"
      "The password of --encrypt comes from --password-file, --password-fd or --password-command,\n"
      "else HEXZ_PASSWORD_FD, HEXZ_PASSCOMMAND or HEXZ_PASSWORD, else a prompt on the terminal\n"
      "(asked twice).\n"
      "An encrypted --base needs --encrypt: the thin snapshot holds the keys of its bases, so\n"
      "its own password reads the whole chain (format 1.2).\n"
      "qcow2, VMDK, VHD, VHDX and VDI inputs are recognised by their magic and read through a\n"
      "private read-only qemu-nbd (Debian: qemu-utils; $HEXZ_QEMU_NBD names another binary),\n"
      "skipping unallocated and zero ranges; LUKS volumes are refused. --raw packs such a file's\n"
      "own bytes instead.");
  sub->parse_complete_callback([args, chunk_size, block_size, cdc, cdc_sizes] {
    // "-" is standard input/output elsewhere; never a file literally named "-" here.
    if (args->output == "-") {
      usage_error(
          "-o -: a snapshot cannot be written to standard output (it is written out of "
          "order); name a file");
    }
    if (args->disk == "-" && args->memory == "-") {
      usage_error("--disk - and --memory -: only one image can come from standard input");
    }
    if ((args->disk == "-" || args->memory == "-") && args->train_dict) {
      usage_error("--train-dict samples the whole image: it cannot read standard input");
    }
    args->chunking_given = chunk_size->count() > 0 || cdc->count() > 0;
    for (CLI::Option* opt : cdc_sizes) args->chunking_given |= opt->count() > 0;
    args->block_size_given = block_size->count() > 0;
    check_ranges(*args);
  });
}

}  // namespace hexz::cli
