// The `pack` subcommand (also reachable as `data pack`).
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/pack.hpp"
#include "interrupt.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `pack`.
struct PackArgs {
  std::string disk;
  std::string memory;
  std::string output;
  std::string compression = "lz4";
  int level = 0;
  uint64_t chunk_size = kDefaultChunkSize;
  uint64_t block_size = kDefaultBlockSize;
  bool force = false;
  bool quiet = false;
};

/// Prints the one-line result summary on stderr.
void print_summary(const PackResult& result, const std::string& output) {
  uint64_t input = 0, dups = 0, zeros = 0;
  for (const StreamStats& s : result.streams) {
    if (!s.present) continue;
    input += s.logical_size;
    dups += s.dup_chunks;
    zeros += s.zero_chunks;
  }
  std::fprintf(stderr,
               "packed %s -> %s (ratio %s) in %s: %llu duplicate chunks, %llu zero chunks -> %s\n",
               format_bytes(input).c_str(), format_bytes(result.file_size).c_str(),
               format_ratio(input, result.file_size).c_str(),
               format_seconds(result.seconds).c_str(), static_cast<unsigned long long>(dups),
               static_cast<unsigned long long>(zeros), output.c_str());
}

/// Runs the pack described by `args`; returns the exit status. Unless quiet, prints the
/// library's warnings and a summary line on stderr.
int run_pack(const PackArgs& args) {
  PackOptions options;
  options.disk_path = args.disk;
  options.memory_path = args.memory;
  options.output_path = args.output;
  options.codec = to_codec(args.compression);
  options.level = args.level;
  // size_transform() capped both at UINT32_MAX; the library checks the real limits.
  options.chunk_size = static_cast<uint32_t>(args.chunk_size);
  options.block_size = static_cast<uint32_t>(args.block_size);
  options.force = args.force;

  InterruptGuard guard;
  ProgressBar bar("packing", progress_wanted(args.quiet));
  PackResult result = pack(options, [&bar](uint64_t done, uint64_t total) {
    throw_if_interrupted();
    bar.update(done, total);
  });
  bar.clear();
  if (!args.quiet) {
    for (const std::string& warning : result.warnings) {
      std::fprintf(stderr, "hexz: warning: %s\n", warning.c_str());
    }
    print_summary(result, args.output);
  }
  return kExitOk;
}

}  // namespace

void add_pack_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<PackArgs>();
  CLI::App* sub = add_command(parent, "pack", "Pack raw disk and/or memory images into a snapshot",
                              selected, [args] { return run_pack(*args); });
  sub->add_option("--disk", args->disk, "Raw disk image to store as the disk stream")
      ->type_name("FILE");
  sub->add_option("--memory", args->memory, "Raw memory image to store as the memory stream")
      ->type_name("FILE");
  sub->add_option("-o,--output", args->output, "Snapshot file to write (.hxz)")
      ->type_name("OUT.hxz")
      ->required();
  sub->add_option("--compression", args->compression, "Block compression codec")
      ->type_name("lz4|zstd")
      ->check(codec_validator())
      ->capture_default_str();
  sub->add_option("--level", args->level,
                  "Compression level; 0 = codec default (zstd 1..22, lz4 >1 = HC)")
      ->type_name("N")
      ->capture_default_str();
  sub->add_option("--chunk-size", args->chunk_size,
                  "Dedup/index unit, a power of two from 512 to 1M")
      ->type_name("SIZE")
      ->transform(size_transform(UINT32_MAX))
      ->capture_default_str();
  sub->add_option("--block-size", args->block_size,
                  "Compression unit, 1K to 16M and at least the chunk size")
      ->type_name("SIZE")
      ->transform(size_transform(UINT32_MAX))
      ->capture_default_str();
  sub->add_flag("-f,--force", args->force, "Overwrite OUT.hxz if it exists");
  sub->add_flag("-q,--quiet", args->quiet, "No progress bar and no summary line");
  sub->footer(
      "At least one of --disk and --memory is required.\n"
      "SIZE accepts a byte count with an optional binary suffix K, M or G, e.g. 64K.");
}

}  // namespace hexz::cli
