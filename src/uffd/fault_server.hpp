// The engine of the memory server: reads a userfaultfd's events and fills pages from a stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <vector>

#include "hexz/memory.hpp"
#include "uffd/page_states.hpp"
#include "uffd/service_times.hpp"
#include "uffd/userfaultfd.hpp"

namespace hexz::uffd {

/// Serves one userfaultfd from one stream (see hexz::serve_userfaultfd for the contract).
class FaultServer {
 public:
  /// Checks that every region lies within what the stream can back (a region may extend past
  /// the stream's end: those pages read as zeros). Throws hexz::Error (kInvalidArgument).
  FaultServer(const Snapshot& snapshot, Stream stream, int uffd,
              std::span<const MemoryRegion> regions, const MemoryServeOptions& options);

  /// Runs the worker threads (and hydration) until `stop_fd` is readable or hangs up, or
  /// stop() is called; rethrows the first error a worker hit.
  void run(int stop_fd, const std::function<void(const MemoryServeStats&)>& on_stats);
  /// Makes run() return soon (thread-safe).
  void stop() { stop_.store(true); }
  /// The counters so far (thread-safe).
  MemoryServeStats stats() const;
  /// Pages never filled (neither by a fault nor by hydration) nor removed.
  uint64_t missing_pages() const;

 private:
  /// Why a fill stopped.
  enum class Outcome { kDone, kDeferred, kGone };
  /// One worker: poll, read events (REMOVE applied at once), serve faults, retry deferred ones.
  void worker(int stop_fd, bool reports, const std::function<void(const MemoryServeStats&)>& cb);
  /// Pages a fault planned to fill beyond its own, filled once no event is waiting.
  struct Later {
    int region;
    uint64_t lo, hi;
  };
  /// Fills the faulting page (and the zeros around it) now; the rest of what plan() chose is
  /// appended to `later`.
  Outcome serve_fault(uint64_t address, std::vector<Later>* later);
  /// Fills the pages of [lo, hi) still missing (prefetch for an earlier fault).
  Outcome fill_later(const Later& item);
  /// Fills pages [lo, hi) of region `r` from the stream (only those still missing are
  /// attempted), the group holding `first` first. With `later`, stops after the faulting page
  /// and the zero groups before the next data group, and appends the rest there.
  Outcome fill_pages(int r, uint64_t lo, uint64_t hi, uint64_t first, uint64_t* filled,
                     std::vector<Later>* later = nullptr);
  /// Fills pages [lo, hi) of region `r`, all data (zero=false) or all zeros. Pages marked
  /// removed are skipped unless `removed_too` (the zero fill of a removed page).
  Outcome fill_group(int r, uint64_t lo, uint64_t hi, bool zero, uint64_t* filled,
                     bool removed_too = false);
  /// The page range [lo, hi) a fault at page `page` of region `r` should fill.
  void plan(int r, uint64_t page, uint64_t* lo, uint64_t* hi) const;
  /// Fills every page still missing, in order (the hydrate option).
  void hydrate();
  void fail(std::exception_ptr e);

  const Snapshot& snapshot_;
  const Stream stream_;
  const uint64_t stream_size_;
  const int uffd_;
  const MemoryServeOptions options_;
  PageStates pages_;
  /// Per region: the last fault and the end of what it planned to fill, to recognise a toucher
  /// going through memory in order (a resume, a scan), and how far ahead its fills now go.
  struct Sequence {
    std::atomic<uint64_t> last_page{UINT64_MAX};
    std::atomic<uint64_t> planned_end{0};
    std::atomic<uint64_t> window{0};
  };
  std::vector<std::unique_ptr<Sequence>> sequences_;
  /// Held exclusively while events are read and removed ranges marked, shared around every
  /// fill ioctl (which first skips pages marked removed). The kernel zaps a removed range only
  /// after its event is read, so a fill either lands before the zap (which then clears it) or
  /// sees the range marked: stale data never lands in a removed page.
  std::shared_mutex fill_mu_;
  std::atomic<bool> stop_{false};
  std::atomic<int> active_faults_{0};
  std::mutex error_mu_;
  std::exception_ptr error_;
  ServiceTimes times_;
  std::atomic<uint64_t> faults_{0}, pages_copied_{0}, zero_pages_{0}, prefetched_{0},
      hydrated_pages_{0}, removed_{0}, exists_{0}, retries_{0};
  std::atomic<bool> hydrated_{false};
  std::atomic<uint64_t> start_ns_{0}, end_ns_{0};
};

}  // namespace hexz::uffd
