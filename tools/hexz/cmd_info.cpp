// The `info` subcommand: header facts and per-stream statistics, as text or JSON.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "json_writer.hpp"
#include "password.hpp"
#include "trace_report.hpp"

namespace hexz::cli {
namespace {

/// Number of buckets of SnapshotInfo::chunk_histogram.
constexpr int kHistogramBuckets =
    static_cast<int>(sizeof(SnapshotInfo::chunk_histogram) / sizeof(uint64_t));

/// Command-line values of `info`.
struct InfoArgs {
  std::string snapshot;
  bool json = false;
  bool header_only = false;
  AccessArgs access;
};

/// "1.0" for format version 1.0.
std::string version_text(const SnapshotInfo& info) {
  return std::to_string(info.version_major) + "." + std::to_string(info.version_minor);
}

/// "12.0 MiB (12582912 bytes)": a human size followed by the exact count.
std::string bytes_text(uint64_t bytes) {
  return format_bytes(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

/// "fixed" or "fastcdc-v1".
const char* chunking_name(const SnapshotInfo& info) {
  return info.cdc ? "fastcdc-v1" : "fixed";
}

/// A power of two as a short label: "512", "4K", "1M", "2G".
std::string power_label(int exponent) {
  static const char* const kSuffixes[] = {"", "K", "M", "G"};
  int unit = std::min(exponent / 10, 3);
  return std::to_string(uint64_t{1} << (exponent - 10 * unit)) + kSuffixes[unit];
}

/// logical/stored as a JSON number rounded to four decimals, or null when stored is 0 (no finite
/// ratio).
void json_ratio(JsonWriter& json, uint64_t logical, uint64_t stored) {
  if (stored == 0) {
    json.null();
  } else {
    double ratio = static_cast<double>(logical) / static_cast<double>(stored);
    json.value(std::round(ratio * 1e4) / 1e4);  // Four decimals are plenty for a ratio.
  }
}

/// Renders `info` as the JSON object documented in docs/cli-json.md.
std::string info_json(const SnapshotInfo& info, const std::optional<TraceSummary>& trace) {
  JsonWriter json;
  json.begin_object();
  json.key("format_version").value(version_text(info));
  json.key("header_only").value(info.header_only);
  json.key("codec").value(codec_name(info.codec));
  json.key("level").value(info.level);
  json.key("chunking").value(chunking_name(info));
  json.key("chunk_size").value(uint64_t{info.chunk_size});
  if (info.cdc) {
    json.key("min_chunk").value(uint64_t{info.min_chunk});
    json.key("avg_chunk").value(uint64_t{info.chunk_size});
    json.key("max_chunk").value(uint64_t{info.max_chunk});
  }
  json.key("block_size").value(uint64_t{info.block_size});
  json.key("file_size").value(info.file_size);
  json.key("index_bytes").value(info.index_bytes);
  json.key("dictionary_bytes").value(info.dictionary_bytes);
  json.key("encrypted").value(info.encrypted);
  json.key("kdf");
  if (info.encrypted) {
    json.begin_object();
    json.key("algorithm").value("argon2id");
    json.key("iterations").value(uint64_t{info.kdf_iterations});
    json.key("memory_kib").value(uint64_t{info.kdf_memory_kib});
    json.key("parallelism").value(uint64_t{info.kdf_parallelism});
    json.end_object();
  } else {
    json.null();
  }
  json.key("identity").value(info.identity_hex);
  json.key("streams").begin_object();
  for (int i = 0; i < kStreamCount; ++i) {
    const StreamStats& s = info.streams[i];
    if (!s.present) continue;
    json.key(stream_name(static_cast<Stream>(i))).begin_object();
    json.key("logical_size").value(s.logical_size);
    if (info.header_only && info.encrypted) {  // the counters are in the encrypted index
      for (const char* k : {"chunks", "zero_chunks", "duplicate_chunks", "stored_blocks",
                            "stored_bytes", "ratio"}) {
        json.key(k).null();
      }
      json.end_object();
      continue;
    }
    json.key("chunks").value(s.chunks);
    json.key("zero_chunks").value(s.zero_chunks);
    json.key("duplicate_chunks").value(s.dup_chunks);
    json.key("stored_blocks").value(s.blocks);
    json.key("stored_bytes").value(s.stored_bytes);
    json.key("ratio");
    json_ratio(json, s.logical_size, s.stored_bytes);
    json.end_object();
  }
  json.end_object();
  json.key("chunk_histogram").begin_array();
  for (int k = 0; k < kHistogramBuckets; ++k) {
    if (info.chunk_histogram[k] == 0) continue;
    json.begin_object();
    json.key("min_length").value(uint64_t{1} << k);
    json.key("max_length").value((uint64_t{2} << k) - 1);
    json.key("chunks").value(info.chunk_histogram[k]);
    json.end_object();
  }
  json.end_array();
  json.key("bases").begin_array();
  for (const BaseInfo& base : info.bases) {
    json.begin_object();
    json.key("name").value(base.name);
    json.key("path");
    if (base.path.empty()) {
      json.null();
    } else {
      json.value(base.path);
    }
    json.key("identity").value(base.identity_hex);
    json.key("bytes_referenced").begin_object();
    for (int i = 0; i < kStreamCount; ++i) {
      if (!info.streams[i].present) continue;
      json.key(stream_name(static_cast<Stream>(i))).value(base.bytes_referenced[i]);
    }
    json.end_object();
    json.end_object();
  }
  json.end_array();
  json.key("attachments").begin_array();
  for (const AttachmentInfo& a : info.attachments) {
    json.begin_object();
    json.key("name").value(a.name);
    json.key("size").value(a.size);
    json.key("stored_size").value(a.stored_size);
    json.end_object();
  }
  json.end_array();
  json.key("trace");
  if (trace) {
    write_trace_summary(json, *trace);
  } else {
    json.null();
  }
  json.end_object();
  return json.str();
}

/// Renders `info` as aligned human-readable text.
std::string info_text(const std::string& path, const SnapshotInfo& info,
                      const std::optional<TraceSummary>& trace) {
  std::string out;
  auto line = [&out](const std::string& indent, const std::string& name, const std::string& v) {
    std::string label = indent + name + ":";
    if (label.size() < 20) label.resize(20, ' ');
    out += label + " " + v + "\n";
  };
  line("", "snapshot", path);
  line("", "format version", version_text(info));
  std::string codec = codec_name(info.codec);
  if (info.codec != Codec::kNone) {
    codec += info.level == 0 ? " (default level)" : " (level " + std::to_string(info.level) + ")";
  }
  line("", "codec", codec);
  line("", "chunking", chunking_name(info));
  if (info.cdc) {
    line("", "min chunk", bytes_text(info.min_chunk));
    line("", "avg chunk", bytes_text(info.chunk_size));
    line("", "max chunk", bytes_text(info.max_chunk));
  } else {
    line("", "chunk size", bytes_text(info.chunk_size));
  }
  line("", "block size", bytes_text(info.block_size));
  line("", "file size", bytes_text(info.file_size));
  if (info.header_only) {
    line("", "index", std::to_string(info.index_pages) + " pages (not read)");
  } else {
    line("", "index size", bytes_text(info.index_bytes));
  }
  line("", "dictionary",
       info.dictionary_bytes == 0 ? std::string("none") : bytes_text(info.dictionary_bytes));
  if (info.encrypted) {
    line("", "encryption",
         "AES-256-GCM, Argon2id key (" + std::to_string(info.kdf_iterations) + " iterations, " +
             std::to_string(info.kdf_memory_kib) + " KiB memory, " +
             std::to_string(info.kdf_parallelism) + " lanes)");
  } else {
    line("", "encryption", "none");
  }
  line("", "identity", info.identity_hex);
  for (int i = 0; i < kStreamCount; ++i) {
    const StreamStats& s = info.streams[i];
    if (!s.present) continue;
    out += std::string("stream ") + stream_name(static_cast<Stream>(i)) + ":\n";
    line("  ", "logical size", bytes_text(s.logical_size));
    if (info.header_only && info.encrypted) {
      line("  ", "statistics", "in the encrypted index (give the password)");
      continue;
    }
    line("  ", "chunks", std::to_string(s.chunks));
    line("  ", "zero chunks", std::to_string(s.zero_chunks));
    line("  ", "duplicate chunks", std::to_string(s.dup_chunks));
    line("  ", "stored blocks", std::to_string(s.blocks));
    line("  ", "stored bytes", bytes_text(s.stored_bytes));
    line("  ", "ratio", format_ratio(s.logical_size, s.stored_bytes));
  }
  bool any_chunks = false;
  for (uint64_t count : info.chunk_histogram) any_chunks |= count != 0;
  if (any_chunks) {
    out += "chunk sizes:\n";
    for (int k = 0; k < kHistogramBuckets; ++k) {
      if (info.chunk_histogram[k] == 0) continue;
      line("  ", power_label(k) + "-" + power_label(k + 1),
           std::to_string(info.chunk_histogram[k]));
    }
  }
  if (!info.attachments.empty()) {
    out += "attachments:\n";
    for (const AttachmentInfo& a : info.attachments) {
      line("  ", a.name, bytes_text(a.size) + " (" + bytes_text(a.stored_size) + " stored)");
    }
  }
  if (trace) line("", "boot trace", trace_summary_line(*trace));
  for (size_t b = 0; b < info.bases.size(); ++b) {
    const BaseInfo& base = info.bases[b];
    out += "base " + std::to_string(b + 1) + ":\n";
    line("  ", "name", base.name);
    line("  ", "path", base.path.empty() ? std::string("(not opened)") : base.path);
    line("  ", "identity", base.identity_hex);
    for (int i = 0; i < kStreamCount; ++i) {
      if (!info.streams[i].present) continue;
      line("  ", std::string(stream_name(static_cast<Stream>(i))) + " referenced",
           bytes_text(base.bytes_referenced[i]));
    }
  }
  return out;
}

/// Runs `info` for `args`; returns the exit status.
int run_info(const InfoArgs& args) {
  OpenOptions remote;
  remote.endpoint = args.access.remote.endpoint;
  remote.cache_dir = args.access.remote.cache_dir;
  SnapshotInfo info;
  std::optional<TraceSummary> trace;
  if (args.header_only) {
    info = Snapshot::peek(args.snapshot, remote);
  } else {
    SnapshotOpener opener(args.access);
    try {
      OpenOptions options;
      options.prefetch = false;
      const auto snapshot = opener.open(args.snapshot, options);
      info = snapshot->info();
      try {
        trace = stored_trace_summary(*snapshot);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kCorrupt && e.code() != ErrorCode::kUnsupported) throw;
        std::fprintf(stderr, "hexz: warning: %s (it is not replayed)\n", e.what());
      }
    } catch (const Error& e) {
      // Encrypted, and no password to be had (none supplied, no terminal to ask on): show what
      // the clear header says instead of nothing.
      const bool no_password = std::string_view(e.what()) == kPasswordNeededMessage ||
                               (e.code() == ErrorCode::kWrongPassword && !opener.password_given());
      if (!no_password) throw;
      info = Snapshot::peek(args.snapshot, remote);
      if (!info.encrypted) throw;
      std::fprintf(stderr,
                   "hexz: note: '%s' is encrypted; without its password only the header is "
                   "shown\n",
                   args.snapshot.c_str());
    }
  }
  std::cout << (args.json ? info_json(info, trace) : info_text(args.snapshot, info, trace));
  if (!std::cout.flush()) throw Error(ErrorCode::kIo, "cannot write to standard output");
  return kExitOk;
}

}  // namespace

void add_info_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* sub = add_command(parent, "info", "Show a snapshot's format, settings and statistics",
                              selected, [args] { return run_info(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file (.hxz)")->type_name("")->required();
  sub->add_flag("--json", args->json,
                "Print one JSON object instead of text (see docs/cli-json.md)");
  sub->add_flag("--header-only", args->header_only,
                "Show only what the header says: no password, no index read (an encrypted "
                "snapshot without a password shows this too)");
  add_access_options(sub, args->access);
  sub->footer(kAccessFooter);
}

}  // namespace hexz::cli
