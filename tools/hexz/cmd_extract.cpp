// The `extract` subcommand: writes whole streams back to sparse raw image files.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "atomic_output.hpp"
#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "password.hpp"
#include "posix_io.hpp"
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

/// Copies `stream` into `out`: data runs are read and written in pieces of at most kPieceSize,
/// zero runs are skipped so they become holes. Throws hexz::Error on failure or interrupt.
void copy_stream(const Snapshot& snapshot, Stream stream, AtomicOutputFile& out,
                 std::vector<std::byte>& buffer, Progress& progress) {
  const uint64_t size = snapshot.size(stream);
  snapshot.for_each_extent(stream, 0, size, [&](uint64_t offset, uint64_t length, bool is_zero) {
    throw_if_interrupted();
    if (is_zero) {
      progress.done += length;  // Nothing to write: the final ftruncate leaves a hole.
      progress.bar->update(progress.done, progress.total);
      return;
    }
    for (uint64_t done = 0; done < length;) {
      throw_if_interrupted();
      auto piece = static_cast<size_t>(std::min(length - done, kPieceSize));
      std::span<std::byte> data(buffer.data(), piece);
      snapshot.read(stream, offset + done, data);
      pwrite_all(out.fd(), data, offset + done, out.path());
      done += piece;
      progress.done += piece;
      progress.bar->update(progress.done, progress.total);
    }
  });
  out.commit(size);
}

/// Runs `extract` for `args`; returns the exit status.
int run_extract(const ExtractArgs& args) {
  std::vector<Job> jobs;
  if (!args.disk.empty()) jobs.push_back({Stream::kDisk, args.disk});
  if (!args.memory.empty()) jobs.push_back({Stream::kMemory, args.memory});

  InterruptGuard guard;
  SnapshotOpener opener(args.access);
  std::unique_ptr<Snapshot> snapshot = opener.open(args.snapshot);
  // Check everything up front so that nothing is written when any job cannot succeed.
  uint64_t total = 0;
  for (const Job& job : jobs) {
    if (!snapshot->has_stream(job.stream)) {
      throw Error(ErrorCode::kOutOfRange,
                  std::string("the snapshot has no ") + stream_name(job.stream) + " stream");
    }
    check_output_path(job.path, args.force);
    total += snapshot->size(job.stream);
  }
  throw_if_interrupted();

  ProgressBar bar("extracting", progress_wanted(args.quiet));
  Progress progress{&bar, 0, total};
  std::vector<std::byte> buffer(static_cast<size_t>(kPieceSize));
  for (const Job& job : jobs) {
    AtomicOutputFile out(job.path, args.force);
    copy_stream(*snapshot, job.stream, out, buffer, progress);
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
  sub->add_option("--disk", args->disk, "Write the disk stream to OUT (sparse)")->type_name("OUT");
  sub->add_option("--memory", args->memory, "Write the memory stream to OUT (sparse)")
      ->type_name("OUT");
  sub->add_flag("-f,--force", args->force, "Overwrite existing output files");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar");
  add_access_options(sub, args->access);
  sub->footer(std::string("At least one of --disk and --memory is required.\n") + kAccessFooter);
  // Usage checks CLI11 cannot express; a CLI::ValidationError here is reported as a usage error.
  sub->parse_complete_callback([args] {
    if (args->disk.empty() && args->memory.empty()) {
      throw CLI::ValidationError("extract", "at least one of --disk or --memory is required");
    }
    if (args->disk == args->memory) {
      throw CLI::ValidationError("extract", "--disk and --memory must name different files");
    }
  });
}

}  // namespace hexz::cli
