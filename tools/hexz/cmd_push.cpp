// The `push` subcommand: uploads a snapshot to S3 with a multipart upload.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/remote.hpp"
#include "interrupt.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `push`.
struct PushArgs {
  std::string snapshot;
  std::string destination;
  std::string endpoint;
  uint64_t part_size = 16ull << 20;
  unsigned jobs = 4;
  bool quiet = false;
};

int run_push(const PushArgs& args) {
  InterruptGuard guard;
  PushOptions options;
  options.endpoint = args.endpoint;
  options.part_size = args.part_size;
  options.threads = args.jobs;
  ProgressBar bar("uploading", progress_wanted(args.quiet));
  const PushResult result =
      push(args.snapshot, args.destination, options, [&bar](uint64_t done, uint64_t total) {
        throw_if_interrupted();
        bar.update(done, total);
      });
  bar.clear();
  if (!args.quiet) {
    std::printf("pushed %s to %s: %llu bytes in %llu parts, ETag %s, identity %s checked\n",
                args.snapshot.c_str(), args.destination.c_str(),
                static_cast<unsigned long long>(result.bytes),
                static_cast<unsigned long long>(result.parts), result.etag.c_str(),
                result.identity_hex.substr(0, 16).c_str());
  }
  return kExitOk;
}

}  // namespace

void add_push_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<PushArgs>();
  CLI::App* sub =
      add_command(parent, "push", "Upload a snapshot to S3 (multipart, parts in parallel)",
                  selected, [args] { return run_push(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file (.hxz)")->type_name("")->required();
  sub->add_option("DEST", args->destination, "Destination s3://bucket/key")
      ->type_name("")
      ->required();
  sub->add_option("--endpoint", args->endpoint,
                  "S3 endpoint URL (default: AWS_ENDPOINT_URL, else AWS for AWS_REGION)")
      ->type_name("URL");
  sub->add_option("--part-size", args->part_size, "Multipart part size (5M .. 5G)")
      ->type_name("SIZE")
      ->transform(size_transform(5ull << 30))
      ->default_str("16M");
  sub->add_option("-j,--jobs", args->jobs, "Parts uploaded in parallel")
      ->type_name("N")
      ->check(CLI::Range(1u, 64u))
      ->default_str("4");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar and no summary line");
  sub->footer(
      "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; region: "
      "AWS_REGION.\nAfter the upload the object's size, multipart ETag, header and master index "
      "are checked.");
}

}  // namespace hexz::cli
