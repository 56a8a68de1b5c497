// Thin wrappers over the userfaultfd(2) ioctls that the memory server and the lazy mapping use.
#pragma once

#include <cstdint>
#include <span>

namespace hexz::uffd {

/// Creates a userfaultfd for the calling process (non-blocking, close-on-exec): through
/// /dev/userfaultfd if it can be opened, else the userfaultfd(2) system call, then UFFDIO_API
/// asking for `features`. Throws hexz::Error (kUnsupported where the kernel or its settings do
/// not allow it, naming vm.unprivileged_userfaultfd) and returns the descriptor.
int create_userfaultfd(uint64_t features);

/// Registers [address, address + length) of the calling process with `fd` for missing-page
/// faults. Throws hexz::Error (kIo) on failure.
void register_missing(int fd, uint64_t address, uint64_t length);

/// Outcome of one fill ioctl.
enum class FillResult {
  kDone,     ///< The whole range was filled.
  kPartial,  ///< A prefix was filled (`filled` bytes); retry the rest.
  kExists,   ///< The first page is already present (EEXIST): skip it.
  kAgain,    ///< The address space is changing (EAGAIN: a REMOVE event must be read first).
  kGone,     ///< The range is no longer registered, or the process has exited (ENOENT, ESRCH).
};

/// UFFDIO_COPY of `src` to [dst, dst + src.size()) in the registered process, waking faulting
/// threads. `*filled` receives the bytes filled. Throws hexz::Error (kIo) on any other error.
FillResult copy_pages(int fd, uint64_t dst, std::span<const std::byte> src, uint64_t* filled);

/// UFFDIO_ZEROPAGE of [dst, dst + length), waking faulting threads; as copy_pages.
FillResult zero_pages(int fd, uint64_t dst, uint64_t length, uint64_t* filled);

/// UFFDIO_WAKE of [dst, dst + length): wakes threads waiting on a range someone else filled.
void wake(int fd, uint64_t dst, uint64_t length);

/// One event read from a userfaultfd.
struct Event {
  enum class Kind { kPagefault, kRemove, kOther };
  Kind kind = Kind::kOther;
  uint64_t address = 0;  ///< kPagefault: the faulting address.
  uint64_t end = 0;      ///< kRemove: [address, end) was removed.
};

/// Reads the events `fd` has ready without blocking into `out`; returns how many were read
/// (0 if none). Throws hexz::Error (kIo) on a read error.
size_t read_events(int fd, std::span<Event> out);

}  // namespace hexz::uffd
