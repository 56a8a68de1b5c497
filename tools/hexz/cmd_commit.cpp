// The `commit` subcommand: folds a writable qcow2 overlay back into a thin snapshot.
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "hexz/commit.hpp"
#include "hexz/error.hpp"
#include "interrupt.hpp"
#include "pack_report.hpp"
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
};

/// Runs `commit` for `args`; returns the exit status.
int run_commit(const CommitArgs& args) {
  PackOptions options;
  options.output_path = args.output;
  options.base_path = args.base;
  options.base_dirs = args.base_dirs;
  options.codec = to_codec(args.compression);
  options.level = args.level;
  options.threads = args.threads;
  options.force = args.force;
  InterruptGuard guard;
  ProgressBar bar("committing", progress_wanted(args.quiet));
  const PackResult result =
      commit_overlay(args.overlay, options, [&bar](uint64_t done, uint64_t total) {
        throw_if_interrupted();
        bar.update(done, total);
      });
  bar.clear();
  if (!args.quiet) print_pack_report(result, {"committed", args.output, false});
  return kExitOk;
}

}  // namespace

void add_commit_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<CommitArgs>();
  CLI::App* sub = add_command(
      parent, "commit", "Fold a writable qcow2 overlay over a snapshot into a new thin snapshot",
      selected, [args] { return run_commit(*args); });
  sub->add_option("OVERLAY", args->overlay,
                  "The overlay image (qcow2) whose backing file is the base's export")
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
  sub->add_option("--compression", args->compression, "Block compression codec")
      ->type_name("lz4|zstd")
      ->check(codec_validator())
      ->capture_default_str();
  sub->add_option("--level", args->level,
                  "Compression level: zstd 1..22 (default 3), lz4 1..12; 0 = the codec's default")
      ->type_name("N")
      ->check(int_range(0, 22))
      ->capture_default_str();
  add_threads_option(
      sub, args->threads,
      "Worker threads for hashing and compression; 0 = all cores (output identical)");
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
      "hexz commit overlay.qcow2 --base BASE.hxz -o NEW.hxz.");
}

}  // namespace hexz::cli
