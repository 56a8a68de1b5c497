#include "password.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
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

void wipe(std::string& secret) {
  if (!secret.empty()) ::explicit_bzero(secret.data(), secret.size());
  secret.clear();
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
  if (!file_.empty()) return read_password_file(file_);
  if (const char* env = std::getenv("HEXZ_PASSWORD")) {
    if (*env == '\0') refuse_empty("HEXZ_PASSWORD");
    return std::string(env);
  }
  return std::nullopt;
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
  return *password_;
}

void add_access_options(CLI::App* sub, AccessArgs& args) {
  sub->add_option("--password-file", args.password_file,
                  "Read the password of an encrypted snapshot from the first line of FILE")
      ->type_name("FILE");
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
      passwords_(args.password_file),
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
  // A password already obtained (for another snapshot of this command) is tried right away; it
  // is ignored by unencrypted snapshots.
  bool tried_password = passwords_.known();
  if (tried_password) options.password = passwords_.for_snapshot(path);
  std::unique_ptr<Snapshot> snapshot;
  try {
    snapshot = Snapshot::open(path, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kWrongPassword || tried_password) throw;
    options.password = passwords_.for_snapshot(path);
    snapshot = Snapshot::open(path, options);
  }
  wipe(last_.password);
  last_ = options;
  wipe(options.password);
  return snapshot;
}

}  // namespace hexz::cli
