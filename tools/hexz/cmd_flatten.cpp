// The `flatten` subcommand: turns a thin snapshot into a standalone one.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "extract_output.hpp"
#include "hexz/error.hpp"
#include "hexz/flatten.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "pack_report.hpp"
#include "password.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `flatten`.
struct FlattenArgs {
  std::string snapshot;
  std::string output;
  unsigned threads = 0;
  bool force = false;
  bool quiet = false;
  AccessArgs access;
};

/// Runs `flatten` for `args`; returns the exit status.
int run_flatten(const FlattenArgs& args) {
  InterruptGuard guard;
  SnapshotOpener opener(args.access);
  // Opened here for its settings (and to ask for a password only once); flatten() opens it again
  // with the same options.
  SnapshotInfo info = opener.open(args.snapshot)->info();
  OpenOptions open_options = opener.last_options();
  // The output must not be one of the bases being read (replacing it would break every other
  // snapshot on it); flatten() itself refuses the snapshot.
  const std::vector<FileId> out_id = file_id_of(args.output);
  for (const BaseInfo& base : info.bases) {
    if (base.path.empty() || base.path.find("://") != std::string::npos) continue;
    if (!out_id.empty() && file_id_of(base.path) == out_id) {
      throw Error(
          ErrorCode::kInvalidArgument,
          "output '" + args.output + "' is the same file as the base snapshot '" + base.path + "'");
    }
  }
  PackOptions options = options_like(info);
  options.output_path = args.output;
  options.force = args.force;
  options.threads = args.threads;
  // An encrypted snapshot stays encrypted, under the same password.
  options.encrypt = info.encrypted;
  if (info.encrypted) options.password = open_options.password;
  throw_if_interrupted();

  ProgressBar bar("flattening", progress_wanted(args.quiet));
  PackResult result;
  try {
    result = flatten(args.snapshot, options, open_options, [&bar](uint64_t done, uint64_t total) {
      throw_if_interrupted();
      bar.update(done, total);
    });
  } catch (...) {
    wipe(options.password);
    wipe(open_options.password);
    throw;
  }
  wipe(options.password);
  wipe(open_options.password);
  bar.clear();
  if (!args.quiet) print_pack_report(result, {"flattened", args.output, info.encrypted});
  return kExitOk;
}

}  // namespace

void add_flatten_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<FlattenArgs>();
  CLI::App* sub = add_command(parent, "flatten",
                              "Write a standalone copy of a (thin) snapshot that needs no bases",
                              selected, [args] { return run_flatten(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file to flatten (.hxz)")
      ->type_name("")
      ->required();
  sub->add_option("-o,--output", args->output, "Standalone snapshot to write (.hxz)")
      ->type_name("OUT.hxz")
      ->required();
  add_threads_option(
      sub, args->threads,
      "Worker threads for hashing and compression; 0 = all cores (output identical)");
  sub->add_flag("-f,--force", args->force, "Overwrite OUT.hxz if it exists");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar and no summary line");
  add_access_options(sub, args->access);
  sub->parse_complete_callback([args] {
    if (args->output == "-") {
      usage_error("-o -: a snapshot cannot be written to standard output; name a file");
    }
  });
  sub->footer(
      std::string("OUT.hxz gets the codec, level, chunking, block size and dictionary use of SNAP; "
                  "an encrypted\nsnapshot stays encrypted under the same password.\n") +
      kAccessFooter);
}

}  // namespace hexz::cli
