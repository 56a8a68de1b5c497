// Helpers shared by the hexz subcommands: exit codes, option validators and error reporting.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "hexz/types.hpp"

namespace hexz::cli {

/// Process exit status for success.
inline constexpr int kExitOk = 0;
/// Process exit status for a failed command (any hexz::Error or other runtime failure).
inline constexpr int kExitError = 1;
/// Process exit status for a command line that could not be parsed or validated: malformed and
/// out-of-range values alike, for every command.
inline constexpr int kExitUsage = 2;
/// `diff`: the snapshots differ (as cmp, diff and qemu-img compare report it).
inline constexpr int kExitDifferent = 1;
/// `diff`: an error (a snapshot cannot be opened or read); 1 is taken by kExitDifferent.
inline constexpr int kExitDiffTrouble = 3;
/// `verify`: the snapshot is damaged (bytes were read but are wrong).
inline constexpr int kExitCorrupt = 3;
/// `verify`: parts of the snapshot could not be read (I/O error, network, missing base), and
/// nothing read was wrong.
inline constexpr int kExitUnreadable = 4;

/// The action a parsed subcommand runs; returns the process exit status. May throw; the caller
/// (main) turns exceptions into a one-line error message.
using CommandFn = std::function<int()>;

/// Adds a subcommand to `parent` whose CLI11 callback stores `fn` in `*selected`, so main can run
/// it outside of CLI11's parse (and its exception handling). Returns the new subcommand.
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description,
                      CommandFn* selected, CommandFn fn);

/// A CLI11 transform that accepts sizes such as "4096", "64K", "16M" or "1GiB" (via
/// hexz::parse_size), rejects values above `max`, and rewrites the option text to the plain
/// decimal byte count so the option can be bound to an unsigned integer.
CLI::Validator size_transform(uint64_t max = UINT64_MAX);

/// A CLI11 validator accepting exactly the stream names hexz::parse_stream knows.
CLI::Validator stream_validator();

/// A CLI11 validator accepting the compression codec names the pack command offers.
CLI::Validator codec_validator();

/// Parses a stream name already checked by stream_validator(). Throws CLI::ValidationError
/// (a usage error) if it is not a stream name after all.
Stream to_stream(std::string_view name);

/// Parses a codec name already checked by codec_validator(). Throws CLI::ValidationError
/// (a usage error) if it is not a codec name after all.
Codec to_codec(std::string_view name);

/// The help formatter of every hexz command: options show their value name only (no CLI11
/// type or range annotations, no "Needs:"/"Excludes:" lists), and defaults of SIZE options as
/// sizes such as 64M instead of byte counts.
std::shared_ptr<CLI::Formatter> make_help_formatter();

/// Formats a byte count as the shortest exact size text parse_size() accepts: "64M", "4K",
/// "1000" (a count that is not a whole number of KiB stays a plain number).
std::string size_text(uint64_t bytes);

/// Throws a usage error if `name` is reserved for hexz's own attachments (it starts with
/// "hexz.", such as the boot trace hexz.trace, which `hexz trace add` checks and stores).
void check_user_attachment_name(const std::string& name);

/// Command-line values of the boot-trace options of the serving commands (mount, serve-memory).
struct TraceArgs {
  std::string record_trace;  ///< --record-trace FILE
  bool no_prefetch = false;  ///< --no-prefetch
  std::string stats_file;    ///< --stats-file FILE
};

/// Adds --record-trace FILE, --no-prefetch and --stats-file FILE to `sub`, bound to `args`;
/// `reads` names what needs the blocks ("reads", "faults") and `when` when the files are
/// written ("when the mount ends").
void add_trace_options(CLI::App* sub, TraceArgs& args, const std::string& reads,
                       const std::string& when);

/// Adds --compression lz4|zstd and --level N (0 = the codec's default), bound to `codec` and
/// `level`, to `sub`: pack and commit share them.
void add_compression_options(CLI::App* sub, std::string& codec, int& level);

/// Throws a usage error unless `level` is 0 or a level of `codec` ("lz4": 1..12, "zstd": 1..22).
void check_compression_level(const std::string& codec, int level);

/// Throws CLI::ValidationError (a usage error, exit status 2) with `message`.
[[noreturn]] void usage_error(const std::string& message);

/// Adds `--threads N` (0..1024, default 0) to `sub`, bound to `threads`, with help `text`.
void add_threads_option(CLI::App* sub, unsigned& threads, const std::string& text);

/// A CLI11 validator accepting integers from `lo` to `hi`; the message names the range.
CLI::Validator int_range(long long lo, long long hi);

/// Prints `hexz: error: <message>` as a single line on stderr (embedded line breaks become
/// spaces).
void print_error(std::string_view message);

/// Formats `numerator / denominator` as a ratio with two decimals, "inf" when only the
/// denominator is 0, and "n/a" when both are 0.
std::string format_ratio(uint64_t numerator, uint64_t denominator);

/// Formats a duration in seconds for humans: "0.42 s", "3.1 s", "2 min 05 s", "1 h 02 min".
std::string format_seconds(double seconds);

/// True when a progress bar should be drawn: stderr is a terminal and `quiet` is false.
bool progress_wanted(bool quiet);

/// Command-line values that say how remote snapshots (http(s)://, s3://) are reached.
struct RemoteArgs {
  std::string endpoint;        ///< --endpoint (empty: AWS_ENDPOINT_URL, else AWS)
  std::string cache_dir;       ///< --cache-dir (empty: HEXZ_CACHE_DIR, else no disk cache)
  std::string cache_dir_size;  ///< --cache-dir-size as a byte count (empty: not given)
  /// --kdf-max-memory as a byte count and --kdf-max-iterations (empty: not given): the reader's
  /// cap on the key derivation cost of an encrypted snapshot.
  std::string kdf_max_memory;
  std::string kdf_max_iterations;
};

/// Adds `--endpoint URL` to `sub`, bound to `endpoint`.
void add_endpoint_option(CLI::App* sub, std::string& endpoint);

/// Adds the options of remote reading to `sub`, bound to `args`: --endpoint, --cache-dir,
/// --cache-dir-size, and the key derivation caps --kdf-max-memory and --kdf-max-iterations.
void add_remote_options(CLI::App* sub, RemoteArgs& args);

/// Makes the settings of `args` that the library takes from the environment take effect:
/// --cache-dir-size sets HEXZ_CACHE_DIR_BYTES, --kdf-max-memory HEXZ_KDF_MAX_MEMORY and
/// --kdf-max-iterations HEXZ_KDF_MAX_ITERATIONS for this process. Call before opening snapshots
/// (and before starting threads).
void apply_remote_args(const RemoteArgs& args);

}  // namespace hexz::cli
