#include "read/trace_recorder.hpp"

namespace hexz::read {

TraceRecorder::TraceRecorder(const std::array<unsigned char, 32>& index_digest)
    : start_(std::chrono::steady_clock::now()) {
  trace_.index_digest = index_digest;
}

uint32_t TraceRecorder::now_ms() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start_)
                      .count();
  return static_cast<uint32_t>(std::min<int64_t>(ms, UINT32_MAX));
}

void TraceRecorder::page(Stream stream, uint32_t page, uint64_t logical_offset) {
  std::lock_guard lock(mu_);
  if (trace_.events.size() >= kMaxTraceEvents || !pages_seen_.insert(page).second) return;
  TraceEvent e;
  e.kind = TraceEvent::Kind::kIndexPage;
  e.stream = stream;
  e.time_ms = now_ms();
  e.logical_offset = logical_offset;
  e.page = page;
  trace_.events.push_back(e);
}

void TraceRecorder::block(Stream stream, uint8_t source, const format::BlockRef& ref,
                          uint64_t logical_offset) {
  const uint64_t key = (static_cast<uint64_t>(source) << 56) ^ ref.offset;
  std::lock_guard lock(mu_);
  if (trace_.events.size() >= kMaxTraceEvents || !blocks_seen_.insert(key).second) return;
  TraceEvent e;
  e.kind = TraceEvent::Kind::kBlock;
  e.stream = stream;
  e.time_ms = now_ms();
  e.logical_offset = logical_offset;
  e.source = source;
  e.file_offset = ref.offset;
  e.stored_length = ref.stored_length;
  e.raw_length = ref.raw_length;
  e.checksum = ref.checksum;
  e.codec = ref.codec;
  trace_.events.push_back(e);
}

std::vector<std::byte> TraceRecorder::encoded() const {
  std::lock_guard lock(mu_);
  return encode_trace(trace_);
}

}  // namespace hexz::read
