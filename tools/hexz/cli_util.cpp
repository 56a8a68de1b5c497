#include "cli_util.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

namespace hexz::cli {

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& description,
                      CommandFn* selected, CommandFn fn) {
  CLI::App* sub = parent.add_subcommand(name, description);
  sub->callback([selected, fn = std::move(fn)] { *selected = fn; });
  return sub;
}

void add_trace_options(CLI::App* sub, TraceArgs& args, const std::string& reads,
                       const std::string& when) {
  sub->add_option("--record-trace", args.record_trace,
                  "Record the order in which " + reads +
                      " first need index pages and blocks; written to FILE " + when +
                      " (store it with `hexz trace add SNAP FILE`)")
      ->type_name("FILE");
  sub->add_flag("--no-prefetch", args.no_prefetch,
                "Do not replay the snapshot's boot trace (by default its blocks are fetched "
                "ahead of the " +
                    reads + " when it has one)");
  sub->add_option("--stats-file", args.stats_file,
                  "Write the reader's statistics (JSON: demand misses, prefetched and never-used "
                  "bytes, requests) to FILE " +
                      when)
      ->type_name("FILE");
}

void add_compression_options(CLI::App* sub, std::string& codec, int& level) {
  sub->add_option("--compression", codec, "Block compression codec")
      ->type_name("lz4|zstd")
      ->check(codec_validator())
      ->capture_default_str();
  sub->add_option("--level", level,
                  "Compression level: zstd 1..22 (default 3), lz4 1..12 (default 1, >1 = HC); "
                  "0 = the codec's default")
      ->type_name("N")
      ->capture_default_str();
}

void check_compression_level(const std::string& codec, int level) {
  const int max_level = codec == "lz4" ? 12 : 22;
  if (level < 0 || level > max_level) {
    usage_error("--level " + std::to_string(level) + " is out of range for " + codec +
                ": use 1 to " + std::to_string(max_level) + " (0 = the codec's default)");
  }
}

void check_user_attachment_name(const std::string& name) {
  if (name.rfind("hexz.", 0) == 0) {
    throw CLI::ValidationError("NAME=FILE",
                               "attachment names starting with 'hexz.' are reserved (" + name +
                                   "); store a boot trace with `hexz trace add`");
  }
}

CLI::Validator size_transform(uint64_t max) {
  auto op = [max](std::string& text) -> std::string {
    std::optional<uint64_t> value = parse_size(text);
    if (!value) {
      return "invalid size '" + text + "' (expected a byte count such as 4096, 64K, 16M or 1G)";
    }
    if (*value > max) {
      return "size '" + text + "' is too large (at most " + std::to_string(max) + " bytes)";
    }
    text = std::to_string(*value);
    return {};
  };
  return CLI::Validator(op, "", "size");
}

CLI::Validator stream_validator() {
  auto op = [](std::string& text) -> std::string {
    if (parse_stream(text)) return {};
    return "unknown stream '" + text + "' (expected disk or memory)";
  };
  return CLI::Validator(op, "", "stream");
}

CLI::Validator codec_validator() {
  auto op = [](std::string& text) -> std::string {
    std::optional<Codec> codec = parse_codec(text);
    if (codec && *codec != Codec::kNone) return {};
    return "unknown compression '" + text + "' (expected lz4 or zstd)";
  };
  return CLI::Validator(op, "", "codec");
}

Stream to_stream(std::string_view name) {
  std::optional<Stream> stream = parse_stream(name);
  if (!stream) throw CLI::ValidationError("--stream", "unknown stream '" + std::string(name) + "'");
  return *stream;
}

Codec to_codec(std::string_view name) {
  std::optional<Codec> codec = parse_codec(name);
  if (!codec) {
    throw CLI::ValidationError("--compression", "unknown compression '" + std::string(name) + "'");
  }
  return *codec;
}

namespace {

/// See make_help_formatter().
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    std::string out;
    if (opt->get_type_size() == 0) return out;  // A flag.
    std::string type = opt->get_type_name();
    // CLI11 appends validator descriptions ("N:UINT in [1 - 64]"); keep the value name only.
    if (size_t colon = type.find(':'); colon != std::string::npos) type.resize(colon);
    if (!type.empty()) out += " " + type;
    std::string def = opt->get_default_str();
    if (!def.empty()) {
      if (type == "SIZE") {
        if (std::optional<uint64_t> bytes = parse_size(def)) def = size_text(*bytes);
      }
      out += "=" + def;
    }
    if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += " ...";
    if (opt->get_required()) out += " REQUIRED";
    return out;
  }
};

}  // namespace

std::shared_ptr<CLI::Formatter> make_help_formatter() {
  auto formatter = std::make_shared<HelpFormatter>();
  formatter->column_width(34);
  return formatter;
}

std::string size_text(uint64_t bytes) {
  static const char* const kSuffixes[] = {"", "K", "M", "G", "T"};
  size_t unit = 0;
  while (unit + 1 < std::size(kSuffixes) && bytes != 0 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kSuffixes[unit];
}

CLI::Validator int_range(long long lo, long long hi) {
  auto op = [lo, hi](std::string& text) -> std::string {
    long long value = 0;
    size_t used = 0;
    try {
      value = std::stoll(text, &used, 10);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != text.size()) return "'" + text + "' is not a whole number";
    if (value < lo || value > hi) {
      return "'" + text + "' is out of range (" + std::to_string(lo) + " to " + std::to_string(hi) +
             ")";
    }
    return {};
  };
  return CLI::Validator(op, "", "range");
}

void add_threads_option(CLI::App* sub, unsigned& threads, const std::string& text) {
  sub->add_option("--threads", threads, text)
      ->type_name("N")
      ->check(int_range(0, 1024))
      ->capture_default_str();
}

void usage_error(const std::string& message) {
  throw CLI::ValidationError(message);
}

void print_error(std::string_view message) {
  std::string line = "hexz: error: ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  std::fflush(stdout);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

std::string format_ratio(uint64_t numerator, uint64_t denominator) {
  if (denominator == 0) return numerator == 0 ? "n/a" : "inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f",
                static_cast<double>(numerator) / static_cast<double>(denominator));
  return buf;
}

std::string format_seconds(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // Also maps NaN to 0.
  if (seconds > 1e9) seconds = 1e9;  // Keeps the integer conversions below defined.
  char buf[48];
  if (seconds < 1) {
    std::snprintf(buf, sizeof buf, "%.2f s", seconds);
  } else if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  } else if (seconds < 3600) {
    auto total = static_cast<uint64_t>(std::llround(seconds));
    std::snprintf(buf, sizeof buf, "%llu min %02llu s", static_cast<unsigned long long>(total / 60),
                  static_cast<unsigned long long>(total % 60));
  } else {
    auto minutes = static_cast<uint64_t>(std::llround(seconds / 60));
    std::snprintf(buf, sizeof buf, "%llu h %02llu min",
                  static_cast<unsigned long long>(minutes / 60),
                  static_cast<unsigned long long>(minutes % 60));
  }
  return buf;
}

bool progress_wanted(bool quiet) {
  return !quiet && isatty(STDERR_FILENO) == 1;
}

void add_endpoint_option(CLI::App* sub, std::string& endpoint) {
  sub->add_option("--endpoint", endpoint,
                  "S3 endpoint URL for s3:// locations (default: AWS_ENDPOINT_URL, else AWS for "
                  "AWS_REGION)")
      ->type_name("URL");
}

void add_remote_options(CLI::App* sub, RemoteArgs& args) {
  add_endpoint_option(sub, args.endpoint);
  sub->add_option("--cache-dir", args.cache_dir,
                  "Keep fetched bytes of remote snapshots in DIR, shared by processes "
                  "(default: HEXZ_CACHE_DIR, else no disk cache)")
      ->type_name("DIR");
  sub->add_option("--cache-dir-size", args.cache_dir_size,
                  "Byte budget of the --cache-dir directory; least recently used pieces are "
                  "removed beyond it (default: HEXZ_CACHE_DIR_BYTES, else 1G; 0 = no limit)")
      ->type_name("SIZE")
      ->transform(size_transform());
  sub->add_option("--kdf-max-memory", args.kdf_max_memory,
                  "Refuse an encrypted snapshot whose key derivation asks for more memory "
                  "(default: HEXZ_KDF_MAX_MEMORY, else 1G)")
      ->type_name("SIZE")
      ->transform(size_transform());
  sub->add_option("--kdf-max-iterations", args.kdf_max_iterations,
                  "Refuse an encrypted snapshot whose key derivation asks for more passes "
                  "(default: HEXZ_KDF_MAX_ITERATIONS, else 16)")
      ->type_name("N")
      ->check(CLI::Range(1, 64));
}

void apply_remote_args(const RemoteArgs& args) {
  if (!args.cache_dir_size.empty())
    ::setenv("HEXZ_CACHE_DIR_BYTES", args.cache_dir_size.c_str(), 1);
  if (!args.kdf_max_memory.empty()) ::setenv("HEXZ_KDF_MAX_MEMORY", args.kdf_max_memory.c_str(), 1);
  if (!args.kdf_max_iterations.empty())
    ::setenv("HEXZ_KDF_MAX_ITERATIONS", args.kdf_max_iterations.c_str(), 1);
}

}  // namespace hexz::cli
