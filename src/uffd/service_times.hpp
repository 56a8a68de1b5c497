// A lock-free histogram of fault service times, for percentiles.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace hexz::uffd {

/// Counts durations in 1 µs buckets up to 4 ms and in power-of-two buckets above.
class ServiceTimes {
 public:
  /// Records one duration in nanoseconds.
  void add(uint64_t nanoseconds);
  /// The q-quantile (0 < q <= 1) in microseconds (the bucket's upper edge); 0 if empty.
  double quantile_us(double q) const;
  /// The largest duration recorded, in microseconds.
  double max_us() const { return static_cast<double>(max_ns_.load()) / 1000.0; }

 private:
  static constexpr size_t kLinear = 4096;  // 1 µs buckets: [0, 4096) µs.
  static constexpr size_t kLog = 24;       // [4096 << k, 4096 << (k + 1)) µs.
  std::array<std::atomic<uint64_t>, kLinear + kLog> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> max_ns_{0};
};

}  // namespace hexz::uffd
