// Recording a boot trace: the first time reads need each index page and data block.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <unordered_set>
#include <vector>

#include "format/records.hpp"
#include "hexz/trace.hpp"

namespace hexz::read {

/// Collects trace events in the order first needed. Thread-safe.
class TraceRecorder {
 public:
  /// Records for a snapshot whose index digest is `index_digest`; time starts now.
  explicit TraceRecorder(const std::array<unsigned char, 32>& index_digest);

  /// A read of `stream` at `logical_offset` needed index page `page`.
  void page(Stream stream, uint32_t page, uint64_t logical_offset);
  /// A read of `stream` at `logical_offset` needed the block `ref` of `source`.
  void block(Stream stream, uint8_t source, const format::BlockRef& ref, uint64_t logical_offset);
  /// The events so far, encoded (encode_trace()).
  std::vector<std::byte> encoded() const;

 private:
  uint32_t now_ms() const;

  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
  Trace trace_;
  std::unordered_set<uint32_t> pages_seen_;
  /// Blocks seen, by (source, file offset): a file stores one block at one offset.
  std::unordered_set<uint64_t> blocks_seen_;
};

}  // namespace hexz::read
