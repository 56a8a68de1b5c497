#include "uffd/userfaultfd.hpp"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "hexz/error.hpp"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

namespace hexz::uffd {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

/// A userfaultfd from /dev/userfaultfd (Linux 6.1+, permission by file mode), or -1.
int from_device(int flags) {
  const int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (dev < 0) return -1;
  const int fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, flags);
  ::close(dev);
  return fd;
}

FillResult classify(long long result, uint64_t length, uint64_t* filled, const char* what) {
  if (result > 0) {
    *filled = static_cast<uint64_t>(result);
    return *filled >= length ? FillResult::kDone : FillResult::kPartial;
  }
  *filled = 0;
  switch (-result) {
    case EEXIST:
      return FillResult::kExists;
    case EAGAIN:
      return FillResult::kAgain;
    case ENOENT:
    case ESRCH:
      return FillResult::kGone;
    default:
      fail(what, static_cast<int>(-result));
  }
}

}  // namespace

int create_userfaultfd(uint64_t features) {
  const int flags = O_CLOEXEC | O_NONBLOCK;
  int fd = from_device(flags);
  if (fd < 0) fd = static_cast<int>(::syscall(SYS_userfaultfd, flags));
  if (fd < 0) {
    const int err = errno;
    if (err == EPERM || err == EACCES) {
      throw Error(ErrorCode::kUnsupported,
                  "userfaultfd is not permitted for this user (needs root or CAP_SYS_PTRACE, "
                  "read access to /dev/userfaultfd, or sysctl vm.unprivileged_userfaultfd=1)");
    }
    if (err == ENOSYS) throw Error(ErrorCode::kUnsupported, "this kernel has no userfaultfd");
    fail("cannot create a userfaultfd", err);
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  if (::ioctl(fd, UFFDIO_API, &api) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EINVAL) {
      throw Error(ErrorCode::kUnsupported, "this kernel's userfaultfd lacks a needed feature");
    }
    fail("UFFDIO_API", err);
  }
  return fd;
}

void register_missing(int fd, uint64_t address, uint64_t length) {
  uffdio_register reg{};
  reg.range.start = address;
  reg.range.len = length;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING;
  if (::ioctl(fd, UFFDIO_REGISTER, &reg) != 0) fail("UFFDIO_REGISTER", errno);
}

FillResult copy_pages(int fd, uint64_t dst, std::span<const std::byte> src, uint64_t* filled) {
  uffdio_copy c{};
  c.dst = dst;
  c.src = reinterpret_cast<uint64_t>(src.data());
  c.len = src.size();
  c.mode = 0;
  if (::ioctl(fd, UFFDIO_COPY, &c) == 0) {
    *filled = src.size();
    return FillResult::kDone;
  }
  const int err = errno;
  // The kernel reports progress in `copy`: bytes filled, or minus the error of the first page.
  const long long result = c.copy != 0 ? static_cast<long long>(c.copy) : -err;
  return classify(result, src.size(), filled, "UFFDIO_COPY");
}

FillResult zero_pages(int fd, uint64_t dst, uint64_t length, uint64_t* filled) {
  uffdio_zeropage z{};
  z.range.start = dst;
  z.range.len = length;
  z.mode = 0;
  if (::ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0) {
    *filled = length;
    return FillResult::kDone;
  }
  const int err = errno;
  const long long result = z.zeropage != 0 ? static_cast<long long>(z.zeropage) : -err;
  return classify(result, length, filled, "UFFDIO_ZEROPAGE");
}

void wake(int fd, uint64_t dst, uint64_t length) {
  uffdio_range r{};
  r.start = dst;
  r.len = length;
  // A failure only means nobody is waiting there any more.
  (void)::ioctl(fd, UFFDIO_WAKE, &r);
}

size_t read_events(int fd, std::span<Event> out) {
  constexpr size_t kBatch = 64;
  uffd_msg msgs[kBatch];
  const size_t want = std::min(out.size(), kBatch);
  const ssize_t n = ::read(fd, msgs, want * sizeof(uffd_msg));
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    fail("cannot read from the userfaultfd", errno);
  }
  const size_t count = static_cast<size_t>(n) / sizeof(uffd_msg);
  for (size_t i = 0; i < count; ++i) {
    Event& e = out[i];
    e = Event{};
    if (msgs[i].event == UFFD_EVENT_PAGEFAULT) {
      e.kind = Event::Kind::kPagefault;
      e.address = msgs[i].arg.pagefault.address;
    } else if (msgs[i].event == UFFD_EVENT_REMOVE) {
      e.kind = Event::Kind::kRemove;
      e.address = msgs[i].arg.remove.start;
      e.end = msgs[i].arg.remove.end;
    }
  }
  return count;
}

}  // namespace hexz::uffd
