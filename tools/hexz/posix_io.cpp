#include "posix_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "hexz/error.hpp"

namespace hexz::cli {

std::string errno_message(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

int write_all(int fd, std::span<const std::byte> data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // Should not happen for a non-empty write; avoid spinning.
    data = data.subspan(static_cast<size_t>(n));
  }
  return 0;
}

void pwrite_all(int fd, std::span<const std::byte> data, uint64_t offset, const std::string& name) {
  while (!data.empty()) {
    if (offset > static_cast<uint64_t>(std::numeric_limits<off_t>::max()) - data.size()) {
      throw Error(ErrorCode::kIo, errno_message("cannot write " + name, EFBIG));
    }
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorCode::kIo, errno_message("cannot write " + name, errno));
    }
    if (n == 0) throw Error(ErrorCode::kIo, errno_message("cannot write " + name, EIO));
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
}

}  // namespace hexz::cli
