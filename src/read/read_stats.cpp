// ReadStats as JSON (the serving commands' --stats-file).
#include <string>

#include "hexz/snapshot.hpp"

namespace hexz {

std::string read_stats_json(const ReadStats& s) {
  std::string out = "{";
  const auto num = [&](const char* key, uint64_t v) {
    out += std::string(out.size() > 1 ? "," : "") + "\"" + key + "\":" + std::to_string(v);
  };
  num("demand_block_misses", s.demand_block_misses);
  num("demand_page_misses", s.demand_page_misses);
  num("demand_waits", s.demand_waits);
  num("prefetched_pages", s.prefetched_pages);
  num("prefetched_blocks", s.prefetched_blocks);
  num("prefetched_bytes", s.prefetched_bytes);
  num("prefetched_unused_bytes", s.prefetched_unused_bytes);
  num("trace_events", s.trace_events);
  out += std::string(",\"prefetch_done\":") + (s.prefetch_done ? "true" : "false");
  num("remote_requests", s.remote_requests);
  num("remote_bytes", s.remote_bytes);
  if (!s.trace_error.empty()) {
    out += ",\"trace_error\":\"";
    for (const char c : s.trace_error) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (static_cast<unsigned char>(c) < 0x20) {
        out += ' ';
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out + "}\n";
}

}  // namespace hexz
