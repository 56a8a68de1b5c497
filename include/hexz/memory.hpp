// Serving a snapshot's memory stream to a VM (or to this process) page by page, on first touch,
// through userfaultfd: the restore path of Firecracker-style microVMs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "hexz/snapshot.hpp"
#include "hexz/types.hpp"

namespace hexz {

/// One guest memory region as a VMM describes it (Firecracker's GuestRegionUffdMapping): the
/// VMM's mapping [host_address, host_address + size) holds bytes [offset, offset + size) of
/// the memory stream.
struct MemoryRegion {
  uint64_t host_address = 0;  ///< Start of the region in the VMM's address space.
  uint64_t size = 0;          ///< Bytes; a multiple of page_size.
  uint64_t offset = 0;        ///< Offset of the region in the memory stream.
  uint64_t page_size = 4096;  ///< 4096, or a huge page size (then every fill is a whole page).
};

/// How much a fault fills around the faulting page (only pages still missing are filled). The
/// faulting page is always filled first and alone; the rest follows when no fault is waiting.
enum class FillUnit {
  kPage,   ///< The faulting page alone.
  kChunk,  ///< The chunk holding the faulting page.
  kBlock,  ///< The run of chunks that one block decode provides (at most 1 MiB of zeros).
};

/// Settings of a memory server.
struct MemoryServeOptions {
  FillUnit fill = FillUnit::kBlock;
  /// Threads that read fault events and fill pages (at least 1).
  unsigned threads = 2;
  /// After the handshake, fill every page not yet touched in the background, in stream order
  /// (faults go first), so the VM ends fully resident.
  bool hydrate = false;
  /// Seconds to wait for the VMM's handshake after it connects.
  int handshake_timeout_s = 30;
  /// serve_memory_socket: if serving fails (the snapshot cannot be read), send SIGKILL to the
  /// VMM (the socket's peer) before returning the error. Once the server is gone, the kernel
  /// would fill the guest's missing pages with zeros, so a VM left running would run on wrong
  /// memory. Firecracker's example handlers do the same.
  bool kill_vmm_on_error = true;
};

/// What a memory server did (all counts since it started).
struct MemoryServeStats {
  uint64_t faults = 0;            ///< Page-fault events served.
  uint64_t pages_copied = 0;      ///< Pages filled with data (UFFDIO_COPY).
  uint64_t bytes_copied = 0;      ///< Bytes of those pages.
  uint64_t zero_pages = 0;        ///< Pages filled with zeros (UFFDIO_ZEROPAGE), no I/O.
  uint64_t prefetched_pages = 0;  ///< Pages filled by a fault beyond the faulting page.
  uint64_t hydrated_pages = 0;    ///< Pages filled by hydration.
  uint64_t removed_pages = 0;     ///< Pages the VMM removed (UFFD_EVENT_REMOVE: balloon).
  uint64_t already_present = 0;   ///< Fills that found the page present (EEXIST).
  uint64_t retries = 0;           ///< Fills deferred by EAGAIN until a REMOVE was read.
  uint64_t pages_total = 0;       ///< Pages in all regions.
  double p50_us = 0;              ///< Median fault service time, microseconds.
  double p99_us = 0;              ///< 99th percentile fault service time.
  double max_us = 0;              ///< Slowest fault.
  double seconds = 0;             ///< Time from the handshake to the end of serving.
  bool hydrated = false;          ///< Hydration finished: every page is resident.
  /// serve_memory_socket was stopped (stop_fd) while the VMM still ran with pages never
  /// filled, and killed it (see MemoryServeOptions::kill_vmm_on_error).
  bool vmm_killed = false;
};

/// Serves the faults of `uffd` (a userfaultfd with `regions` registered for missing pages, in
/// the process that registered them) from stream `stream` of `snapshot`, until `stop_fd`
/// becomes readable or hangs up (e.g. EOF on the VMM's socket; -1: until the process owning
/// the regions exits). Pages past the end of the stream read as zeros; zero chunks are filled
/// with UFFDIO_ZEROPAGE without I/O; after a REMOVE event the removed pages read as zeros.
/// `on_stats`, if set, is called about once a second with the counters so far. Does not close
/// `uffd`. Throws hexz::Error for a region outside the stream, or when a read of the snapshot
/// fails (the faulting VM could not go on).
MemoryServeStats serve_userfaultfd(
    const Snapshot& snapshot, Stream stream, int uffd, std::span<const MemoryRegion> regions,
    const MemoryServeOptions& options, int stop_fd = -1,
    const std::function<void(const MemoryServeStats&)>& on_stats = {});

/// Firecracker's page-fault handler protocol: listens on Unix socket `socket_path` (created;
/// a stale socket file there is replaced, anything else refused), accepts one VMM, reads its
/// handshake (the region JSON with the userfaultfd as SCM_RIGHTS), calls `on_connected` (if
/// set) and serves as serve_userfaultfd until the VMM closes the socket. Removes the socket file
/// before returning. `stop_fd` (if not -1) readable ends the wait or the serving early; a VMM
/// still running then with pages never filled is killed (unless !kill_vmm_on_error), since
/// those pages would read as zeros without a server.
MemoryServeStats serve_memory_socket(
    const Snapshot& snapshot, Stream stream, const std::string& socket_path,
    const MemoryServeOptions& options, int stop_fd = -1,
    const std::function<void(const std::vector<MemoryRegion>&)>& on_connected = {},
    const std::function<void(const MemoryServeStats&)>& on_stats = {});

/// A private mapping of a whole stream in this process, whose pages are filled from the
/// snapshot on first touch (userfaultfd, served by a thread of this object). Reading it
/// anywhere reads the stream; writes stay private. Where this process may not use userfaultfd,
/// the mapping is filled eagerly instead (lazy() is false).
class StreamMapping {
 public:
  virtual ~StreamMapping() = default;
  /// First byte of the mapping; size() bytes are readable (and writable, privately).
  virtual std::byte* data() const = 0;
  /// The stream's size.
  virtual uint64_t size() const = 0;
  /// True if pages are filled on first touch; false if the mapping was filled at creation.
  virtual bool lazy() const = 0;
  /// The serving thread's counters so far (all zero when not lazy).
  virtual MemoryServeStats stats() const = 0;
};

/// Maps stream `stream` of `snapshot` (which must outlive the mapping). Throws hexz::Error
/// (kOutOfRange for a missing or empty stream, kIo if the mapping cannot be made).
std::unique_ptr<StreamMapping> map_stream(const Snapshot& snapshot, Stream stream,
                                          const MemoryServeOptions& options = {});

}  // namespace hexz
