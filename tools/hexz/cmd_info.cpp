// The `info` subcommand: header facts and per-stream statistics, as text or JSON.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "json_writer.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `info`.
struct InfoArgs {
  std::string snapshot;
  bool json = false;
};

/// "1.0" for format version 1.0.
std::string version_text(const SnapshotInfo& info) {
  return std::to_string(info.version_major) + "." + std::to_string(info.version_minor);
}

/// "12.0 MiB (12582912 bytes)": a human size followed by the exact count.
std::string bytes_text(uint64_t bytes) {
  return format_bytes(bytes) + " (" + std::to_string(bytes) + " bytes)";
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
std::string info_json(const SnapshotInfo& info) {
  JsonWriter json;
  json.begin_object();
  json.key("format_version").value(version_text(info));
  json.key("codec").value(codec_name(info.codec));
  json.key("level").value(info.level);
  json.key("chunk_size").value(uint64_t{info.chunk_size});
  json.key("block_size").value(uint64_t{info.block_size});
  json.key("file_size").value(info.file_size);
  json.key("index_bytes").value(info.index_bytes);
  json.key("identity").value(info.identity_hex);
  json.key("streams").begin_object();
  for (int i = 0; i < kStreamCount; ++i) {
    const StreamStats& s = info.streams[i];
    if (!s.present) continue;
    json.key(stream_name(static_cast<Stream>(i))).begin_object();
    json.key("logical_size").value(s.logical_size);
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
  json.end_object();
  return json.str();
}

/// Renders `info` as aligned human-readable text.
std::string info_text(const std::string& path, const SnapshotInfo& info) {
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
  line("", "chunk size", bytes_text(info.chunk_size));
  line("", "block size", bytes_text(info.block_size));
  line("", "file size", bytes_text(info.file_size));
  line("", "index size", bytes_text(info.index_bytes));
  line("", "identity", info.identity_hex);
  for (int i = 0; i < kStreamCount; ++i) {
    const StreamStats& s = info.streams[i];
    if (!s.present) continue;
    out += std::string("stream ") + stream_name(static_cast<Stream>(i)) + ":\n";
    line("  ", "logical size", bytes_text(s.logical_size));
    line("  ", "chunks", std::to_string(s.chunks));
    line("  ", "zero chunks", std::to_string(s.zero_chunks));
    line("  ", "duplicate chunks", std::to_string(s.dup_chunks));
    line("  ", "stored blocks", std::to_string(s.blocks));
    line("  ", "stored bytes", bytes_text(s.stored_bytes));
    line("  ", "ratio", format_ratio(s.logical_size, s.stored_bytes));
  }
  return out;
}

/// Runs `info` for `args`; returns the exit status.
int run_info(const InfoArgs& args) {
  std::unique_ptr<Snapshot> snapshot = Snapshot::open(args.snapshot);
  SnapshotInfo info = snapshot->info();
  std::cout << (args.json ? info_json(info) : info_text(args.snapshot, info));
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
}

}  // namespace hexz::cli
