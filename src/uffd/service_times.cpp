#include "uffd/service_times.hpp"

#include <algorithm>
#include <bit>

namespace hexz::uffd {

void ServiceTimes::add(uint64_t nanoseconds) {
  const uint64_t us = nanoseconds / 1000;
  size_t bucket;
  if (us < kLinear) {
    bucket = static_cast<size_t>(us);
  } else {
    const auto k = static_cast<size_t>(std::bit_width(us / kLinear) - 1);
    bucket = kLinear + std::min<size_t>(k, kLog - 1);
  }
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  uint64_t prev = max_ns_.load(std::memory_order_relaxed);
  while (nanoseconds > prev && !max_ns_.compare_exchange_weak(prev, nanoseconds)) {
  }
}

double ServiceTimes::quantile_us(double q) const {
  const uint64_t total = count_.load(std::memory_order_relaxed);
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(total));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b].load(std::memory_order_relaxed);
    if (seen >= rank) {
      if (b < kLinear) return static_cast<double>(b) + 1.0;
      return static_cast<double>(kLinear << (b - kLinear + 1));
    }
  }
  return max_us();
}

}  // namespace hexz::uffd
