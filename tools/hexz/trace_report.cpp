#include "trace_report.hpp"

#include <algorithm>
#include <cstdio>

namespace hexz::cli {

std::string trace_summary_line(const TraceSummary& s) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f s", s.duration_ms / 1000.0);
  return std::to_string(s.events) + " events: " + std::to_string(s.index_pages) + " index pages, " +
         std::to_string(s.blocks) + " blocks (" + format_bytes(s.stored_bytes) + " stored, " +
         format_bytes(s.raw_bytes) + " decoded), over " + seconds;
}

void write_trace_summary(JsonWriter& json, const TraceSummary& s) {
  json.begin_object();
  json.key("events").value(s.events);
  json.key("index_pages").value(s.index_pages);
  json.key("blocks").value(s.blocks);
  json.key("blocks_per_stream").begin_object();
  for (int i = 0; i < kStreamCount; ++i) {
    json.key(stream_name(static_cast<Stream>(i))).value(s.blocks_per_stream[i]);
  }
  json.end_object();
  json.key("stored_bytes").value(s.stored_bytes);
  json.key("raw_bytes").value(s.raw_bytes);
  json.key("duration_ms").value(uint64_t{s.duration_ms});
  json.key("index_digest").value(s.index_digest_hex);
  json.end_object();
}

std::optional<TraceSummary> stored_trace_summary(const Snapshot& snapshot) {
  const auto list = snapshot.attachments();
  const bool has = std::any_of(list.begin(), list.end(), [](const AttachmentInfo& a) {
    return a.name == kTraceAttachmentName;
  });
  if (!has) return std::nullopt;
  return summarize_trace(
      decode_trace(snapshot.read_attachment(kTraceAttachmentName), "the snapshot's boot trace"));
}

}  // namespace hexz::cli
