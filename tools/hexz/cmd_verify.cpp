// The `verify` subcommand: checks every checksum and digest in a snapshot.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "password.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `verify`.
struct VerifyArgs {
  std::string snapshot;
  bool quiet = false;
  AccessArgs access;
};

/// Runs `verify` for `args`; returns 0 if the snapshot is intact, 1 otherwise.
int run_verify(const VerifyArgs& args) {
  InterruptGuard guard;
  SnapshotOpener opener(args.access);
  std::unique_ptr<Snapshot> snapshot = opener.open(args.snapshot);
  ProgressBar bar("verifying", progress_wanted(args.quiet));
  VerifyReport report = snapshot->verify([&bar](uint64_t done, uint64_t total) {
    throw_if_interrupted();
    bar.update(done, total);
  });
  bar.clear();
  // Snapshot::verify() reports an exception thrown by the callback as a verification failure
  // instead of propagating it, so check for an interrupt explicitly.
  throw_if_interrupted();
  if (!report.ok) {
    std::string message = report.first_error.empty() ? "verification failed" : report.first_error;
    for (char& c : message) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return kExitError;
  }
  if (!args.quiet) {
    std::printf("OK: %llu blocks, %llu chunks verified\n",
                static_cast<unsigned long long>(report.blocks_checked),
                static_cast<unsigned long long>(report.chunks_checked));
  }
  return kExitOk;
}

}  // namespace

void add_verify_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<VerifyArgs>();
  CLI::App* sub = add_command(parent, "verify", "Check every checksum and digest in a snapshot",
                              selected, [args] { return run_verify(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file (.hxz)")->type_name("")->required();
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar and no OK line (only errors)");
  add_access_options(sub, args->access);
  sub->footer(std::string("Exit status: 0 if the snapshot is intact, 1 if not.\n") + kAccessFooter);
}

}  // namespace hexz::cli
