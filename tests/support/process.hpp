// Running a program (the hexz CLI) and capturing its output.
#pragma once

#include <sys/types.h>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace hexz_test {

struct ProcessResult {
  int exit_code = -1;  ///< Exit status, or 128 + signal number if killed by a signal.
  bool signaled = false;
  std::string out;  ///< Everything written to stdout.
  std::string err;  ///< Everything written to stderr.
};

struct RunOptions {
  std::optional<uid_t> uid;  ///< Drop to this uid/gid before exec (needs root).
  std::optional<gid_t> gid;
  std::string working_dir;             ///< Empty = current directory.
  std::vector<std::string> extra_env;  ///< "NAME=value" entries added to the environment.
  /// Start a new session (setsid) first: no controlling terminal, so /dev/tty cannot be opened.
  bool new_session = false;
  /// Standard input from this file (empty = /dev/null).
  std::string stdin_path;
  /// Standard output into this file, created or truncated (empty = captured in `out`).
  std::string stdout_path;
  /// The child's umask (unset = inherited).
  std::optional<mode_t> umask;
  /// Called in the parent with the child's pid right after it started (e.g. to signal it).
  std::function<void(pid_t)> on_start;
};

/// Runs argv[0] with arguments argv[1..] (no shell), stdin from /dev/null, and
/// waits for it. Throws std::runtime_error if the process cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, const RunOptions& options = {});

/// Non-empty lines of `text`.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace hexz_test
