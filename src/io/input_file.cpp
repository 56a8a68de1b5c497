#include "io/input_file.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "hexz/error.hpp"
#include "io/image_format.hpp"

namespace hexz::io {

namespace {
std::string errno_text(int err) {
  return std::strerror(err);
}
}  // namespace

InputFile::InputFile(const std::string& path, const std::string& role) : path_(path), role_(role) {
  // O_NONBLOCK: opening a FIFO without a writer would block; its type is refused below.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd_ < 0) {
    const int err = errno;
    const ErrorCode code = err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo;
    throw Error(code, "cannot open " + role + " '" + path + "': " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw Error(ErrorCode::kIo, "cannot stat " + role + " '" + path + "': " + errno_text(err));
  }
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorCode::kInvalidArgument,
                role + " '" + path + "' is a directory, not an image file");
  }
  if (S_ISREG(st.st_mode)) {
    size_ = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (::ioctl(fd_, BLKGETSIZE64, &bytes) != 0) {
      const int err = errno;
      ::close(fd_);
      throw Error(ErrorCode::kIo,
                  "cannot get the size of " + role + " '" + path + "': " + errno_text(err));
    }
    size_ = bytes;
    holes_supported_ = false;
  } else if (S_ISFIFO(st.st_mode)) {
    ::close(fd_);
    throw Error(ErrorCode::kInvalidArgument,
                role + " '" + path +
                    "' is a FIFO: an image is read at random, so it must be a regular file or "
                    "a block device");
  } else {
    ::close(fd_);
    throw Error(ErrorCode::kInvalidArgument,
                role + " '" + path + "' is not a regular file or block device");
  }
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  // Probe readability now so an unreadable input fails before any output is created.
  if (size_ > 0) {
    unsigned char probe;
    if (::pread(fd_, &probe, 1, 0) < 0) {
      const int err = errno;
      ::close(fd_);
      throw Error(ErrorCode::kIo, "cannot read " + role + " '" + path + "': " + errno_text(err));
    }
  }
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
}

StreamInput::StreamInput(int fd, std::string name, std::string role, bool refuse_containers)
    : fd_(fd),
      name_(std::move(name)),
      role_(std::move(role)),
      refuse_containers_(refuse_containers) {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    throw Error(ErrorCode::kIo,
                "cannot read " + role_ + " from " + name_ + ": " + errno_text(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, role_ + " " + name_ + " is a directory");
  }
}

void StreamInput::read_at(uint64_t, std::span<std::byte>) const {
  throw Error(ErrorCode::kInternal,
              role_ + " " + name_ + " is a stream: it cannot be read at random");
}

size_t StreamInput::read_next(std::span<std::byte> out) const {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t r = ::read(fd_, out.data() + got, out.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo,
                  "cannot read " + role_ + " from " + name_ + ": " + errno_text(errno));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  if (done_ == 0 && refuse_containers_) {
    const ImageFormat format = detect_image_head(out.first(got));
    if (format != ImageFormat::kRaw) {
      throw Error(ErrorCode::kUnsupported,
                  role_ + " on " + name_ + " is a " + image_format_name(format) +
                      " image, not a raw one: save it to a file (hexz reads it through "
                      "qemu-nbd then), or give --raw to pack the container's bytes");
    }
  }
  done_ += got;
  return got;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

Extent InputFile::next_data(uint64_t offset) const {
  if (offset >= size_) return {size_, 0};
  if (!holes_supported_) return {offset, size_ - offset};
  off_t data = ::lseek(fd_, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return {size_, 0};  // only a hole remains
    return {offset, size_ - offset};        // no SEEK_DATA support: treat as data
  }
  const uint64_t start = std::min<uint64_t>(static_cast<uint64_t>(data), size_);
  off_t hole = ::lseek(fd_, data, SEEK_HOLE);
  uint64_t end = hole < 0 ? size_ : std::min<uint64_t>(static_cast<uint64_t>(hole), size_);
  if (end < start) end = start;
  return {start, end - start};
}

void InputFile::read_at(uint64_t offset, std::span<std::byte> out) const {
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t r =
        ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo,
                  "cannot read " + role_ + " '" + path_ + "': " + errno_text(errno));
    }
    if (r == 0) {
      throw Error(ErrorCode::kTruncated, role_ + " '" + path_ + "' shrank while being packed");
    }
    done += static_cast<size_t>(r);
  }
  bytes_read_ += out.size();
}

}  // namespace hexz::io
