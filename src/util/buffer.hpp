// Byte buffers whose resize() does not zero-fill (the bytes are overwritten right away).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace hexz::util {

/// An allocator that default-initialises (i.e. leaves uninitialised) trivial elements.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  using std::allocator<T>::allocator;
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

/// A byte vector for I/O and codec scratch space: resize() leaves new bytes uninitialised.
using Buffer = std::vector<std::byte, DefaultInitAllocator<std::byte>>;

}  // namespace hexz::util
