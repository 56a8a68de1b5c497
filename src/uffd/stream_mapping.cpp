// hexz::map_stream (include/hexz/memory.hpp): a private mapping of a stream filled on first
// touch by a userfaultfd served from a thread of this process.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "hexz/error.hpp"
#include "hexz/memory.hpp"
#include "uffd/fault_server.hpp"
#include "uffd/userfaultfd.hpp"

namespace hexz {
namespace {

constexpr uint64_t kPage = 4096;

class LazyStreamMapping final : public StreamMapping {
 public:
  LazyStreamMapping(const Snapshot& snapshot, Stream stream, const MemoryServeOptions& options)
      : size_(snapshot.size(stream)), mapped_((size_ + kPage - 1) / kPage * kPage) {
    void* p = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      throw Error(ErrorCode::kIo, std::string("cannot map ") + std::to_string(mapped_) +
                                      " bytes: " + std::strerror(errno));
    }
    data_ = static_cast<std::byte*>(p);
    try {
      uffd_ = uffd::create_userfaultfd(0);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnsupported) {
        ::munmap(data_, mapped_);
        throw;
      }
    }
    if (uffd_ < 0) {
      fill_eagerly(snapshot, stream);
      return;
    }
    try {
      uffd::register_missing(uffd_, reinterpret_cast<uint64_t>(data_), mapped_);
      MemoryRegion region;
      region.host_address = reinterpret_cast<uint64_t>(data_);
      region.size = mapped_;
      region.offset = 0;
      region.page_size = kPage;
      server_ = std::make_unique<uffd::FaultServer>(
          snapshot, stream, uffd_, std::span<const MemoryRegion>(&region, 1), options);
      stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
      if (stop_fd_ < 0) {
        throw Error(ErrorCode::kIo, std::string("eventfd: ") + std::strerror(errno));
      }
    } catch (...) {
      release();
      throw;
    }
    thread_ = std::thread([this] {
      try {
        server_->run(stop_fd_, {});
      } catch (const std::exception& e) {
        // A thread of this process waits for a page that cannot be read; returning would leave
        // it hanging or (once unregistered) reading zeros. Like a mapped file's I/O error, this
        // ends the process.
        std::fprintf(stderr, "hexz: fatal: cannot fill a page of a mapped stream: %s\n", e.what());
        std::abort();
      }
    });
  }

  ~LazyStreamMapping() override {
    if (thread_.joinable()) {
      const uint64_t one = 1;
      (void)::write(stop_fd_, &one, sizeof one);
      thread_.join();
    }
    release();
  }

  std::byte* data() const override { return data_; }
  uint64_t size() const override { return size_; }
  bool lazy() const override { return server_ != nullptr; }
  MemoryServeStats stats() const override {
    return server_ ? server_->stats() : MemoryServeStats{};
  }

 private:
  void fill_eagerly(const Snapshot& snapshot, Stream stream) {
    constexpr uint64_t kPiece = 8ull << 20;
    try {
      for (uint64_t at = 0; at < size_; at += kPiece) {
        const uint64_t n = std::min(kPiece, size_ - at);
        snapshot.read(stream, at, std::span<std::byte>(data_ + at, n));
      }
    } catch (...) {
      ::munmap(data_, mapped_);
      data_ = nullptr;
      throw;
    }
  }
  void release() {
    if (data_ != nullptr) ::munmap(data_, mapped_);
    data_ = nullptr;
    if (uffd_ >= 0) ::close(uffd_);
    uffd_ = -1;
    if (stop_fd_ >= 0) ::close(stop_fd_);
    stop_fd_ = -1;
  }

  uint64_t size_;
  uint64_t mapped_;
  std::byte* data_ = nullptr;
  int uffd_ = -1;
  int stop_fd_ = -1;
  std::unique_ptr<uffd::FaultServer> server_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<StreamMapping> map_stream(const Snapshot& snapshot, Stream stream,
                                          const MemoryServeOptions& options) {
  if (!snapshot.has_stream(stream) || snapshot.size(stream) == 0) {
    throw Error(ErrorCode::kOutOfRange,
                std::string("the snapshot has no ") + stream_name(stream) + " stream to map");
  }
  return std::make_unique<LazyStreamMapping>(snapshot, stream, options);
}

}  // namespace hexz
