// The `trace` subcommand: show, add or remove a snapshot's boot trace (docs/FORMAT.md section
// 10.7), which serving commands record (--record-trace) and replay as prefetch.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/trace.hpp"
#include "json_writer.hpp"
#include "password.hpp"
#include "trace_report.hpp"

namespace hexz::cli {
namespace {

/// True if the local file at `path` starts with the trace magic.
bool is_trace_file(const std::string& path) {
  if (path.find("://") != std::string::npos) return false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[8] = {};
  const ssize_t n = ::read(fd, magic, sizeof magic);
  ::close(fd);
  return n == 8 && std::memcmp(magic, "HXZTRACE", 8) == 0;
}

struct ShowArgs {
  std::string path;
  bool json = false;
  bool events = false;
  AccessArgs access;
};

int run_show(const ShowArgs& args) {
  std::vector<std::byte> bytes;
  std::string what;
  if (is_trace_file(args.path)) {
    bytes = read_attachment_file(args.path, "trace");
    what = "trace file '" + args.path + "'";
  } else {
    SnapshotOpener opener(args.access);
    OpenOptions options;
    options.threads = 1;
    options.prefetch = false;
    const auto snapshot = opener.open(args.path, options);
    const auto list = snapshot->attachments();
    bool has = false;
    for (const auto& a : list) has |= a.name == kTraceAttachmentName;
    if (!has) {
      throw Error(ErrorCode::kNotFound,
                  "'" + args.path +
                      "' has no boot trace (record one with --record-trace, store it with "
                      "`hexz trace add`)");
    }
    bytes = snapshot->read_attachment(kTraceAttachmentName);
    what = "the boot trace of '" + args.path + "'";
  }
  const Trace trace = decode_trace(bytes, what);
  const TraceSummary s = summarize_trace(trace);
  if (args.json) {
    JsonWriter json;
    json.begin_object();
    json.key("summary");
    write_trace_summary(json, s);
    if (args.events) {
      json.key("events").begin_array();
      for (const TraceEvent& e : trace.events) {
        json.begin_object();
        json.key("time_ms").value(uint64_t{e.time_ms});
        json.key("kind").value(e.kind == TraceEvent::Kind::kIndexPage ? "index_page" : "block");
        json.key("stream").value(stream_name(e.stream));
        json.key("logical_offset").value(e.logical_offset);
        if (e.kind == TraceEvent::Kind::kIndexPage) {
          json.key("page").value(uint64_t{e.page});
        } else {
          json.key("source").value(uint64_t{e.source});
          json.key("file_offset").value(e.file_offset);
          json.key("stored_length").value(uint64_t{e.stored_length});
          json.key("raw_length").value(uint64_t{e.raw_length});
        }
        json.end_object();
      }
      json.end_array();
    }
    json.end_object();
    std::cout << json.str();
  } else {
    std::cout << what << ": " << trace_summary_line(s) << "\n";
    std::cout << "recorded on the snapshot with index digest " << s.index_digest_hex << "\n";
    if (args.events) {
      for (const TraceEvent& e : trace.events) {
        char line[160];
        if (e.kind == TraceEvent::Kind::kIndexPage) {
          std::snprintf(line, sizeof line, "%8u ms  %-6s page  %u (read at %llu)\n", e.time_ms,
                        stream_name(e.stream), e.page,
                        static_cast<unsigned long long>(e.logical_offset));
        } else {
          std::snprintf(line, sizeof line,
                        "%8u ms  %-6s block source %u at %llu, %u bytes (read at %llu)\n",
                        e.time_ms, stream_name(e.stream), unsigned{e.source},
                        static_cast<unsigned long long>(e.file_offset), e.stored_length,
                        static_cast<unsigned long long>(e.logical_offset));
        }
        std::cout << line;
      }
    }
  }
  if (!std::cout.flush()) throw Error(ErrorCode::kIo, "cannot write to standard output");
  return kExitOk;
}

struct ChangeArgs {
  std::string snapshot;
  std::string trace;  ///< add only
  bool drop_signatures = false;
  std::string password_file;
  bool quiet = false;
};

/// Runs `change` with the AttachOptions of `args`, asking for the password of an encrypted
/// snapshot if the first try says one is needed.
int run_change(const ChangeArgs& args, bool add) {
  std::vector<std::byte> bytes;
  if (add) {
    bytes = read_attachment_file(args.trace, "trace");
    decode_trace(bytes, "trace file '" + args.trace + "'");  // a damaged file: say which one
  }
  AttachOptions options;
  options.drop_signatures = args.drop_signatures;
  const auto change = [&] {
    return add ? add_trace(args.snapshot, bytes, options) : remove_trace(args.snapshot, options);
  };
  AttachResult r;
  try {
    r = change();
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kWrongPassword) throw;
    PasswordSource passwords(args.password_file);
    options.open.password = passwords.for_snapshot(args.snapshot);
    r = change();
    wipe(options.open.password);
  }
  if (!args.quiet) {
    std::fprintf(stderr, "%s: boot trace %s, identity %s…%s\n", args.snapshot.c_str(),
                 add ? "stored" : "removed", r.identity_hex.substr(0, 16).c_str(),
                 r.signatures_dropped != 0 ? " (signatures removed: sign it again)" : "");
  }
  return kExitOk;
}

void add_change_options(CLI::App* sub, ChangeArgs& args) {
  sub->add_flag("--drop-signatures", args.drop_signatures,
                "Allow changing a signed snapshot: its signatures are removed (sign it again)");
  sub->add_option("--password-file", args.password_file,
                  "Password of an encrypted snapshot (else HEXZ_PASSWORD, else a prompt)")
      ->type_name("FILE");
  sub->add_flag("-q,--quiet", args.quiet, "No summary line");
}

}  // namespace

void add_trace_command(CLI::App& parent, CommandFn* selected) {
  CLI::App* trace = parent.add_subcommand(
      "trace", "Show, store or remove a snapshot's boot trace (prefetch on later starts)");
  trace->require_subcommand(1);
  trace->footer(
      "A boot trace lists the index pages and data blocks a run needed, in the order it first\n"
      "needed them. Record one while serving (hexz mount --record-trace FILE, nbdkit hexz\n"
      "record-trace=FILE, hexz serve-memory --record-trace FILE), store it in the snapshot with\n"
      "`hexz trace add`, and later starts fetch those blocks ahead of the reads (off with\n"
      "--no-prefetch / prefetch=false). See docs/boot-traces.md.");

  auto show = std::make_shared<ShowArgs>();
  CLI::App* s = add_command(*trace, "show", "Summarize a trace file or a snapshot's trace",
                            selected, [show] { return run_show(*show); });
  s->add_option("SNAP|TRACE", show->path, "A snapshot (file, URL) or a recorded trace file")
      ->type_name("")
      ->required();
  s->add_flag("--json", show->json, "Print one JSON object (see docs/cli-json.md)");
  s->add_flag("--events", show->events, "List every event, in order");
  add_access_options(s, show->access);
  s->footer(kAccessFooter);

  auto add = std::make_shared<ChangeArgs>();
  CLI::App* a =
      add_command(*trace, "add", "Store a recorded trace in a snapshot, in place (no repacking)",
                  selected, [add] { return run_change(*add, true); });
  a->add_option("SNAP", add->snapshot, "Local snapshot file (.hxz)")->type_name("")->required();
  a->add_option("TRACE", add->trace, "Trace file recorded on this snapshot")
      ->type_name("")
      ->required();
  add_change_options(a, *add);
  a->footer(
      "The trace must have been recorded on this snapshot (same index). It is stored as the\n"
      "attachment hexz.trace, replacing any earlier trace; the snapshot's identity changes.");

  auto remove = std::make_shared<ChangeArgs>();
  CLI::App* r = add_command(*trace, "remove", "Remove a snapshot's boot trace, in place", selected,
                            [remove] { return run_change(*remove, false); });
  r->add_option("SNAP", remove->snapshot, "Local snapshot file (.hxz)")->type_name("")->required();
  add_change_options(r, *remove);
}

}  // namespace hexz::cli
