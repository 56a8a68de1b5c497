// The `verify` subcommand: checks every checksum and digest in a snapshot.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "json_writer.hpp"
#include "password.hpp"
#include "progress_bar.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `verify`.
struct VerifyArgs {
  std::string snapshot;
  bool quiet = false;
  bool json = false;
  unsigned threads = 0;
  AccessArgs access;
};

/// Problems of each kind in `report` (counted from the listed problems; an ok=false report
/// without any listed problem counts as one corrupt problem).
struct ProblemCounts {
  uint64_t corrupt = 0;
  uint64_t unreadable = 0;
};

ProblemCounts count_problems(const VerifyReport& report) {
  ProblemCounts counts;
  for (const VerifyProblem& p : report.problems) {
    if (p.kind == VerifyProblem::Kind::kUnreadable) {
      ++counts.unreadable;
    } else {
      ++counts.corrupt;
    }
  }
  if (!report.ok && counts.corrupt == 0 && counts.unreadable == 0) counts.corrupt = 1;
  return counts;
}

/// The exit status for `report`: 0 intact, kExitCorrupt if anything read was wrong, else
/// kExitUnreadable if something could not be read.
int verify_status(const VerifyReport& report) {
  if (report.ok) return kExitOk;
  return count_problems(report).corrupt != 0 ? kExitCorrupt : kExitUnreadable;
}

const char* kind_name(VerifyProblem::Kind kind) {
  return kind == VerifyProblem::Kind::kUnreadable ? "unreadable" : "corrupt";
}

/// `message` on one line.
std::string one_line(std::string message) {
  for (char& c : message) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return message;
}

/// Renders `report` as the JSON object documented in docs/cli-json.md.
std::string verify_json(const VerifyArgs& args, const VerifyReport& report) {
  const ProblemCounts counts = count_problems(report);
  JsonWriter json;
  json.begin_object();
  json.key("snapshot").value(args.snapshot);
  json.key("ok").value(report.ok);
  json.key("exit_status").value(verify_status(report));
  json.key("blocks_checked").value(report.blocks_checked);
  json.key("chunks_checked").value(report.chunks_checked);
  const uint64_t listed = report.problems.empty() && !report.ok ? 1 : report.problems.size();
  json.key("problem_count").value(std::max(report.problem_count, listed));
  json.key("corrupt_count").value(counts.corrupt);
  json.key("unreadable_count").value(counts.unreadable);
  json.key("problems").begin_array();
  if (report.problems.empty() && !report.ok) {
    json.begin_object();
    json.key("kind").value("corrupt");
    json.key("message").value(report.first_error.empty() ? "verification failed"
                                                         : one_line(report.first_error));
    json.end_object();
  }
  for (const VerifyProblem& p : report.problems) {
    json.begin_object();
    json.key("kind").value(kind_name(p.kind));
    json.key("message").value(one_line(p.message));
    json.end_object();
  }
  json.end_array();
  json.end_object();
  return json.str();
}

/// Runs `verify` for `args`; returns the exit status (see the --help footer).
int run_verify(const VerifyArgs& args) {
  InterruptGuard guard;
  SnapshotOpener opener(args.access);
  OpenOptions options;
  options.prefetch = false;  // a boot trace is for serving, not for this
  options.threads = args.threads;
  std::unique_ptr<Snapshot> snapshot = opener.open(args.snapshot, options);
  ProgressBar bar("verifying", progress_wanted(args.quiet || args.json));
  VerifyReport report = snapshot->verify([&bar](uint64_t done, uint64_t total) {
    throw_if_interrupted();
    bar.update(done, total);
  });
  bar.clear();
  // Snapshot::verify() reports an exception thrown by the callback as a verification failure
  // instead of propagating it, so check for an interrupt explicitly.
  throw_if_interrupted();
  const int status = verify_status(report);
  if (args.json) {
    std::cout << verify_json(args, report);
    if (!std::cout.flush()) throw Error(ErrorCode::kIo, "cannot write to standard output");
    return status;
  }
  if (!report.ok) {
    if (report.problems.empty()) {
      print_error(report.first_error.empty() ? "verification failed" : report.first_error);
    }
    for (const VerifyProblem& p : report.problems) {
      print_error(std::string(kind_name(p.kind)) + ": " + p.message);
    }
    if (report.problem_count > report.problems.size()) {
      print_error(std::to_string(report.problem_count - report.problems.size()) +
                  " more problems not listed");
    }
    const ProblemCounts counts = count_problems(report);
    if (counts.corrupt + counts.unreadable > 1)
      std::fprintf(stderr, "%s: %llu corrupt, %llu unreadable\n", args.snapshot.c_str(),
                   static_cast<unsigned long long>(counts.corrupt),
                   static_cast<unsigned long long>(counts.unreadable));
    return status;
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
  sub->add_flag("--json", args->json,
                "Print one JSON object listing every problem (see docs/cli-json.md)");
  add_threads_option(sub, args->threads, "Decode threads; 0 = all cores");
  add_access_options(sub, args->access);
  sub->footer(std::string("Exit status: 0 intact; 1 the snapshot could not be opened or checked "
                          "(error);\n2 usage error; 3 corrupt: some bytes were read but are "
                          "wrong; 4 unreadable: some\nbytes could not be read (I/O error, "
                          "network, missing base) and none read were wrong.\n") +
              kAccessFooter);
}

}  // namespace hexz::cli
