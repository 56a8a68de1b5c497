#include "io/readable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hexz/error.hpp"

namespace hexz::io {

namespace {

class LocalFile final : public ReadableFile {
 public:
  LocalFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~LocalFile() override { ::close(fd_); }

  uint64_t size() const override { return size_; }
  const std::string& name() const override { return path_; }

  void read_at(uint64_t offset, std::span<std::byte> out) const override {
    if (offset > size_ || out.size() > size_ - offset) {
      throw Error(ErrorCode::kTruncated,
                  "'" + path_ + "' is truncated: a section ends past the end of the file");
    }
    size_t done = 0;
    while (done < out.size()) {
      const ssize_t r =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw Error(ErrorCode::kIo, "cannot read '" + path_ + "': " + std::strerror(errno));
      }
      if (r == 0)
        throw Error(ErrorCode::kTruncated, "'" + path_ + "' is truncated (it shrank while open)");
      done += static_cast<size_t>(r);
    }
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

}  // namespace

std::unique_ptr<ReadableFile> open_local_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot open snapshot '" + path + "': " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kInvalidArgument, "snapshot '" + path + "' is not a regular file");
  }
  return std::make_unique<LocalFile>(path, fd, static_cast<uint64_t>(st.st_size));
}

}  // namespace hexz::io
