#include "io/qemu_nbd.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "hexz/error.hpp"

namespace hexz::io {

namespace {

/// The qemu-nbd executable: $HEXZ_QEMU_NBD, else the first qemu-nbd on $PATH; empty if none.
std::string find_qemu_nbd() {
  if (const char* env = std::getenv("HEXZ_QEMU_NBD"); env != nullptr && *env != '\0') {
    return ::access(env, X_OK) == 0 ? env : "";
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/qemu-nbd";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::string make_private_dir() {
  const char* env = std::getenv("TMPDIR");
  std::string pattern = (env != nullptr && *env != '\0') ? env : "/tmp";
  pattern += "/hexz-nbd.XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw Error(ErrorCode::kIo, "cannot create a private directory for qemu-nbd in '" +
                                    pattern.substr(0, pattern.rfind('/')) +
                                    "' (set TMPDIR): " + std::strerror(errno));
  }
  return buf.data();
}

}  // namespace

QemuNbd::QemuNbd(const QemuNbdOptions& options) {
  const std::string exe = find_qemu_nbd();
  if (exe.empty()) {
    throw Error(ErrorCode::kUnsupported,
                "qemu-nbd is needed to read " + options.role + " '" + options.path + "' as " +
                    options.driver +
                    " but is not installed (Debian: apt install qemu-utils); or convert it "
                    "with qemu-img convert -O raw, or give --raw to pack its bytes");
  }
  dir_ = make_private_dir();
  socket_ = dir_ + "/nbd.sock";
  log_ = dir_ + "/qemu-nbd.log";
  // Everything the child needs is built before fork(): after it only async-signal-safe calls.
  std::vector<std::string> args = {exe, "--read-only", "--shared=1", "--persistent",
                                   "--socket=" + socket_};
  if (options.without_backing) {
    args.push_back("--allocation-depth");
    // A json: file name, as "backing": null is not expressible in --image-opts.
    std::string file;
    for (const char c : options.path) {
      if (c == '"' || c == '\\') file.push_back('\\');
      file.push_back(c);
    }
    args.push_back("--");
    args.push_back("json:{\"driver\":\"" + options.driver +
                   "\",\"backing\":null,\"file\":{\"driver\":\"file\",\"filename\":\"" + file +
                   "\"}}");
  } else {
    args.push_back("--format=" + options.driver);
    args.push_back("--");
    args.push_back(options.path);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || null_fd < 0) {
    const int err = errno;
    if (log_fd >= 0) ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw Error(ErrorCode::kIo,
                "cannot create the qemu-nbd log in '" + dir_ + "': " + std::strerror(err));
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // Its own process group: a Ctrl-C at the terminal reaches hexz, which stops it in order.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  const int fork_err = errno;
  ::close(log_fd);
  ::close(null_fd);
  if (pid_ < 0) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw Error(ErrorCode::kIo, std::string("cannot start qemu-nbd: ") + std::strerror(fork_err));
  }
}

QemuNbd::~QemuNbd() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool QemuNbd::running() {
  if (pid_ < 0) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return true;
  pid_ = -1;  // exited and reaped (or not our child any more)
  return false;
}

void QemuNbd::stop() {
  if (!running()) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string QemuNbd::last_message() const {
  std::ifstream in(log_);
  std::string line, last;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) last = line;
  }
  const std::string prefix = "qemu-nbd: ";
  if (last.rfind(prefix, 0) == 0) last.erase(0, prefix.size());
  return last;
}

}  // namespace hexz::io
