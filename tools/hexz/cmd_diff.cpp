// The `diff` subcommand: which byte ranges of each stream differ between two snapshots.
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/diff.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "json_writer.hpp"
#include "password.hpp"

namespace hexz::cli {
namespace {

/// Ranges listed per stream by the text output; --json lists all.
constexpr size_t kMaxTextRanges = 20;

/// Command-line values of `diff`.
struct DiffArgs {
  std::string a;
  std::string b;
  bool json = false;
  AccessArgs access;
};

/// True if the stream is in both snapshots or in neither, with the same bytes.
bool stream_identical(const StreamDiff& d) {
  return d.in_a == d.in_b && d.ranges.empty();
}

/// True if every stream is identical.
bool identical(const DiffResult& result) {
  for (const StreamDiff& d : result.streams) {
    if (!stream_identical(d)) return false;
  }
  return true;
}

/// "12.0 MiB (12582912 bytes)": a human size followed by the exact count.
std::string bytes_text(uint64_t bytes) {
  return format_bytes(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

/// Renders `result` as the JSON object documented in docs/cli-json.md.
std::string diff_json(const DiffArgs& args, const DiffResult& result) {
  JsonWriter json;
  json.begin_object();
  json.key("a").value(args.a);
  json.key("b").value(args.b);
  json.key("identical").value(identical(result));
  json.key("compared_by").value(result.from_index ? "index" : "data");
  json.key("streams").begin_object();
  for (int i = 0; i < kStreamCount; ++i) {
    const StreamDiff& d = result.streams[i];
    if (!d.in_a && !d.in_b) continue;
    json.key(stream_name(static_cast<Stream>(i))).begin_object();
    json.key("identical").value(stream_identical(d));
    json.key("in_a").value(d.in_a);
    json.key("in_b").value(d.in_b);
    json.key("size_a").value(d.size_a);
    json.key("size_b").value(d.size_b);
    json.key("stored_bytes_a").value(d.stored_bytes_a);
    json.key("stored_bytes_b").value(d.stored_bytes_b);
    json.key("differing_bytes").value(d.differing_bytes);
    json.key("range_count").value(uint64_t{d.ranges.size()});
    json.key("ranges").begin_array();
    for (const ByteRange& r : d.ranges) {
      json.begin_object();
      json.key("offset").value(r.offset);
      json.key("length").value(r.length);
      json.end_object();
    }
    json.end_array();
    json.end_object();
  }
  json.end_object();
  json.end_object();
  return json.str();
}

/// Renders `result` as aligned human-readable text.
std::string diff_text(const DiffArgs& args, const DiffResult& result) {
  std::string out;
  auto line = [&out](const std::string& indent, const std::string& name, const std::string& v) {
    std::string label = indent + name + ":";
    if (label.size() < 20) label.resize(20, ' ');
    out += label + " " + v + "\n";
  };
  line("", "a", args.a);
  line("", "b", args.b);
  line("", "compared by",
       result.from_index ? "index (ranges are whole chunks)" : "data (ranges are exact)");
  line("", "identical", identical(result) ? "yes" : "no");
  for (int i = 0; i < kStreamCount; ++i) {
    const StreamDiff& d = result.streams[i];
    if (!d.in_a && !d.in_b) continue;
    out += std::string("stream ") + stream_name(static_cast<Stream>(i)) + ":\n";
    line("  ", "size in a", d.in_a ? bytes_text(d.size_a) : std::string("absent"));
    line("  ", "size in b", d.in_b ? bytes_text(d.size_b) : std::string("absent"));
    line("  ", "stored in a", bytes_text(d.stored_bytes_a));
    line("  ", "stored in b", bytes_text(d.stored_bytes_b));
    line("  ", "identical", stream_identical(d) ? "yes" : "no");
    line("  ", "differing ranges", std::to_string(d.ranges.size()));
    line("  ", "differing bytes", bytes_text(d.differing_bytes));
    size_t shown = 0;
    for (const ByteRange& r : d.ranges) {
      if (shown == kMaxTextRanges) break;
      out += "    offset " + std::to_string(r.offset) + ", length " + std::to_string(r.length) +
             " (" + format_bytes(r.length) + ")\n";
      ++shown;
    }
    if (shown < d.ranges.size()) {
      out += "    \u2026 " + std::to_string(d.ranges.size() - shown) + " more (--json lists all)\n";
    }
  }
  return out;
}

/// Runs `diff` for `args`; returns the exit status: 0 identical, 1 different (as cmp does).
int compare(const DiffArgs& args) {
  SnapshotOpener opener(args.access);
  std::unique_ptr<Snapshot> a = opener.open(args.a);
  std::unique_ptr<Snapshot> b = opener.open(args.b);
  DiffResult result = diff(*a, *b);
  std::cout << (args.json ? diff_json(args, result) : diff_text(args, result));
  if (!std::cout.flush()) throw Error(ErrorCode::kIo, "cannot write to standard output");
  return identical(result) ? kExitOk : kExitDifferent;
}

/// Runs `diff` for `args`: compare(), with every error reported here and mapped to
/// kExitDiffTrouble, because exit status 1 means "the snapshots differ".
int run_diff(const DiffArgs& args) {
  try {
    return compare(args);
  } catch (const CLI::ParseError&) {
    throw;  // A usage error: main reports it with status 2.
  } catch (const std::exception& e) {
    print_error(e.what());
  }
  return kExitDiffTrouble;
}

}  // namespace

void add_diff_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<DiffArgs>();
  CLI::App* sub = add_command(parent, "diff", "Show which byte ranges differ between two snapshots",
                              selected, [args] { return run_diff(*args); });
  sub->add_option("A", args->a, "First snapshot (.hxz)")->type_name("")->required();
  sub->add_option("B", args->b, "Second snapshot (.hxz)")->type_name("")->required();
  sub->add_flag("--json", args->json,
                "Print one JSON object with every range instead of text (see docs/cli-json.md)");
  add_access_options(sub, args->access);
  sub->footer(
      std::string("Exit status: 0 the snapshots are identical, 1 they differ, 2 usage error, "
                  "3 an\nerror (cannot open or read a snapshot), like cmp and qemu-img "
                  "compare.\nWhen both sides chunk alike and neither is encrypted only the "
                  "indexes are read and the\nranges are whole chunks; otherwise the data is read "
                  "and compared byte by byte.\n") +
      kAccessFooter);
}

}  // namespace hexz::cli
