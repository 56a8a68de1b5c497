// Background prefetch: fetching what a trace (or an index preload) says reads will need, in
// coalesced range requests with several in flight, ahead of the reads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "format/records.hpp"
#include "io/readable_file.hpp"

namespace hexz::read {

/// One thing to load: an index page or a data block, and where its stored bytes lie.
struct PrefetchItem {
  enum class Kind : uint8_t { kPage, kBlock };
  Kind kind = Kind::kBlock;
  uint32_t page = 0;                       ///< kPage.
  uint8_t source = 0;                      ///< kBlock: 0 = this file, k = base k.
  format::BlockRef ref;                    ///< kBlock.
  const io::ReadableFile* file = nullptr;  ///< The file holding it.
  uint64_t offset = 0;                     ///< Its stored bytes in `file`.
  uint64_t length = 0;
};

/// One range request and the items it brings; `throttled` jobs (hydration) hold no items and
/// are paced by the bandwidth cap.
struct PrefetchJob {
  const io::ReadableFile* file = nullptr;
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<PrefetchItem> items;
  bool throttled = false;
};

/// Groups `items` (in the order they will be needed) into jobs: batches of about `batch_bytes`
/// taken in order; in each batch, items of one file whose stored bytes lie at most `max_gap`
/// apart are fetched by one request of at most `max_request` bytes (a larger item gets a request
/// of its own). Jobs are ordered by their first-needed item.
std::vector<PrefetchJob> plan_prefetch(const std::vector<PrefetchItem>& items, uint64_t batch_bytes,
                                       uint64_t max_gap, uint64_t max_request);

/// Runs jobs on `threads` background threads, in order: fetch the job's range
/// (ReadableFile::prefetch), then load each of its items with `load`. Before each job that holds
/// items it waits while `room()` is false (the caches would overflow); throttled jobs are paced
/// at `bytes_per_second`. Errors are swallowed (a read that needs the bytes reports them).
/// The destructor stops and joins the threads.
class Prefetcher {
 public:
  using Load = std::function<void(const PrefetchItem&)>;
  using Room = std::function<bool()>;
  Prefetcher(std::vector<PrefetchJob> jobs, unsigned threads, Load load, Room room,
             uint64_t bytes_per_second);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;

  /// Blocks until every job ran (or was given up).
  void wait() const;
  /// True once every job ran.
  bool done() const;
  /// Re-checks room() now (called when reads use prefetched data).
  void wake();

 private:
  void work();
  void pace(uint64_t bytes);

  std::vector<PrefetchJob> jobs_;
  Load load_;
  Room room_;
  uint64_t bytes_per_second_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  size_t next_ = 0;
  unsigned running_ = 0;
  bool stop_ = false;
  std::chrono::steady_clock::time_point pace_start_{};
  uint64_t paced_bytes_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace hexz::read
