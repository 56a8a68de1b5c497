// Hygiene for secrets held in memory: wiping passwords and keys, keeping them out of core dumps.
#pragma once

#include <cstddef>
#include <string>

namespace hexz::crypto {

/// Overwrites `size` bytes at `data` with zeros in a way the compiler cannot elide.
void wipe(void* data, size_t size);

/// Overwrites the characters of `secret` (its whole capacity) and empties it.
void wipe(std::string& secret);

/// Wipes a string when it goes out of scope, also when an exception leaves the scope.
class ScopedWipe {
 public:
  explicit ScopedWipe(std::string& secret) : secret_(secret) {}
  ~ScopedWipe() { wipe(secret_); }
  ScopedWipe(const ScopedWipe&) = delete;
  ScopedWipe& operator=(const ScopedWipe&) = delete;

 private:
  std::string& secret_;
};

/// Marks the process non-dumpable (prctl PR_SET_DUMPABLE 0): no core dump is written and other
/// processes of the same user cannot ptrace it or read its memory through /proc. Called once a
/// process holds a password or keys (opening or packing an encrypted snapshot); never undone.
/// Best effort (never throws).
void keep_out_of_core_dumps();

}  // namespace hexz::crypto
