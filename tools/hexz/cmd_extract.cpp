// The `extract` subcommand: writes whole streams back to sparse raw image files.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "commands.hpp"
#include "extract_output.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "password.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Bytes read from the snapshot and written per step.
constexpr uint64_t kPieceSize = 4ull << 20;

/// Command-line values of `extract`.
struct ExtractArgs {
  std::string snapshot;
  std::string disk;    ///< Output path for the disk stream; empty = do not extract it.
  std::string memory;  ///< Output path for the memory stream; empty = do not extract it.
  bool force = false;
  bool quiet = false;
  bool no_sync = false;  ///< --no-sync: skip the final flush to stable storage
  unsigned threads = 0;
  AccessArgs access;
};

/// One stream to extract.
struct Job {
  Stream stream;
  std::string path;
};

/// Progress across all jobs of one extract run.
struct Progress {
  ProgressBar* bar;
  uint64_t done;
  uint64_t total;
};

/// The write of one piece, running beside the decoding of the next. wait() (and the
/// destructor, so that no write outlives its buffer) joins it; wait() rethrows its error.
class PendingWrite {
 public:
  PendingWrite() = default;
  ~PendingWrite() {
    if (write_.valid()) write_.wait();
  }
  PendingWrite(const PendingWrite&) = delete;
  PendingWrite& operator=(const PendingWrite&) = delete;
  void start(ExtractOutput& out, uint64_t offset, std::span<const std::byte> data) {
    wait();
    write_ = std::async(std::launch::async, [&out, offset, data] { out.write(offset, data); });
  }
  void wait() {
    if (write_.valid()) write_.get();
  }

 private:
  std::future<void> write_;
};

/// Copies `stream` into `out`: data runs are read in pieces that end at multiples of
/// kPieceSize (the snapshot decodes a piece's blocks on its worker threads), each piece written
/// while the next is decoded (two buffers); zero runs are handed to ExtractOutput::zeros (holes
/// in a file, BLKZEROOUT on a device, written zeros on a stream). A piece lies in its buffer at
/// its offset modulo kDirectAlignment, from an aligned start, so that a file output can write
/// its whole pages with O_DIRECT. Throws hexz::Error on failure or interrupt.
void copy_stream(const Snapshot& snapshot, Stream stream, ExtractOutput& out,
                 std::vector<std::byte> (&buffers)[2], Progress& progress) {
  const uint64_t size = snapshot.size(stream);
  PendingWrite pending;
  size_t next = 0;  // The buffer the next piece is decoded into.
  const auto aligned_start = [&buffers](size_t b) {
    const auto p = reinterpret_cast<uintptr_t>(buffers[b].data());
    return buffers[b].data() + (kDirectAlignment - p % kDirectAlignment) % kDirectAlignment;
  };
  snapshot.for_each_extent(stream, 0, size, [&](uint64_t offset, uint64_t length, bool is_zero) {
    throw_if_interrupted();
    if (is_zero) {
      pending.wait();  // A stream output takes its bytes in order.
      out.zeros(offset, length);
      progress.done += length;
      progress.bar->update(progress.done, progress.total);
      return;
    }
    const uint64_t end = offset + length;
    for (uint64_t at = offset; at < end;) {
      throw_if_interrupted();
      const uint64_t piece_end = std::min(end, (at / kPieceSize + 1) * kPieceSize);
      const auto piece = static_cast<size_t>(piece_end - at);
      std::span<std::byte> data(aligned_start(next) + at % kDirectAlignment, piece);
      snapshot.read(stream, at, data);  // the other buffer may still be written
      pending.start(out, at, data);
      next ^= 1;
      at = piece_end;
      progress.done += piece;
      progress.bar->update(progress.done, progress.total);
    }
  });
  pending.wait();
  out.finish(size);
}

/// True for the locations the remote backends read.
bool is_url(const std::string& path) {
  return path.find("://") != std::string::npos;
}

/// Runs `extract` for `args`; returns the exit status.
int run_extract(const ExtractArgs& args) {
  std::vector<Job> jobs;
  if (!args.disk.empty()) jobs.push_back({Stream::kDisk, args.disk});
  if (!args.memory.empty()) jobs.push_back({Stream::kMemory, args.memory});

  InterruptGuard guard;
  SnapshotOpener opener(args.access);
  OpenOptions options;
  options.prefetch = false;  // a boot trace is for serving, not for this
  options.threads = args.threads;
  std::unique_ptr<Snapshot> snapshot = opener.open(args.snapshot, options);
  // The files being read: an output must be none of them (compared by device and inode, so
  // other paths and hard links count too).
  OutputRules rules;
  rules.force = args.force;
  rules.sync = !args.no_sync;
  if (!is_url(args.snapshot)) rules.inputs = file_id_of(args.snapshot);
  for (const BaseInfo& base : snapshot->info().bases) {
    if (base.path.empty() || is_url(base.path)) continue;
    for (const FileId& id : file_id_of(base.path)) rules.inputs.push_back(id);
  }
  // Check everything up front so that nothing is written when any job cannot succeed.
  uint64_t total = 0;
  for (const Job& job : jobs) {
    if (!snapshot->has_stream(job.stream)) {
      throw Error(ErrorCode::kOutOfRange,
                  std::string("the snapshot has no ") + stream_name(job.stream) + " stream");
    }
    rules.size = snapshot->size(job.stream);
    for (const FileId& id : check_extract_output(job.path, rules)) rules.outputs.push_back(id);
    total += snapshot->size(job.stream);
  }
  throw_if_interrupted();

  ProgressBar bar("extracting", progress_wanted(args.quiet));
  Progress progress{&bar, 0, total};
  // Room for an aligned start (see copy_stream).
  std::vector<std::byte> buffers[2] = {std::vector<std::byte>(kPieceSize + kDirectAlignment),
                                       std::vector<std::byte>(kPieceSize + kDirectAlignment)};
  for (const Job& job : jobs) {
    rules.size = snapshot->size(job.stream);
    rules.outputs.clear();  // Checked above; the first output now exists.
    std::unique_ptr<ExtractOutput> out = open_extract_output(job.path, rules);
    copy_stream(*snapshot, job.stream, *out, buffers, progress);
  }
  return kExitOk;
}

}  // namespace

void add_extract_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<ExtractArgs>();
  CLI::App* sub =
      add_command(parent, "extract", "Write the streams of a snapshot back to raw image files",
                  selected, [args] { return run_extract(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file (.hxz)")->type_name("")->required();
  sub->add_option("--disk", args->disk,
                  "Write the disk stream to OUT: a file (sparse), a block device, or - for "
                  "standard output")
      ->type_name("OUT");
  sub->add_option("--memory", args->memory, "Write the memory stream to OUT (as --disk)")
      ->type_name("OUT");
  sub->add_flag("-f,--force", args->force,
                "Replace existing output files; write over an existing block device");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar");
  sub->add_flag("--no-sync", args->no_sync,
                "Do not flush the output to stable storage at the end (faster; a crash soon "
                "after may lose the new file, never an older one)");
  add_threads_option(sub, args->threads, "Decode and read-ahead threads; 0 = all cores");
  add_access_options(sub, args->access);
  sub->footer(
      std::string(
          "At least one of --disk and --memory is required. A file is written beside its\n"
          "destination and renamed into place when complete (a symlink is written through);\n"
          "a block device is written in place after a size check (zero runs are zeroed by the\n"
          "device with BLKZEROOUT where it can); standard output (-), a character device or a\n"
          "FIFO with a reader receive the bytes in order. An output that is the snapshot or\n"
          "one of its bases (by device and inode) is refused.\n") +
      kAccessFooter);
  // Usage checks CLI11 cannot express; a CLI::ValidationError here is reported as a usage error.
  sub->parse_complete_callback([args] {
    if (args->disk.empty() && args->memory.empty()) {
      throw CLI::ValidationError("extract", "at least one of --disk or --memory is required");
    }
    if (args->disk == args->memory || (args->disk == "-" && args->memory == "-")) {
      throw CLI::ValidationError("extract", "--disk and --memory must name different files");
    }
  });
}

}  // namespace hexz::cli
