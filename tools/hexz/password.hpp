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
    "a password is needed: use --password-file, --password-fd, --password-command, "
    "HEXZ_PASSWORD_FD, HEXZ_PASSCOMMAND or HEXZ_PASSWORD";

/// Help text for the options add_access_options() adds, for command footers.
inline constexpr const char* kAccessFooter =
    "The password of an encrypted snapshot comes from --password-file, --password-fd or\n"
    "--password-command, else the environment (HEXZ_PASSWORD_FD, HEXZ_PASSCOMMAND, "
    "HEXZ_PASSWORD),\n"
    "else a prompt on the terminal (3 tries), asked only if the snapshot is encrypted. A password\n"
    "given by any of the first means requires the snapshot to be encrypted.\n"
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

/// Reads the first line of descriptor `fd` (up to a newline or end of file) as a password and
/// closes `fd`. Throws hexz::Error if it cannot be read or the line is empty.
std::string read_password_fd(int fd);

/// Runs `command` with /bin/sh -c and takes the first line of its standard output as the
/// password. Throws hexz::Error if it cannot run, exits non-zero, or prints an empty line.
std::string run_password_command(const std::string& command);

/// Takes HEXZ_PASSWORD out of the environment (so that child processes such as fusermount3
/// never inherit it), keeping its value for PasswordSource. Call once, early in main.
void capture_password_environment();

/// Where a password comes from (the command-line options; empty / -1 = not given).
struct PasswordArgs {
  std::string file;     ///< --password-file
  int fd = -1;          ///< --password-fd
  std::string command;  ///< --password-command
};

/// Where a password comes from, in this order: --password-file, --password-fd,
/// --password-command, the environment variables HEXZ_PASSWORD_FD, HEXZ_PASSCOMMAND and
/// HEXZ_PASSWORD (see capture_password_environment), an interactive prompt. An empty password
/// is refused. The password is looked up at most once and kept for later calls (a prompted one
/// can be forgotten to ask again); it is wiped on destruction.
class PasswordSource {
 public:
  /// `password_file` is the --password-file value (empty if not given).
  explicit PasswordSource(std::string password_file) { args_.file = std::move(password_file); }
  /// All the command-line sources.
  explicit PasswordSource(PasswordArgs args) : args_(std::move(args)) {}
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
  /// True if the user supplied a password other than by the prompt (an option or the
  /// environment): it is then passed to every snapshot opened, encrypted or not.
  bool supplied() const;
  /// True if the password known came from the prompt.
  bool prompted() const { return prompted_; }
  /// Forgets a prompted password so that the next call asks again.
  void forget();

 private:
  /// The password from an option or the environment, if any is set. Throws on an empty one.
  std::optional<std::string> from_file_or_environment() const;

  PasswordArgs args_;
  std::optional<std::string> password_;
  bool prompted_ = false;
};

/// Command-line values shared by the commands that read snapshots.
struct AccessArgs {
  std::string password_file;           ///< --password-file
  int password_fd = -1;                ///< --password-fd
  std::string password_command;        ///< --password-command
  std::vector<std::string> base_dirs;  ///< --base-dir (repeatable)
  RemoteArgs remote;                   ///< --endpoint, --cache-dir
  bool verify_reads = false;           ///< --verify-reads (OpenOptions::verify_reads)
  std::vector<std::string> keys;       ///< --key (repeatable): trusted public key files
};

/// Adds --password-fd and --password-command to `sub`, bound to `args`.
void add_password_source_options(CLI::App* sub, int& fd, std::string& command);

/// Adds --password-file, --password-fd, --password-command, --base-dir, --verify-reads, --key and
/// the remote options (add_remote_options) to `sub`, bound to `args`.
void add_access_options(CLI::App* sub, AccessArgs& args);

/// Opens snapshots as the AccessArgs say. A password the user supplied (option or environment)
/// is passed to every open, so that the library refuses an unencrypted file then. Otherwise the
/// snapshot is opened without one; only if the library reports that it is encrypted
/// (ErrorCode::kWrongPassword) is the user prompted, up to 3 times while the password is wrong.
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
  /// True if a password was supplied (option, descriptor, command, environment) or prompted.
  bool password_given() const { return passwords_.supplied() || passwords_.prompted(); }

 private:
  std::vector<std::string> base_dirs_;
  RemoteArgs remote_;
  PasswordSource passwords_;
  OpenOptions last_;
  bool verify_reads_ = false;
  std::vector<std::array<unsigned char, 32>> trusted_keys_;
};

}  // namespace hexz::cli
