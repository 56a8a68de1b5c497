#include "read/trace_prefetcher.hpp"

#include <algorithm>
#include <chrono>
#include <map>

namespace hexz::read {

std::vector<PrefetchJob> plan_prefetch(const std::vector<PrefetchItem>& items, uint64_t batch_bytes,
                                       uint64_t max_gap, uint64_t max_request) {
  std::vector<PrefetchJob> jobs;
  size_t at = 0;
  while (at < items.size()) {
    // The next batch, in need order.
    size_t end = at;
    uint64_t bytes = 0;
    while (end < items.size() && (end == at || bytes < batch_bytes)) bytes += items[end++].length;
    // Per file, by offset; each item remembers its rank in the batch.
    std::map<const io::ReadableFile*, std::vector<size_t>> by_file;
    for (size_t i = at; i < end; ++i) by_file[items[i].file].push_back(i);
    std::vector<std::pair<size_t, PrefetchJob>> batch;  // (first-needed rank, job)
    for (auto& [file, list] : by_file) {
      std::sort(list.begin(), list.end(),
                [&](size_t a, size_t b) { return items[a].offset < items[b].offset; });
      PrefetchJob job;
      size_t rank = 0;
      for (size_t i : list) {
        const PrefetchItem& it = items[i];
        const uint64_t job_end = job.offset + job.length;
        const bool joins = !job.items.empty() && it.offset <= job_end + max_gap &&
                           std::max(job_end, it.offset + it.length) - job.offset <= max_request;
        if (!job.items.empty() && !joins) {
          batch.emplace_back(rank, std::move(job));
          job = PrefetchJob{};
        }
        if (job.items.empty()) {
          job.file = file;
          job.offset = it.offset;
          job.length = it.length;
          rank = i;
        } else {
          job.length = std::max(job_end, it.offset + it.length) - job.offset;
          rank = std::min(rank, i);
        }
        job.items.push_back(it);
      }
      if (!job.items.empty()) batch.emplace_back(rank, std::move(job));
    }
    std::sort(batch.begin(), batch.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [rank, job] : batch) jobs.push_back(std::move(job));
    at = end;
  }
  return jobs;
}

Prefetcher::Prefetcher(std::vector<PrefetchJob> jobs, unsigned threads, Load load, Room room,
                       uint64_t bytes_per_second)
    : jobs_(std::move(jobs)),
      load_(std::move(load)),
      room_(std::move(room)),
      bytes_per_second_(bytes_per_second) {
  threads = std::max(1u, std::min<unsigned>(threads, static_cast<unsigned>(jobs_.size())));
  if (jobs_.empty()) return;
  running_ = threads;
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Prefetcher::wait() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return running_ == 0; });
}

bool Prefetcher::done() const {
  std::lock_guard lock(mu_);
  return running_ == 0;
}

void Prefetcher::wake() {
  cv_.notify_all();
}

void Prefetcher::pace(uint64_t bytes) {
  if (bytes_per_second_ == 0) return;
  std::unique_lock lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (paced_bytes_ == 0) pace_start_ = now;
  paced_bytes_ += bytes;
  const auto due =
      pace_start_ + std::chrono::microseconds(paced_bytes_ * 1000000 / bytes_per_second_);
  cv_.wait_until(lock, due, [&] { return stop_; });
}

void Prefetcher::work() {
  for (;;) {
    PrefetchJob* job = nullptr;
    {
      std::unique_lock lock(mu_);
      for (;;) {
        if (stop_ || next_ >= jobs_.size()) break;
        if (jobs_[next_].throttled || jobs_[next_].items.empty() || room_()) {
          job = &jobs_[next_++];
          break;
        }
        // Over budget: wait until reads use what was prefetched (or re-check shortly).
        cv_.wait_for(lock, std::chrono::milliseconds(20));
      }
      if (job == nullptr) {
        if (--running_ == 0) cv_.notify_all();
        return;
      }
    }
    if (job->throttled) pace(job->length);
    try {
      job->file->prefetch(job->offset, job->length);
    } catch (const std::exception&) {
      continue;  // the reads that need these bytes fetch them and report any error
    }
    for (const PrefetchItem& item : job->items) {
      {
        std::lock_guard lock(mu_);
        if (stop_) break;
      }
      try {
        load_(item);
      } catch (const std::exception&) {
        // likewise
      }
    }
  }
}

}  // namespace hexz::read
