#include "io/output_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "hexz/error.hpp"
#include "io/staged_writer.hpp"

namespace hexz::io {

namespace {

std::string dir_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

[[noreturn]] void throw_io(const std::string& what, int err) {
  const ErrorCode code = err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo;
  throw Error(code, what + ": " + std::strerror(err));
}

/// Characters of the random part of a temporary file name.
constexpr char kNameChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr size_t kRandomLength = 6;

/// Six random name characters.
std::string random_suffix() {
  unsigned char bytes[kRandomLength] = {};
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    // Uniqueness comes from O_EXCL; randomness only avoids collisions.
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(std::rand());
  }
  std::string out;
  for (unsigned char b : bytes) out += kNameChars[b % (sizeof kNameChars - 1)];
  return out;
}

/// If `name` is `<prefix><pid>-<6 name characters>`, the pid; else 0.
pid_t temp_owner(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() + 1 + kRandomLength) return 0;
  if (name.compare(0, prefix.size(), prefix) != 0) return 0;
  const std::string rest = name.substr(prefix.size());
  const size_t dash = rest.find('-');
  if (dash == std::string::npos || dash == 0 || dash > 10) return 0;
  if (rest.size() != dash + 1 + kRandomLength) return 0;
  long long pid = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return 0;
    pid = pid * 10 + (rest[i] - '0');
  }
  for (size_t i = dash + 1; i < rest.size(); ++i) {
    if (std::strchr(kNameChars, rest[i]) == nullptr || rest[i] == '\0') return 0;
  }
  if (pid <= 0 || pid > 0x7fffffff) return 0;
  return static_cast<pid_t>(pid);
}

}  // namespace

std::string resolve_output_path(const std::string& path) {
  std::string current = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return current;
    std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
    const ssize_t n = ::readlink(current.c_str(), buf.data(), buf.size());
    if (n < 0) return current;  // Vanished meanwhile; the caller's checks report it.
    std::string target(buf.data(), static_cast<size_t>(n));
    if (target.empty()) return current;
    if (target.front() != '/') target = dir_of(current) + "/" + target;
    current = target;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "output '" + path + "' is a symbolic link loop (too many levels of links)");
}

size_t remove_stale_temp_files(const std::string& path) {
  const std::string dir = dir_of(path);
  const std::string prefix = base_of(path) + ".tmp-";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> stale;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const pid_t pid = temp_owner(name, prefix);
    if (pid == 0 || pid == ::getpid()) continue;
    // A live process (or one we may not signal) may still be writing it.
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    stale.push_back(name);
  }
  ::closedir(d);
  size_t removed = 0;
  for (const std::string& name : stale) {
    const std::string full = dir + "/" + name;
    const int fd = ::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat opened {
    }, now{};
    // Only an unlocked regular file that is still the one at that name.
    if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) &&
        ::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::lstat(full.c_str(), &now) == 0 &&
        now.st_dev == opened.st_dev && now.st_ino == opened.st_ino && ::unlink(full.c_str()) == 0) {
      ++removed;
    }
    ::close(fd);
  }
  return removed;
}

AtomicOutputFile::AtomicOutputFile(const std::string& path, bool overwrite)
    : overwrite_(overwrite) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "no output path given");
  path_ = resolve_output_path(path);
  dir_ = dir_of(path_);
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) {
    throw Error(ErrorCode::kNotFound, "output directory '" + dir_ + "' does not exist");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "output directory '" + dir_ + "' is not a directory");
  }
  if (::lstat(path_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      throw Error(ErrorCode::kInvalidArgument, "output '" + path + "' is a directory");
    }
    if (!S_ISREG(st.st_mode)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "output '" + path +
                      "' exists and is not a regular file (a device, FIFO or socket is never "
                      "replaced by a snapshot)");
    }
    if (!overwrite) {
      throw Error(ErrorCode::kAlreadyExists,
                  "output '" + path + "' already exists (use --force to replace it)");
    }
  }
  remove_stale_temp_files(path_);
  const std::string base = path_ + ".tmp-" + std::to_string(::getpid()) + "-";
  int err = 0;
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string name = base + random_suffix();
    // Mode 0666: the process umask (and default ACLs) decide, as for any new file.
    fd_ = ::open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) {
      temp_path_ = name;
      break;
    }
    err = errno;
    if (err != EEXIST) break;
  }
  if (fd_ < 0) throw_io("cannot create a temporary file in '" + dir_ + "'", err);
  // Held until the file is renamed or removed: remove_stale_temp_files() skips locked files.
  (void)::flock(fd_, LOCK_EX | LOCK_NB);
  try {
    writer_ = std::make_unique<StagedWriter>(fd_, temp_path_);
  } catch (...) {
    ::unlink(temp_path_.c_str());
    ::close(fd_);
    throw;
  }
}

AtomicOutputFile::~AtomicOutputFile() {
  writer_.reset();  // waits for a write in flight
  // Unlink before closing: the lock then protects the file until its name is gone.
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  if (fd_ >= 0) ::close(fd_);
}

void AtomicOutputFile::append(std::span<const std::byte> data) {
  writer_->append(data);
}

void AtomicOutputFile::write_at(uint64_t offset, std::span<const std::byte> data) {
  writer_->write_at(offset, data);
}

uint64_t AtomicOutputFile::position() const {
  return writer_->position();
}

void AtomicOutputFile::commit() {
  writer_->finish();
  if (::fsync(fd_) != 0) throw_io("cannot sync '" + temp_path_ + "'", errno);
  if (overwrite_) {
    if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
      throw_io("cannot rename '" + temp_path_ + "' to '" + path_ + "'", errno);
    }
  } else {
    // Never replace a file that appeared while we were packing.
    if (::renameat2(AT_FDCWD, temp_path_.c_str(), AT_FDCWD, path_.c_str(), RENAME_NOREPLACE) != 0) {
      const int err = errno;
      if (err == EEXIST) {
        throw Error(ErrorCode::kAlreadyExists,
                    "output '" + path_ + "' already exists (use --force to replace it)");
      }
      if (err == EINVAL || err == ENOSYS) {
        // Filesystem without RENAME_NOREPLACE: link() also refuses an existing target.
        if (::link(temp_path_.c_str(), path_.c_str()) != 0) {
          throw_io("cannot create '" + path_ + "'", errno);
        }
        ::unlink(temp_path_.c_str());
      } else {
        throw_io("cannot rename '" + temp_path_ + "' to '" + path_ + "'", err);
      }
    }
  }
  committed_ = true;
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_io("cannot close '" + path_ + "'", errno);
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace hexz::io
