#include "support/fake_vmm.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

namespace hexz_test {
namespace {

constexpr uint64_t kPage = 4096;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

/// Firecracker's way: /dev/userfaultfd if it can be opened, else the system call.
int new_userfaultfd() {
  const int flags = O_CLOEXEC | O_NONBLOCK;
  const int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev >= 0) {
    const int fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, flags);
    ::close(dev);
    if (fd >= 0) return fd;
  }
  return static_cast<int>(::syscall(SYS_userfaultfd, flags));
}

}  // namespace

std::string FakeVmm::unavailable_reason() {
  const int fd = new_userfaultfd();
  if (fd < 0) {
    return std::string("userfaultfd is not permitted here (") + std::strerror(errno) +
           "; run as root or set vm.unprivileged_userfaultfd=1)";
  }
  ::close(fd);
  return "";
}

FakeVmm::FakeVmm(std::vector<uint64_t> sizes, uint64_t gap) : sizes_(std::move(sizes)) {
  uint64_t total = 0;
  for (uint64_t s : sizes_) {
    offsets_.push_back(total);
    total += s;
  }
  reserved_ = total + gap * sizes_.size();
  void* r =
      ::mmap(nullptr, reserved_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) fail("mmap reservation");
  reservation_ = static_cast<std::byte*>(r);
  uffd_ = new_userfaultfd();
  if (uffd_ < 0) fail("userfaultfd");
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_EVENT_REMOVE;
  if (::ioctl(uffd_, UFFDIO_API, &api) != 0) fail("UFFDIO_API");
  std::byte* at = reservation_;
  for (uint64_t s : sizes_) {
    void* p = ::mmap(at, s, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail("mmap region");
    bases_.push_back(static_cast<std::byte*>(p));
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(p);
    reg.range.len = s;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (::ioctl(uffd_, UFFDIO_REGISTER, &reg) != 0) fail("UFFDIO_REGISTER");
    at += s + gap;  // The gap stays PROT_NONE: the regions are not contiguous.
  }
}

FakeVmm::~FakeVmm() {
  hang_up();
  if (reservation_ != nullptr) ::munmap(reservation_, reserved_);
  if (uffd_ >= 0) ::close(uffd_);
}

std::string FakeVmm::handshake_json() const {
  std::string json = "[";
  for (size_t k = 0; k < sizes_.size(); ++k) {
    if (k != 0) json += ",";
    json += "{\"base_host_virt_addr\":" + std::to_string(reinterpret_cast<uint64_t>(bases_[k])) +
            ",\"size\":" + std::to_string(sizes_[k]) +
            ",\"offset\":" + std::to_string(offsets_[k]) +
            ",\"page_size\":4096,\"page_size_kib\":4096}";
  }
  return json + "]";
}

void FakeVmm::connect(const std::string& socket, int timeout_ms, const std::string& json,
                      bool send_fd) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    sock_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock_ < 0) fail("socket");
    if (::connect(sock_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
    const int err = errno;
    ::close(sock_);
    sock_ = -1;
    if ((err != ENOENT && err != ECONNREFUSED) || std::chrono::steady_clock::now() > deadline) {
      errno = err;
      fail("cannot connect to " + socket);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string body = json.empty() ? handshake_json() : json;
  iovec iov{const_cast<char*>(body.data()), body.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  if (send_fd) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &uffd_, sizeof(int));
  }
  if (::sendmsg(sock_, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(body.size())) fail("sendmsg");
}

void FakeVmm::hang_up() {
  if (sock_ >= 0) ::close(sock_);
  sock_ = -1;
}

void FakeVmm::remove(size_t k, uint64_t offset, uint64_t length) {
  if (::madvise(bases_[k] + offset, length, MADV_DONTNEED) != 0) fail("madvise");
}

uint64_t FakeVmm::touch_and_compare(std::span<const unsigned char> image, unsigned threads,
                                    std::string* first_bad) const {
  struct Page {
    size_t region;
    uint64_t index;
  };
  std::vector<Page> pages;
  for (size_t k = 0; k < sizes_.size(); ++k) {
    for (uint64_t p = 0; p < sizes_[k] / kPage; ++p) pages.push_back({k, p});
  }
  std::atomic<uint64_t> bad{0};
  std::mutex mu;
  const auto check = [&](const Page& pg) {
    const std::byte* got = bases_[pg.region] + pg.index * kPage;
    const uint64_t at = offsets_[pg.region] + pg.index * kPage;
    unsigned char want[kPage] = {};
    if (at < image.size()) {
      std::memcpy(want, image.data() + at, std::min<uint64_t>(kPage, image.size() - at));
    }
    if (std::memcmp(got, want, kPage) != 0) {
      if (bad.fetch_add(1) == 0 && first_bad != nullptr) {
        std::lock_guard lock(mu);
        *first_bad = "region " + std::to_string(pg.region) + " page " + std::to_string(pg.index) +
                     " (file offset " + std::to_string(at) + ") differs";
      }
    }
  };
  std::vector<std::thread> workers;
  const unsigned n = std::max(1u, threads);
  for (unsigned t = 0; t < n; ++t) {
    workers.emplace_back([&, t] {
      if (t % 2 == 0) {
        // In order, each thread its share (and the first page of the next share too: two
        // threads then touch some pages at the same time).
        const size_t share = (pages.size() + n - 1) / n;
        const size_t lo = std::min(pages.size(), share * t);
        const size_t hi = std::min(pages.size(), lo + share + 1);
        for (size_t i = lo; i < hi; ++i) check(pages[i]);
        for (size_t i = t; i < pages.size(); i += n) check(pages[i]);
      } else {
        std::mt19937_64 rng(1000 + t);
        for (size_t i = 0; i < pages.size(); ++i) check(pages[rng() % pages.size()]);
        for (size_t i = t; i < pages.size(); i += n) check(pages[i]);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  return bad.load();
}

}  // namespace hexz_test
