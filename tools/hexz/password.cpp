#include "password.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

#include "hexz/error.hpp"
#include "hexz/signing.hpp"
#include "posix_io.hpp"

namespace hexz::cli {
namespace {

/// Longest password accepted from a file or a prompt.
constexpr size_t kMaxPasswordLength = 64 * 1024;

/// Signals that must not leave the terminal with echo turned off.
constexpr int kPromptSignals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT,
                                  SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM};
constexpr size_t kPromptSignalCount = sizeof kPromptSignals / sizeof kPromptSignals[0];

/// The first prompt signal received while a prompt is shown (0 = none).
volatile sig_atomic_t g_prompt_signal = 0;

void on_prompt_signal(int signo) {
  if (g_prompt_signal == 0) g_prompt_signal = signo;
}

/// True for the signals that stop the process (after which the prompt starts over).
bool is_stop_signal(int signo) {
  return signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU;
}

/// Writes all of `text` to `fd`, ignoring errors (the prompt is best effort).
void tty_write(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

/// The terminal opened for one prompt attempt, with echo off and the prompt signal handlers
/// installed. The destructor restores the terminal settings and the signal handlers and closes
/// the terminal, in that order, whatever the way out.
class QuietTerminal {
 public:
  /// Opens /dev/tty; throws hexz::Error(kPasswordNeededMessage) if there is none.
  QuietTerminal() {
    fd_ = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd_ < 0) throw Error(ErrorCode::kInvalidArgument, kPasswordNeededMessage);
    if (::tcgetattr(fd_, &saved_) != 0) {
      ::close(fd_);
      throw Error(ErrorCode::kInvalidArgument, kPasswordNeededMessage);
    }
    g_prompt_signal = 0;
    struct sigaction action = {};
    action.sa_handler = on_prompt_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // No SA_RESTART: a signal interrupts the read() of the password.
    for (size_t i = 0; i < kPromptSignalCount; ++i) {
      // A signal that is ignored (e.g. SIGINT of a background job) stays ignored.
      if (::sigaction(kPromptSignals[i], nullptr, &old_actions_[i]) != 0) continue;
      if (old_actions_[i].sa_handler == SIG_IGN) continue;
      ::sigaction(kPromptSignals[i], &action, nullptr);
    }
    struct termios quiet = saved_;
    quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
    quiet.c_lflag |= ICANON;
    echo_off_ = ::tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }

  ~QuietTerminal() {
    if (echo_off_) {
      ::tcsetattr(fd_, TCSAFLUSH, &saved_);
      tty_write(fd_, "\n");  // The Enter key was not echoed.
    }
    for (size_t i = 0; i < kPromptSignalCount; ++i) {
      ::sigaction(kPromptSignals[i], &old_actions_[i], nullptr);
    }
    ::close(fd_);
  }

  QuietTerminal(const QuietTerminal&) = delete;
  QuietTerminal& operator=(const QuietTerminal&) = delete;

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  struct termios saved_ = {};
  bool echo_off_ = false;
  struct sigaction old_actions_[kPromptSignalCount] = {};
};

/// Outcome of one prompt attempt.
enum class ReadOutcome { kLine, kEnd, kSignal };

/// Shows `prompt` and reads one line into `*line`; see prompt_password().
ReadOutcome read_line_quietly(const std::string& prompt, std::string* line) {
  QuietTerminal tty;
  tty_write(tty.fd(), prompt);
  for (;;) {
    if (g_prompt_signal != 0) return ReadOutcome::kSignal;
    char c = 0;
    ssize_t n = ::read(tty.fd(), &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;  // The loop head checks whether it was a prompt signal.
      throw Error(ErrorCode::kIo,
                  errno_message("cannot read the password from the terminal", errno));
    }
    if (n == 0) return line->empty() ? ReadOutcome::kEnd : ReadOutcome::kLine;
    if (c == '\n' || c == '\r') return ReadOutcome::kLine;
    if (line->size() >= kMaxPasswordLength) {
      wipe(*line);
      throw Error(ErrorCode::kInvalidArgument, "the password is too long");
    }
    line->push_back(c);
  }
}

/// Throws the error for an empty password obtained from `where`.
[[noreturn]] void refuse_empty(const std::string& where) {
  throw Error(ErrorCode::kInvalidArgument,
              "the password from " + where + " is empty; an empty password is not allowed");
}

}  // namespace

namespace {

/// Shows `text` on the terminal (best effort).
void prompt_notice(const std::string& text) {
  int fd = ::open("/dev/tty", O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return;
  tty_write(fd, text);
  ::close(fd);
}

/// Refuses a local snapshot path that is a FIFO, socket or character device before opening it
/// (opening a FIFO without a writer would block forever).
void refuse_special_file(const std::string& path) {
  if (path.find("://") != std::string::npos) return;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return;  // Snapshot::open reports it.
  if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument,
                "snapshot '" + path +
                    "' is not a regular file (a FIFO, socket or character "
                    "device cannot be read at random)");
  }
}

}  // namespace

void wipe(std::string& secret) {
  if (!secret.empty()) ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
}

namespace {

/// HEXZ_PASSWORD as captured by capture_password_environment().
std::optional<std::string>& environment_password() {
  static std::optional<std::string> value;
  return value;
}

/// Most prompts for one snapshot while the password entered is wrong.
constexpr int kPromptTries = 3;

/// Reads one line (up to '\n' or end of file) from `fd` into a password; `what` names the
/// source in messages. Does not close `fd`.
std::string read_first_line(int fd, const std::string& what, bool allow_empty = false) {
  std::string line;
  char c = 0;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      wipe(line);
      throw Error(ErrorCode::kIo, errno_message("cannot read the password from " + what, err));
    }
    if (n == 0 || c == '\n') break;
    if (line.size() >= kMaxPasswordLength) {
      wipe(line);
      throw Error(ErrorCode::kInvalidArgument, "the password from " + what + " is too long");
    }
    line.push_back(c);
  }
  c = 0;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty() && !allow_empty) refuse_empty(what);
  return line;
}

/// Parses the value of HEXZ_PASSWORD_FD / --password-fd.
int parse_fd(const char* text) {
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 0 || value > 1 << 20) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("HEXZ_PASSWORD_FD '") + text + "' is not a file descriptor number");
  }
  return static_cast<int>(value);
}

}  // namespace

void capture_password_environment() {
  if (const char* env = std::getenv("HEXZ_PASSWORD")) {
    environment_password() = std::string(env);
    // Overwrite the value in place before removing it, so it does not linger in memory.
    ::explicit_bzero(const_cast<char*>(env), std::strlen(env));
    ::unsetenv("HEXZ_PASSWORD");
  }
}

std::string read_password_fd(int fd) {
  const std::string what = "file descriptor " + std::to_string(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                errno_message("cannot read the password from " + what, errno));
  }
  std::string line;
  try {
    line = read_first_line(fd, what);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return line;
}

std::string run_password_command(const std::string& command) {
  const std::string what = "password command '" + command + "'";
  FILE* pipe = ::popen(command.c_str(), "re");
  if (pipe == nullptr) {
    throw Error(ErrorCode::kIo, errno_message("cannot run " + what, errno));
  }
  std::string line;
  try {
    line = read_first_line(::fileno(pipe), what, true);
  } catch (...) {
    ::pclose(pipe);
    throw;
  }
  // Drain the rest so that the command does not die of SIGPIPE before exiting.
  char buf[256];
  while (::read(::fileno(pipe), buf, sizeof buf) > 0) {
  }
  ::explicit_bzero(buf, sizeof buf);
  int status = ::pclose(pipe);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    wipe(line);
    throw Error(ErrorCode::kInvalidArgument,
                what + " failed" +
                    (status != -1 && WIFEXITED(status)
                         ? " (exit status " + std::to_string(WEXITSTATUS(status)) + ")"
                         : std::string()));
  }
  if (line.empty()) refuse_empty(what);
  return line;
}

std::string read_password_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                errno_message("cannot open password file '" + path + "'", err));
  }
  std::string line;
  bool done = false;
  char buf[512];
  while (!done) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      wipe(line);
      throw Error(ErrorCode::kIo, errno_message("cannot read password file '" + path + "'", err));
    }
    if (n == 0) break;
    for (ssize_t i = 0; i < n && !done; ++i) {
      if (buf[i] == '\n') {
        done = true;
      } else {
        line.push_back(buf[i]);
      }
    }
    if (line.size() > kMaxPasswordLength) {
      ::close(fd);
      wipe(line);
      ::explicit_bzero(buf, sizeof buf);
      throw Error(ErrorCode::kInvalidArgument,
                  "the first line of password file '" + path + "' is too long for a password");
    }
  }
  ::explicit_bzero(buf, sizeof buf);
  ::close(fd);
  if (!line.empty() && line.back() == '\r') line.pop_back();  // A file with CRLF line ends.
  if (line.empty()) refuse_empty("password file '" + path + "'");
  return line;
}

std::string prompt_password(const std::string& prompt) {
  for (;;) {
    std::string line;
    ReadOutcome outcome = read_line_quietly(prompt, &line);
    // Here the terminal settings and the previous signal handlers are back in place.
    if (outcome == ReadOutcome::kLine) return line;
    wipe(line);
    if (outcome == ReadOutcome::kEnd) {
      throw Error(ErrorCode::kInvalidArgument, "no password entered");
    }
    int signo = g_prompt_signal;
    g_prompt_signal = 0;
    // Deliver the signal as if the prompt had never caught it: a stop signal stops the process
    // (and the prompt starts over when it continues); others run the previous handler or kill
    // the process.
    ::kill(::getpid(), signo);
    if (!is_stop_signal(signo)) throw Error(ErrorCode::kAborted, "interrupted");
  }
}

PasswordSource::~PasswordSource() {
  if (password_) wipe(*password_);
}

std::optional<std::string> PasswordSource::from_file_or_environment() const {
  if (!args_.file.empty()) return read_password_file(args_.file);
  if (args_.fd >= 0) return read_password_fd(args_.fd);
  if (!args_.command.empty()) return run_password_command(args_.command);
  if (const char* fd = std::getenv("HEXZ_PASSWORD_FD"); fd != nullptr && *fd != '\0') {
    return read_password_fd(parse_fd(fd));
  }
  if (const char* cmd = std::getenv("HEXZ_PASSCOMMAND"); cmd != nullptr && *cmd != '\0') {
    return run_password_command(cmd);
  }
  const std::optional<std::string>& env = environment_password();
  if (env) {
    if (env->empty()) refuse_empty("HEXZ_PASSWORD");
    return *env;
  }
  // Not captured (e.g. a caller that did not run capture_password_environment()).
  if (const char* raw = std::getenv("HEXZ_PASSWORD")) {
    if (*raw == '\0') refuse_empty("HEXZ_PASSWORD");
    return std::string(raw);
  }
  return std::nullopt;
}

bool PasswordSource::supplied() const {
  if (!args_.file.empty() || args_.fd >= 0 || !args_.command.empty()) return true;
  for (const char* name : {"HEXZ_PASSWORD_FD", "HEXZ_PASSCOMMAND"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return true;
  }
  return environment_password().has_value() || std::getenv("HEXZ_PASSWORD") != nullptr;
}

void PasswordSource::forget() {
  if (!prompted_) return;
  if (password_) wipe(*password_);
  password_.reset();
  prompted_ = false;
}

const std::string& PasswordSource::for_new_snapshot() {
  if (password_) return *password_;
  std::optional<std::string> given = from_file_or_environment();
  if (given) {
    password_ = std::move(*given);
    return *password_;
  }
  std::string first = prompt_password("New password for the snapshot: ");
  if (first.empty()) refuse_empty("the prompt");
  std::string second = prompt_password("Repeat the password: ");
  bool match = first == second;
  wipe(second);
  if (!match) {
    wipe(first);
    throw Error(ErrorCode::kInvalidArgument, "the passwords do not match");
  }
  password_ = std::move(first);
  prompted_ = true;
  return *password_;
}

const std::string& PasswordSource::for_snapshot(const std::string& snapshot) {
  if (password_) return *password_;
  std::optional<std::string> given = from_file_or_environment();
  if (given) {
    password_ = std::move(*given);
    return *password_;
  }
  std::string entered = prompt_password("Password for '" + snapshot + "': ");
  if (entered.empty()) refuse_empty("the prompt");
  password_ = std::move(entered);
  prompted_ = true;
  return *password_;
}

void add_password_source_options(CLI::App* sub, int& fd, std::string& command) {
  sub->add_option("--password-fd", fd, "Read the password from the first line of descriptor N")
      ->type_name("N")
      ->check(int_range(0, 1 << 20));
  sub->add_option("--password-command", command,
                  "Run CMD (with /bin/sh -c) and take the first line it prints as the password")
      ->type_name("CMD");
}

void add_access_options(CLI::App* sub, AccessArgs& args) {
  sub->add_option("--password-file", args.password_file,
                  "Read the password of an encrypted snapshot from the first line of FILE")
      ->type_name("FILE");
  add_password_source_options(sub, args.password_fd, args.password_command);
  sub->add_option("--base-dir", args.base_dirs,
                  "Also search DIR for the base snapshots of a thin snapshot (repeatable)")
      ->type_name("DIR")
      ->allow_extra_args(false);
  sub->add_flag("--verify-reads", args.verify_reads,
                "Check every chunk read against its BLAKE3 digest in the index (and a thin "
                "snapshot's base indexes against their identities) before using it");
  sub->add_option("--key", args.keys,
                  "Require a valid signature by this public key (from hexz keygen; repeatable: "
                  "any one of them)")
      ->type_name("PUB")
      ->allow_extra_args(false);
  add_remote_options(sub, args.remote);
}

SnapshotOpener::SnapshotOpener(const AccessArgs& args)
    : base_dirs_(args.base_dirs),
      remote_(args.remote),
      passwords_(PasswordArgs{args.password_file, args.password_fd, args.password_command}),
      verify_reads_(args.verify_reads) {
  for (const auto& k : args.keys) trusted_keys_.push_back(read_public_key(k));
  apply_remote_args(remote_);
}

SnapshotOpener::~SnapshotOpener() {
  wipe(last_.password);
}

std::unique_ptr<Snapshot> SnapshotOpener::open(const std::string& path, OpenOptions options) {
  options.base_dirs = base_dirs_;
  options.endpoint = remote_.endpoint;
  options.cache_dir = remote_.cache_dir;
  if (verify_reads_) options.verify_reads = true;
  if (!trusted_keys_.empty()) options.trusted_keys = trusted_keys_;
  wipe(options.password);
  refuse_special_file(path);
  // A password the user supplied goes to every snapshot (the library refuses an unencrypted
  // one then); one obtained earlier for another snapshot of this command is tried right away.
  bool tried_password = passwords_.known() || passwords_.supplied();
  if (tried_password) options.password = passwords_.for_snapshot(path);
  std::unique_ptr<Snapshot> snapshot;
  try {
    snapshot = Snapshot::open(path, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kWrongPassword) throw;
    if (tried_password && !passwords_.prompted()) throw;
    // Encrypted, and nothing supplied: ask on the terminal, again while the password is wrong.
    for (int attempt = 1;; ++attempt) {
      passwords_.forget();
      wipe(options.password);
      options.password = passwords_.for_snapshot(path);
      try {
        snapshot = Snapshot::open(path, options);
        break;
      } catch (const Error& again) {
        if (again.code() != ErrorCode::kWrongPassword || attempt >= kPromptTries) throw;
        prompt_notice("Wrong password, try again.\n");
      }
    }
  }
  wipe(last_.password);
  last_ = options;
  wipe(options.password);
  return snapshot;
}

}  // namespace hexz::cli
