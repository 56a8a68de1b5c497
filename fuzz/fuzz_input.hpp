// Small helpers shared by the fuzz targets: reading parameters off the front of an input, and
// a finding that is not a crash (a broken oracle) reported as one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

namespace hexz_fuzz {

/// Consumes fixed-size values from the front of a fuzz input; past the end they read as zero.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  template <typename T>
  T take() {
    T v{};
    const size_t n = sizeof(T) < size_ ? sizeof(T) : size_;
    std::memcpy(&v, data_, n);
    data_ += n;
    size_ -= n;
    return v;
  }
  /// What is left.
  std::span<const uint8_t> rest() const { return {data_, size_}; }

 private:
  const uint8_t* data_;
  size_t size_;
};

/// Reports a broken invariant as a crash, so that libFuzzer keeps the input.
[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "hexz fuzz finding: %s\n", what);
  std::abort();
}

}  // namespace hexz_fuzz
