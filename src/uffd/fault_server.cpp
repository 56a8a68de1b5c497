#include "uffd/fault_server.hpp"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "hexz/error.hpp"

namespace hexz::uffd {
namespace {

/// Widest run of zeros one fault fills (kBlock): a window of this size around the fault.
constexpr uint64_t kZeroWindow = 1ull << 20;
/// Furthest a run of sequential faults fills ahead of the faulting page.
constexpr uint64_t kMaxSequentialBytes = 2ull << 20;
/// Largest data fill done with one read and one UFFDIO_COPY.
constexpr uint64_t kMaxGroupBytes = 4ull << 20;

uint64_t now_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

/// Zeros for huge pages, which UFFDIO_ZEROPAGE does not fill.
std::span<const std::byte> zeros(uint64_t length) {
  static const std::vector<std::byte> buffer(kMaxGroupBytes);
  return {buffer.data(), static_cast<size_t>(std::min<uint64_t>(length, buffer.size()))};
}

}  // namespace

FaultServer::FaultServer(const Snapshot& snapshot, Stream stream, int uffd,
                         std::span<const MemoryRegion> regions, const MemoryServeOptions& options)
    : snapshot_(snapshot),
      stream_(stream),
      stream_size_(snapshot.size(stream)),
      uffd_(uffd),
      options_(options),
      pages_(regions) {
  if (regions.empty()) throw Error(ErrorCode::kInvalidArgument, "no memory regions to serve");
  for (size_t i = 0; i < regions.size(); ++i) sequences_.push_back(std::make_unique<Sequence>());
  for (size_t i = 0; i < regions.size(); ++i) {
    const MemoryRegion& r = regions[i];
    const uint64_t backed = (stream_size_ + r.page_size - 1) / r.page_size * r.page_size;
    if (r.offset > backed || r.size > backed - r.offset) {
      throw Error(ErrorCode::kInvalidArgument,
                  "memory region " + std::to_string(i) + " (offset " + std::to_string(r.offset) +
                      ", size " + std::to_string(r.size) + ") extends past the end of the " +
                      stream_name(stream) + " stream (size " + std::to_string(stream_size_) +
                      "): is this the snapshot of this VM?");
    }
  }
}

MemoryServeStats FaultServer::stats() const {
  MemoryServeStats s;
  s.faults = faults_.load();
  s.pages_copied = pages_copied_.load();
  for (size_t r = 0; r < pages_.regions().size(); ++r) {
    s.pages_total += pages_.page_count(static_cast<int>(r));
  }
  // Regions share one page size in practice; count bytes per region's page size otherwise.
  s.bytes_copied =
      s.pages_copied * (pages_.regions().empty() ? 4096 : pages_.regions()[0].page_size);
  s.zero_pages = zero_pages_.load();
  s.prefetched_pages = prefetched_.load();
  s.hydrated_pages = hydrated_pages_.load();
  s.removed_pages = removed_.load();
  s.already_present = exists_.load();
  s.retries = retries_.load();
  s.p50_us = times_.quantile_us(0.50);
  s.p99_us = times_.quantile_us(0.99);
  s.max_us = times_.max_us();
  const uint64_t end = end_ns_.load() != 0 ? end_ns_.load() : now_ns();
  s.seconds = start_ns_.load() != 0 ? static_cast<double>(end - start_ns_.load()) / 1e9 : 0;
  s.hydrated = hydrated_.load();
  return s;
}

uint64_t FaultServer::missing_pages() const {
  uint64_t n = 0;
  for (size_t r = 0; r < pages_.regions().size(); ++r) {
    const int ri = static_cast<int>(r);
    for (uint64_t p = 0; p < pages_.page_count(ri); ++p) {
      if (pages_.get(ri, p) == PageState::kMissing) ++n;
    }
  }
  return n;
}

void FaultServer::fail(std::exception_ptr e) {
  {
    std::lock_guard lock(error_mu_);
    if (!error_) error_ = e;
  }
  stop_.store(true);
}

void FaultServer::plan(int r, uint64_t page, uint64_t* lo, uint64_t* hi) const {
  const MemoryRegion& region = pages_.regions()[r];
  const uint64_t ps = region.page_size;
  const uint64_t at = region.offset + page * ps;
  uint64_t want_lo = at, want_hi = at + ps;
  if (options_.fill != FillUnit::kPage) {
    if (at >= stream_size_) {
      want_lo = at / kZeroWindow * kZeroWindow;
      want_hi = want_lo + kZeroWindow;
    } else {
      const ChunkPlacement p = snapshot_.locate(stream_, at);
      if (options_.fill == FillUnit::kChunk) {
        want_lo = p.chunk_offset;
        want_hi = p.chunk_offset + p.chunk_length;
      } else {
        want_lo = p.run_offset;
        want_hi = p.run_offset + p.run_length;
        if (p.zero) {
          const uint64_t w = at / kZeroWindow * kZeroWindow;
          want_lo = std::max(want_lo, w);
          want_hi = std::min(want_hi, w + kZeroWindow);
        }
      }
      want_lo = std::min(want_lo, at);
      want_hi = std::max(want_hi, at + ps);
    }
  }
  const uint64_t pages = pages_.page_count(r);
  const uint64_t first = want_lo <= region.offset ? 0 : (want_lo - region.offset) / ps;
  const uint64_t last =
      std::min(pages, want_hi <= region.offset ? 1 : (want_hi - region.offset + ps - 1) / ps);
  // Only the pages still missing next to the faulting one.
  uint64_t a = page, b = page + 1;
  while (a > first && pages_.get(r, a - 1) == PageState::kMissing) --a;
  while (b < last && pages_.get(r, b) == PageState::kMissing) ++b;
  *lo = a;
  *hi = b;
}

FaultServer::Outcome FaultServer::fill_group(int r, uint64_t lo, uint64_t hi, bool zero,
                                             uint64_t* filled, bool removed_too) {
  const MemoryRegion& region = pages_.regions()[r];
  const uint64_t ps = region.page_size;
  thread_local std::vector<std::byte> buffer;
  uint64_t page = lo;
  while (page < hi) {
    const uint64_t count = std::min(hi - page, std::max<uint64_t>(1, kMaxGroupBytes / ps));
    const uint64_t length = count * ps;
    const uint64_t dst = region.host_address + page * ps;
    std::span<const std::byte> src;
    if (!zero) {
      buffer.resize(length);
      const uint64_t at = region.offset + page * ps;
      const uint64_t in_stream = at >= stream_size_ ? 0 : std::min(length, stream_size_ - at);
      if (in_stream != 0) {
        snapshot_.read(stream_, at, std::span<std::byte>(buffer.data(), in_stream));
      }
      std::memset(buffer.data() + in_stream, 0, length - in_stream);
      src = std::span<const std::byte>(buffer.data(), length);
    }
    uint64_t done = 0;
    while (done < length) {
      uint64_t n = 0;
      FillResult res;
      std::shared_lock lock(fill_mu_);
      // Never fill a page the VMM removed since this fill was planned: skip it (its next fault
      // gets zeros), and fill only up to the next removed page.
      uint64_t span = 0;
      if (!removed_too) {
        while (done + span < length &&
               pages_.get(r, page + (done + span) / ps) != PageState::kRemoved) {
          span += ps;
        }
        if (span == 0) {
          done += ps;
          continue;
        }
      } else {
        span = length - done;
      }
      if (!zero) {
        res = copy_pages(uffd_, dst + done, src.subspan(done, span), &n);
      } else if (ps == 4096) {
        res = zero_pages(uffd_, dst + done, span, &n);
      } else {
        res = copy_pages(uffd_, dst + done, zeros(ps), &n);
        if (res == FillResult::kPartial) res = FillResult::kDone;  // Whole huge pages only.
      }
      if (res == FillResult::kAgain) return Outcome::kDeferred;
      if (res == FillResult::kGone) return Outcome::kGone;
      if (res == FillResult::kExists) {
        // Someone filled it first; make sure its waiters run.
        pages_.mark_filled(r, page + done / ps);
        lock.unlock();
        wake(uffd_, dst + done, ps);
        exists_.fetch_add(1, std::memory_order_relaxed);
        done += ps;
        continue;
      }
      // States change under the lock too, so that a REMOVE read after this fill is never
      // overwritten by it.
      n = n / ps * ps;
      for (uint64_t p = 0; p < n / ps; ++p) {
        const uint64_t index = page + done / ps + p;
        if (removed_too) {
          pages_.mark_zeroed(r, index);
        } else {
          pages_.mark_filled(r, index);
        }
      }
      lock.unlock();
      (zero ? zero_pages_ : pages_copied_).fetch_add(n / ps, std::memory_order_relaxed);
      *filled += n / ps;
      done += n;
    }
    page += count;
  }
  return Outcome::kDone;
}

FaultServer::Outcome FaultServer::fill_pages(int r, uint64_t lo, uint64_t hi, uint64_t first,
                                             uint64_t* filled, std::vector<Later>* later) {
  const MemoryRegion& region = pages_.regions()[r];
  const uint64_t ps = region.page_size;
  const uint64_t start = region.offset + lo * ps;
  const uint64_t end = region.offset + hi * ps;
  // Which pages are all zeros: inside zero chunks (the index says so) or past the stream.
  std::vector<uint8_t> is_zero(hi - lo, 0);
  const uint64_t in_end = std::min(end, stream_size_);
  for (uint64_t p = lo; p < hi; ++p) {
    if (region.offset + p * ps >= stream_size_) is_zero[p - lo] = 1;
  }
  if (start < in_end) {
    snapshot_.for_each_extent(stream_, start, in_end - start,
                              [&](uint64_t off, uint64_t len, bool zero) {
                                if (!zero) return;
                                const uint64_t a = (off - start + ps - 1) / ps;
                                uint64_t b = (off + len - start) / ps;
                                // A zero run that reaches the stream's end covers its last page.
                                if (off + len == stream_size_) b = (end - start) / ps;
                                for (uint64_t p = a; p < b && p < hi - lo; ++p) is_zero[p] = 1;
                              });
  }
  // Groups of like pages; the one holding the faulting page first.
  struct Group {
    uint64_t lo, hi;
    bool zero;
  };
  std::vector<Group> groups;
  for (uint64_t p = lo; p < hi;) {
    uint64_t q = p + 1;
    while (q < hi && is_zero[q - lo] == is_zero[p - lo]) ++q;
    groups.push_back({p, q, is_zero[p - lo] != 0});
    p = q;
  }
  std::stable_partition(groups.begin(), groups.end(),
                        [&](const Group& g) { return g.lo <= first && first < g.hi; });
  // The faulting page alone first: its vCPU resumes after one page is read (an LZ4 block
  // decodes only up to it) and copied; the rest of its group follows from the decoded block.
  if (later != nullptr && !groups.empty() && !groups[0].zero && groups[0].hi - groups[0].lo > 1 &&
      first >= lo && first < hi) {
    const Group g = groups[0];
    std::vector<Group> split = {{first, first + 1, false}};
    if (first + 1 < g.hi) split.push_back({first + 1, g.hi, false});
    if (g.lo < first) split.push_back({g.lo, first, false});
    groups.erase(groups.begin());
    groups.insert(groups.begin(), split.begin(), split.end());
  }
  for (size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    if (later != nullptr && i != 0 && !g.zero) {
      // The faulting page is in: its vCPU runs on. The data around it comes when idle.
      later->push_back({r, lo, hi});
      return Outcome::kDone;
    }
    const Outcome o = fill_group(r, g.lo, g.hi, g.zero, filled);
    if (o != Outcome::kDone) return o;
  }
  return Outcome::kDone;
}

FaultServer::Outcome FaultServer::fill_later(const Later& item) {
  uint64_t filled = 0;
  for (uint64_t p = item.lo; p < item.hi;) {
    if (pages_.get(item.region, p) != PageState::kMissing) {
      ++p;
      continue;
    }
    uint64_t q = p + 1;
    while (q < item.hi && pages_.get(item.region, q) == PageState::kMissing) ++q;
    const Outcome o = fill_pages(item.region, p, q, p, &filled);
    if (o != Outcome::kDone) {
      prefetched_.fetch_add(filled, std::memory_order_relaxed);
      return o;
    }
    p = q;
  }
  prefetched_.fetch_add(filled, std::memory_order_relaxed);
  return Outcome::kDone;
}

FaultServer::Outcome FaultServer::serve_fault(uint64_t address, std::vector<Later>* later) {
  const int r = pages_.region_of(address);
  if (r < 0) return Outcome::kDone;  // Not ours (cannot happen with a well-behaved VMM).
  const MemoryRegion& region = pages_.regions()[r];
  const uint64_t page = (address - region.host_address) / region.page_size;
  uint64_t filled = 0;
  if (pages_.get(r, page) == PageState::kRemoved) {
    return fill_group(r, page, page + 1, true, &filled, true);
  }
  uint64_t lo, hi;
  plan(r, page, &lo, &hi);
  bool sequential = false;
  if (options_.fill == FillUnit::kBlock) {
    // A fault just past the previous one, within what that one planned (or right after it):
    // the toucher goes through memory in order. Fill ahead of it at once, in one go, twice as
    // far each time up to kMaxSequentialBytes: the reader decodes the blocks of one long read
    // in parallel, and the toucher then runs through them without faulting.
    Sequence& seq = *sequences_[r];
    const uint64_t last = seq.last_page.load(std::memory_order_relaxed);
    const uint64_t end = seq.planned_end.load(std::memory_order_relaxed);
    sequential = last != UINT64_MAX && page > last && page <= end;
    uint64_t window = hi - page;
    if (sequential) {
      const uint64_t most = std::max<uint64_t>(1, kMaxSequentialBytes / region.page_size);
      window = std::min(most, std::max(window, 2 * seq.window.load(std::memory_order_relaxed)));
      const uint64_t limit = std::min(pages_.page_count(r), page + window);
      while (hi < limit && pages_.get(r, hi) == PageState::kMissing) ++hi;
    }
    seq.window.store(window, std::memory_order_relaxed);
    seq.last_page.store(page, std::memory_order_relaxed);
    seq.planned_end.store(hi, std::memory_order_relaxed);
  }
  const Outcome o = fill_pages(r, lo, hi, page, &filled, sequential ? nullptr : later);
  if (filled > 1) prefetched_.fetch_add(filled - 1, std::memory_order_relaxed);
  // The faulting page was removed while this fill ran (and skipped): it reads zeros now.
  if (o == Outcome::kDone && pages_.get(r, page) == PageState::kRemoved) {
    return fill_group(r, page, page + 1, true, &filled, true);
  }
  return o;
}

void FaultServer::worker(int stop_fd, bool reports,
                         const std::function<void(const MemoryServeStats&)>& cb) {
  struct Pending {
    uint64_t address;
    uint64_t since_ns;
  };
  std::vector<Pending> deferred;
  std::vector<Pending> todo;
  std::vector<Later> later;  // Prefetch of recent faults, newest last.
  Event events[16];
  uint64_t last_report = now_ns();
  try {
    while (!stop_.load()) {
      pollfd fds[2] = {{uffd_, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      const int nfds = stop_fd >= 0 ? 2 : 1;
      const int ready = ::poll(fds, nfds, !deferred.empty() ? 1 : later.empty() ? 200 : 0);
      if (ready < 0 && errno != EINTR) {
        throw Error(ErrorCode::kIo, std::string("poll: ") + std::strerror(errno));
      }
      if (nfds == 2 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        stop_.store(true);
        break;
      }
      if ((fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
        throw Error(ErrorCode::kIo, "the userfaultfd stopped working (closed or released)");
      }
      todo.swap(deferred);
      deferred.clear();
      if ((fds[0].revents & POLLIN) != 0) {
        std::unique_lock lock(fill_mu_);
        const size_t n = read_events(uffd_, events);
        const uint64_t t = now_ns();
        for (size_t i = 0; i < n; ++i) {
          if (events[i].kind == Event::Kind::kRemove) {
            removed_.fetch_add(pages_.mark_removed(events[i].address, events[i].end),
                               std::memory_order_relaxed);
          } else if (events[i].kind == Event::Kind::kPagefault) {
            todo.push_back({events[i].address, t});
          }
        }
      }
      for (const Pending& p : todo) {
        active_faults_.fetch_add(1);
        const Outcome o = serve_fault(p.address, &later);
        active_faults_.fetch_sub(1);
        if (o == Outcome::kDeferred) {
          retries_.fetch_add(1, std::memory_order_relaxed);
          deferred.push_back(p);
          continue;
        }
        faults_.fetch_add(1, std::memory_order_relaxed);
        times_.add(now_ns() - p.since_ns);
      }
      todo.clear();
      // Idle (no event was waiting, none deferred): one prefetch, the newest first (the
      // likeliest to be touched next). Old ones are dropped beyond a bound.
      if (ready == 0 && deferred.empty() && !later.empty()) {
        if (later.size() > 64) later.erase(later.begin(), later.end() - 64);
        const Later item = later.back();
        later.pop_back();
        active_faults_.fetch_add(1);
        const Outcome o = fill_later(item);
        active_faults_.fetch_sub(1);
        if (o == Outcome::kDeferred) later.push_back(item);
      }
      if (reports && cb && now_ns() - last_report >= 1000000000ull) {
        last_report = now_ns();
        cb(stats());
      }
    }
  } catch (...) {
    fail(std::current_exception());
  }
}

void FaultServer::hydrate() {
  try {
    for (size_t ri = 0; ri < pages_.regions().size() && !stop_.load(); ++ri) {
      const int r = static_cast<int>(ri);
      for (uint64_t page = 0; page < pages_.page_count(r) && !stop_.load();) {
        if (pages_.get(r, page) != PageState::kMissing) {
          ++page;
          continue;
        }
        // Faults go first.
        while (active_faults_.load() > 0 && !stop_.load()) std::this_thread::yield();
        uint64_t lo, hi, filled = 0;
        plan(r, page, &lo, &hi);
        const Outcome o = fill_pages(r, lo, hi, page, &filled);
        hydrated_pages_.fetch_add(filled, std::memory_order_relaxed);
        if (o == Outcome::kGone) return;
        if (o == Outcome::kDeferred) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        page = hi;
      }
    }
    if (!stop_.load()) hydrated_.store(true);
  } catch (...) {
    fail(std::current_exception());
  }
}

void FaultServer::run(int stop_fd, const std::function<void(const MemoryServeStats&)>& on_stats) {
  start_ns_.store(now_ns());
  const unsigned n = std::max(1u, options_.threads);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i) {
    threads.emplace_back([this, stop_fd, i, &on_stats] { worker(stop_fd, i == 0, on_stats); });
  }
  if (options_.hydrate) threads.emplace_back([this] { hydrate(); });
  for (std::thread& t : threads) t.join();
  end_ns_.store(now_ns());
  std::lock_guard lock(error_mu_);
  if (error_) std::rethrow_exception(error_);
}

}  // namespace hexz::uffd
