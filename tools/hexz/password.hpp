// Passwords of encrypted snapshots: from a file, the HEXZ_PASSWORD environment variable, or a
// prompt on the controlling terminal. Never from the command line itself.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_util.hpp"
#include "hexz/snapshot.hpp"

namespace hexz::cli {

/// The message of the error raised when a password is needed but there is no way to get one.
inline constexpr const char* kPasswordNeededMessage =
    "a password is needed: use --password-file or HEXZ_PASSWORD";

/// Help text for the options add_access_options() adds, for command footers.
inline constexpr const char* kAccessFooter =
    "The password of an encrypted snapshot comes from --password-file, else the HEXZ_PASSWORD\n"
    "environment variable, else a prompt on the terminal; it is asked for only if needed.\n"
    "The bases of a thin snapshot are searched in its own directory, then in each --base-dir,\n"
    "then in the ':'-separated directories of HEXZ_BASE_PATH.\n"
    "--verify-reads checks every chunk against its BLAKE3 digest (the default for signed\n"
    "snapshots); --key PUB requires a signature by that key (hexz keygen, hexz sign).\n"
    "A snapshot may be a local file, an http(s):// URL or s3://bucket/key (S3 credentials from\n"
    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, region from AWS_REGION;\n"
    "HEXZ_CA_FILE names a PEM file of CA certificates to trust for https://).";

/// Reads the first line of `path` (without its line terminator) as a password. Throws
/// hexz::Error if the file cannot be read or the line is empty.
std::string read_password_file(const std::string& path);

/// Shows `prompt` on the controlling terminal (/dev/tty) and reads one line with echo turned off.
/// The terminal settings are restored before returning, on exceptions, and when a signal arrives
/// during the prompt (which is then re-raised with the previous disposition; stop signals stop the
/// process and the prompt starts over when it continues). Throws hexz::Error with
/// kPasswordNeededMessage if there is no controlling terminal, and kAborted if interrupted.
std::string prompt_password(const std::string& prompt);

/// Overwrites the characters of `secret` with zeros and empties it.
void wipe(std::string& secret);

/// Where a password comes from, in this order: `--password-file`, the HEXZ_PASSWORD environment
/// variable, an interactive prompt. An empty password is refused. The password is looked up at
/// most once and kept for later calls; it is wiped on destruction.
class PasswordSource {
 public:
  /// `password_file` is the --password-file value (empty if not given).
  explicit PasswordSource(std::string password_file) : file_(std::move(password_file)) {}
  ~PasswordSource();
  PasswordSource(const PasswordSource&) = delete;
  PasswordSource& operator=(const PasswordSource&) = delete;

  /// The password for a new encrypted snapshot; a prompt asks twice and requires a match.
  /// Throws hexz::Error.
  const std::string& for_new_snapshot();
  /// The password for opening the existing encrypted snapshot `snapshot` (named in the prompt).
  /// Throws hexz::Error.
  const std::string& for_snapshot(const std::string& snapshot);
  /// True once a password has been obtained.
  bool known() const { return password_.has_value(); }

 private:
  /// The password from the file or the environment, if either is set. Throws on an empty one.
  std::optional<std::string> from_file_or_environment() const;

  std::string file_;
  std::optional<std::string> password_;
};

/// Command-line values shared by the commands that read snapshots.
struct AccessArgs {
  std::string password_file;           ///< --password-file
  std::vector<std::string> base_dirs;  ///< --base-dir (repeatable)
  RemoteArgs remote;                   ///< --endpoint, --cache-dir
  bool verify_reads = false;           ///< --verify-reads (OpenOptions::verify_reads)
  std::vector<std::string> keys;       ///< --key (repeatable): trusted public key files
};

/// Adds --password-file, --base-dir, --verify-reads, --key and the remote options
/// (add_remote_options) to `sub`, bound to `args`.
void add_access_options(CLI::App* sub, AccessArgs& args);

/// Opens snapshots as the AccessArgs say: first without a password; only if the library reports
/// that the snapshot is encrypted (ErrorCode::kWrongPassword) and no password was tried yet is a
/// password obtained (file, HEXZ_PASSWORD, prompt) and the snapshot opened again.
class SnapshotOpener {
 public:
  explicit SnapshotOpener(const AccessArgs& args);
  /// Wipes the password kept in last_options().
  ~SnapshotOpener();
  SnapshotOpener(const SnapshotOpener&) = delete;
  SnapshotOpener& operator=(const SnapshotOpener&) = delete;

  /// Opens `path`. `options` supplies the tuning knobs; base_dirs, the password and the remote
  /// settings (endpoint, cache_dir) are set here.
  /// Throws hexz::Error (a wrong password gives the library's kWrongPassword error).
  std::unique_ptr<Snapshot> open(const std::string& path, OpenOptions options = {});
  /// The options that opened the last snapshot successfully (with base_dirs and the password,
  /// if one was needed).
  const OpenOptions& last_options() const { return last_; }

 private:
  std::vector<std::string> base_dirs_;
  RemoteArgs remote_;
  PasswordSource passwords_;
  OpenOptions last_;
  bool verify_reads_ = false;
  std::vector<std::array<unsigned char, 32>> trusted_keys_;
};

}  // namespace hexz::cli
