// A fixed pool of worker threads and a bounded blocking queue.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace hexz::util {

/// Runs submitted tasks on `threads` workers. Each task receives the index of the worker
/// running it (0..size()-1), so callers can keep per-worker scratch state without locks.
/// The destructor finishes queued tasks and joins the workers.
class ThreadPool {
 public:
  explicit ThreadPool(size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size(); }

  /// Queues `fn(worker)`; the future yields its result or rethrows its exception.
  template <typename Fn>
  auto submit(Fn fn) -> std::future<decltype(fn(size_t{}))> {
    using R = decltype(fn(size_t{}));
    auto task = std::make_shared<std::packaged_task<R(size_t)>>(std::move(fn));
    auto fut = task->get_future();
    {
      std::lock_guard lock(mu_);
      tasks_.emplace_back([task](size_t w) { (*task)(w); });
    }
    cv_.notify_one();
    return fut;
  }

 private:
  void run(size_t worker);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void(size_t)>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

/// A FIFO with a capacity: push() blocks while full, pop() blocks while empty. close() wakes
/// everyone: later pushes are dropped and pop() drains what is left, then returns nullopt.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  /// Returns false (dropping `item`) if the queue was closed.
  bool push(T item) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  std::optional<T> pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_full_.notify_all();
    not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> items_;
  size_t capacity_;
  bool closed_ = false;
};

/// Number of hardware threads (at least 1).
size_t hardware_threads();

}  // namespace hexz::util
