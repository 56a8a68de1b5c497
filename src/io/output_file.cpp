#include "io/output_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "hexz/error.hpp"

namespace hexz::io {

namespace {

std::string dir_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

[[noreturn]] void throw_io(const std::string& what, int err) {
  const ErrorCode code = err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo;
  throw Error(code, what + ": " + std::strerror(err));
}

}  // namespace

AtomicOutputFile::AtomicOutputFile(const std::string& path, bool overwrite)
    : path_(path), dir_(dir_of(path)), overwrite_(overwrite) {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "no output path given");
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0) {
    throw Error(ErrorCode::kNotFound, "output directory '" + dir_ + "' does not exist");
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "output directory '" + dir_ + "' is not a directory");
  }
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      throw Error(ErrorCode::kInvalidArgument, "output '" + path + "' is a directory");
    }
    if (!overwrite) {
      throw Error(ErrorCode::kAlreadyExists,
                  "output '" + path + "' already exists (use --force to replace it)");
    }
  }
  std::vector<char> name(path.begin(), path.end());
  const std::string suffix = ".tmp-XXXXXX";
  name.insert(name.end(), suffix.begin(), suffix.end());
  name.push_back('\0');
  fd_ = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd_ < 0) throw_io("cannot create a temporary file in '" + dir_ + "'", errno);
  temp_path_ = name.data();
  ::fchmod(fd_, 0644);
}

AtomicOutputFile::~AtomicOutputFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void AtomicOutputFile::write_all(uint64_t offset, std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t w =
        ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_io("cannot write '" + temp_path_ + "'", errno);
    }
    done += static_cast<size_t>(w);
  }
}

void AtomicOutputFile::append(std::span<const std::byte> data) {
  write_all(position_, data);
  position_ += data.size();
}

void AtomicOutputFile::write_at(uint64_t offset, std::span<const std::byte> data) {
  write_all(offset, data);
}

void AtomicOutputFile::commit() {
  if (::fsync(fd_) != 0) throw_io("cannot sync '" + temp_path_ + "'", errno);
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw_io("cannot close '" + temp_path_ + "'", errno);
  }
  fd_ = -1;
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
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace hexz::io
