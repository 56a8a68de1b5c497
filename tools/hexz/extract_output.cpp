#include "extract_output.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "atomic_output.hpp"
#include "hexz/error.hpp"
#include "posix_io.hpp"

namespace hexz::cli {
namespace {

/// Zeros written per step where a run of zeros has to be written out.
constexpr size_t kZeroPiece = 1u << 20;

/// A buffer of kZeroPiece zero bytes.
std::span<const std::byte> zero_piece() {
  static const std::vector<std::byte> zeros(kZeroPiece);
  return zeros;
}

/// True unless HEXZ_DIRECT_IO=0 turns direct I/O off.
bool direct_io_allowed() {
  const char* v = std::getenv("HEXZ_DIRECT_IO");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

/// A regular file written through AtomicOutputFile; zero runs become holes. The whole pages of
/// each piece are written with O_DIRECT where the filesystem takes it: they skip the page cache
/// (no copy, no page allocation, and the final fsync finds them on the device already). Partial
/// pages at the edges of a data run, and everything if O_DIRECT is refused, go through the page
/// cache, with writeback started as they are written.
class FileOutput final : public ExtractOutput {
 public:
  FileOutput(const std::string& path, bool force, bool sync)
      : file_(path, force), sync_(sync), direct_ok_(direct_io_allowed()) {}
  void write(uint64_t offset, std::span<const std::byte> data) override {
    const uint64_t end = offset + data.size();
    const uint64_t first = (offset + kDirectAlignment - 1) / kDirectAlignment * kDirectAlignment;
    const uint64_t last = end / kDirectAlignment * kDirectAlignment;
    const auto address = reinterpret_cast<uintptr_t>(data.data()) + (first - offset);
    if (direct_ok_ && first < last && address % kDirectAlignment == 0) {
      buffered(offset, data.subspan(0, first - offset));
      const auto middle = data.subspan(first - offset, last - first);
      if (set_direct(true) && direct_write(first, middle)) {
        buffered(last, data.subspan(last - offset));
        return;
      }
      buffered(first, data.subspan(first - offset));  // O_DIRECT refused: the page cache
      return;
    }
    buffered(offset, data);
  }
  void zeros(uint64_t, uint64_t) override {}  // The final ftruncate leaves a hole.
  void finish(uint64_t size) override {
    set_direct(false);
    file_.commit(size, sync_);
  }

 private:
  /// Writes through the page cache and starts writeback, so that the final fsync overlaps with
  /// decoding instead of following it (advisory: a failure shows up in that fsync).
  void buffered(uint64_t offset, std::span<const std::byte> data) {
    if (data.empty()) return;
    set_direct(false);
    pwrite_all(file_.fd(), data, offset, file_.path());
    if (sync_) {
      ::sync_file_range(file_.fd(), static_cast<off_t>(offset), static_cast<off_t>(data.size()),
                        SYNC_FILE_RANGE_WRITE);
    }
  }
  /// pwrite()s `data` with O_DIRECT; false (direct I/O off from now on, nothing lost) if the
  /// filesystem or device refuses it. Throws kIo for any other error.
  bool direct_write(uint64_t offset, std::span<const std::byte> data) {
    while (!data.empty()) {
      const ssize_t w = ::pwrite(file_.fd(), data.data(), data.size(), static_cast<off_t>(offset));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && errno == EINVAL) {
        direct_ok_ = false;
        set_direct(false);
        return false;
      }
      if (w < 0) throw Error(ErrorCode::kIo, errno_message("cannot write " + file_.path(), errno));
      if (static_cast<size_t>(w) < data.size() && w % kDirectAlignment != 0) {
        buffered(offset + static_cast<uint64_t>(w), data.subspan(static_cast<size_t>(w)));
        return true;
      }
      data = data.subspan(static_cast<size_t>(w));
      offset += static_cast<uint64_t>(w);
    }
    return true;
  }
  /// Sets or clears O_DIRECT on the descriptor; false if it cannot be set (direct I/O off).
  bool set_direct(bool on) {
    if (on == direct_now_) return true;
    const int flags = ::fcntl(file_.fd(), F_GETFL);
    if (flags < 0 || ::fcntl(file_.fd(), F_SETFL, on ? flags | O_DIRECT : flags & ~O_DIRECT) != 0) {
      if (on) direct_ok_ = false;
      return false;
    }
    direct_now_ = on;
    return true;
  }

  AtomicOutputFile file_;
  bool sync_;
  bool direct_ok_;           ///< Direct I/O allowed and not refused so far.
  bool direct_now_ = false;  ///< O_DIRECT is set on the descriptor.
};

/// A block device written in place; zero runs are zeroed by the device (BLKZEROOUT) where it
/// can, else written.
class BlockDeviceOutput final : public ExtractOutput {
 public:
  BlockDeviceOutput(int fd, std::string path, bool sync)
      : fd_(fd), path_(std::move(path)), sync_(sync) {}
  ~BlockDeviceOutput() override { ::close(fd_); }
  void write(uint64_t offset, std::span<const std::byte> data) override {
    pwrite_all(fd_, data, offset, path_);
  }
  void zeros(uint64_t offset, uint64_t length) override {
    // BLKZEROOUT needs 512-byte aligned ranges; the unaligned edges are written.
    const uint64_t start = (offset + 511) / 512 * 512;
    const uint64_t end = (offset + length) / 512 * 512;
    if (zeroout_works_ && start < end) {
      uint64_t range[2] = {start, end - start};
      if (::ioctl(fd_, BLKZEROOUT, range) == 0) {
        write_zeros(offset, start - offset);
        write_zeros(end, offset + length - end);
        return;
      }
      zeroout_works_ = false;  // Not supported here: write zeros from now on.
    }
    write_zeros(offset, length);
  }
  void finish(uint64_t) override {
    if (sync_ && ::fsync(fd_) != 0)
      throw Error(ErrorCode::kIo, errno_message("cannot flush " + path_, errno));
  }

 private:
  void write_zeros(uint64_t offset, uint64_t length) {
    while (length > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(length, kZeroPiece));
      pwrite_all(fd_, zero_piece().subspan(0, n), offset, path_);
      offset += n;
      length -= n;
    }
  }

  int fd_;
  std::string path_;
  bool sync_;
  bool zeroout_works_ = true;
};

/// A byte stream (stdout, character device, FIFO): everything is written in order.
class StreamOutput final : public ExtractOutput {
 public:
  StreamOutput(int fd, std::string name, bool owned)
      : fd_(fd), name_(std::move(name)), owned_(owned) {}
  ~StreamOutput() override {
    if (owned_) ::close(fd_);
  }
  void write(uint64_t offset, std::span<const std::byte> data) override {
    skip_to(offset);
    put(data);
  }
  void zeros(uint64_t offset, uint64_t length) override {
    skip_to(offset);
    while (length > 0) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(length, kZeroPiece));
      put(zero_piece().subspan(0, n));
      length -= n;
    }
  }
  void finish(uint64_t size) override { skip_to(size); }

 private:
  /// Writes zeros up to `offset` (the caller announces every run, so normally none).
  void skip_to(uint64_t offset) {
    while (at_ < offset) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(offset - at_, kZeroPiece));
      put(zero_piece().subspan(0, n));
    }
  }
  void put(std::span<const std::byte> data) {
    const int err = write_all(fd_, data);
    if (err != 0) throw Error(ErrorCode::kIo, errno_message("cannot write to " + name_, err));
    at_ += data.size();
  }

  int fd_;
  std::string name_;
  bool owned_;
  uint64_t at_ = 0;
};

/// The FileId of an open descriptor.
FileId id_of(const struct stat& st) {
  return FileId{st.st_dev, st.st_ino};
}

/// Throws if `st` (of output `name`) is one of the inputs or outputs in `rules`.
void refuse_same(const struct stat& st, const std::string& name, const OutputRules& rules) {
  const FileId id = id_of(st);
  for (const FileId& in : rules.inputs) {
    if (in == id) {
      throw Error(ErrorCode::kInvalidArgument,
                  "output '" + name + "' is the snapshot being read (or one of its bases)");
    }
  }
  for (const FileId& out : rules.outputs) {
    if (out == id) {
      throw Error(ErrorCode::kInvalidArgument,
                  "output '" + name + "' is the same file as another output");
    }
  }
}

/// The size of block device `fd`. Throws kIo.
uint64_t device_size(int fd, const std::string& path) {
  uint64_t bytes = 0;
  if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0) {
    throw Error(ErrorCode::kIo, errno_message("cannot get the size of '" + path + "'", errno));
  }
  return bytes;
}

void check_device_size(uint64_t have, uint64_t need, const std::string& path) {
  if (have < need) {
    throw Error(ErrorCode::kInvalidArgument,
                "block device '" + path + "' is too small: " + std::to_string(have) +
                    " bytes, the stream needs " + std::to_string(need));
  }
}

}  // namespace

std::vector<FileId> file_id_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {id_of(st)};
}

std::vector<FileId> check_extract_output(const std::string& path, const OutputRules& rules) {
  struct stat st {};
  if (path == "-") {
    if (::isatty(STDOUT_FILENO) == 1) {
      throw Error(ErrorCode::kInvalidArgument,
                  "refusing to write image data to a terminal (redirect standard output)");
    }
    if (::fstat(STDOUT_FILENO, &st) != 0) {
      throw Error(ErrorCode::kIo, errno_message("cannot use standard output", errno));
    }
    refuse_same(st, "-", rules);
    return {id_of(st)};
  }
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    throw Error(ErrorCode::kIo, errno_message("cannot access output '" + path + "'", errno));
  }
  refuse_same(st, path, rules);
  if (S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "output '" + path + "' is a directory");
  }
  if (S_ISSOCK(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "output '" + path + "' is a socket");
  }
  if (S_ISREG(st.st_mode) && !rules.force) {
    throw Error(ErrorCode::kAlreadyExists,
                "output '" + path + "' already exists (use --force to replace it)");
  }
  if (S_ISBLK(st.st_mode)) {
    if (!rules.force) {
      throw Error(ErrorCode::kAlreadyExists, "output '" + path +
                                                 "' is a block device: use --force to overwrite "
                                                 "its contents");
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      throw Error(ErrorCode::kIo, errno_message("cannot open output '" + path + "'", errno));
    }
    uint64_t have = 0;
    try {
      have = device_size(fd, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    check_device_size(have, rules.size, path);
  }
  return {id_of(st)};
}

std::unique_ptr<ExtractOutput> open_extract_output(const std::string& path,
                                                   const OutputRules& rules) {
  check_extract_output(path, rules);
  if (path == "-") return std::make_unique<StreamOutput>(STDOUT_FILENO, "standard output", false);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || S_ISREG(st.st_mode)) {
    return std::make_unique<FileOutput>(path, rules.force, rules.sync);
  }
  // O_NONBLOCK: opening a FIFO without a reader fails (ENXIO) instead of hanging. O_EXCL on a
  // block device: refused while it is mounted or otherwise in use.
  const int flags =
      O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (S_ISBLK(st.st_mode) ? O_EXCL : 0);
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) {
    const int err = errno;
    if (err == ENXIO && S_ISFIFO(st.st_mode)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "output FIFO '" + path + "' has no reader (start the reader first)");
    }
    if (err == EBUSY) {
      throw Error(ErrorCode::kIo, "block device '" + path + "' is in use (mounted?)");
    }
    throw Error(ErrorCode::kIo, errno_message("cannot open output '" + path + "'", err));
  }
  struct stat opened {};
  if (::fstat(fd, &opened) != 0 || opened.st_mode != st.st_mode || opened.st_rdev != st.st_rdev) {
    ::close(fd);
    throw Error(ErrorCode::kIo, "output '" + path + "' changed while being opened");
  }
  const int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  if (S_ISBLK(st.st_mode)) {
    try {
      check_device_size(device_size(fd, path), rules.size, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    return std::make_unique<BlockDeviceOutput>(fd, path, rules.sync);
  }
  return std::make_unique<StreamOutput>(fd, "'" + path + "'", true);
}

}  // namespace hexz::cli
