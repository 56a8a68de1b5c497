#include "atomic_output.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <utility>

#include "hexz/error.hpp"
#include "hexz/pack.hpp"
#include "posix_io.hpp"

namespace hexz::cli {
namespace {

/// The directory part of `path` ("." if it has none).
std::string directory_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// Flushes the directory entry changes of `dir` to disk; failures are ignored because some
/// file systems do not support fsync on directories and the data itself is already synced.
void sync_directory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

/// Renames `from` to `to` without replacing an existing `to`. Returns 0 or an errno value.
int rename_no_replace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP) return err;
  // The file system cannot do an exclusive rename; fall back to check-then-rename.
  struct stat st;
  if (::lstat(to.c_str(), &st) == 0) return EEXIST;
  return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
}

/// `path`, or the file its chain of symbolic links finally names (so that the link is kept
/// and its target replaced). Throws kInvalidArgument for a link loop.
std::string resolve_links(const std::string& path) {
  std::string current = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st;
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return current;
    std::string target(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
    ssize_t n = ::readlink(current.c_str(), target.data(), target.size());
    if (n <= 0) return current;
    target.resize(static_cast<size_t>(n));
    if (target.front() != '/') target = directory_of(current) + "/" + target;
    current = target;
  }
  throw Error(ErrorCode::kInvalidArgument, "output '" + path + "' is a symbolic link loop");
}

}  // namespace

void check_output_path(const std::string& path, bool force) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return;
    throw Error(ErrorCode::kIo, errno_message("cannot access output '" + path + "'", errno));
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "output '" + path + "' is not a regular file");
  }
  if (!force) {
    throw Error(ErrorCode::kAlreadyExists,
                "output '" + path + "' already exists (use --force to replace it)");
  }
}

AtomicOutputFile::AtomicOutputFile(std::string path, bool force)
    : path_(std::move(path)), force_(force) {
  check_output_path(path_, force_);
  path_ = resolve_links(path_);
  // What killed runs of this output left behind (SIGKILL, power loss) goes first; temporary
  // names follow the library's pattern, <name>.tmp-<pid>-<6 characters>, which it recognizes.
  hexz::remove_stale_temp_files(path_);
  const std::string base = path_ + ".tmp-" + std::to_string(::getpid()) + "-";
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix = std::to_string(attempt);
    temp_path_ = base + std::string(6 - suffix.size(), '0') + suffix;
    fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) return;
    if (errno != EEXIST) break;
  }
  int err = errno;
  temp_path_.clear();
  throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
              errno_message("cannot create a temporary file next to output '" + path_ + "'", err));
}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicOutputFile::commit(uint64_t size, bool sync) {
  auto fail = [this](const std::string& what, int err) {
    throw Error(ErrorCode::kIo, errno_message(what + " '" + path_ + "'", err));
  };
  if (size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) fail("cannot size", EFBIG);
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail("cannot size", errno);
  if (sync && ::fsync(fd_) != 0) fail("cannot flush", errno);
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) fail("cannot close", errno);

  int err = force_ ? (::rename(temp_path_.c_str(), path_.c_str()) == 0 ? 0 : errno)
                   : rename_no_replace(temp_path_, path_);
  if (err == EEXIST) {
    throw Error(ErrorCode::kAlreadyExists,
                "output '" + path_ + "' already exists (use --force to replace it)");
  }
  if (err != 0) fail("cannot rename the temporary file to", err);
  committed_ = true;
  if (sync) sync_directory(directory_of(path_));
}

}  // namespace hexz::cli
