// hexz::add_trace() / remove_trace(): a snapshot's boot trace is its "hexz.trace" attachment.
#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "hexz/trace.hpp"
#include "io/readable_file.hpp"
#include "io/url.hpp"
#include "read/snapshot_reader.hpp"

namespace hexz {

AttachResult add_trace(const std::string& path, std::span<const std::byte> trace_bytes,
                       const AttachOptions& options) {
  const Trace trace = decode_trace(trace_bytes, "the trace");
  if (io::is_remote(path)) {
    throw Error(ErrorCode::kInvalidArgument, "cannot store a trace in '" + path +
                                                 "' in place: change the local file, then push it");
  }
  {
    OpenOptions o = options.open;
    o.trusted_keys.clear();
    o.verify_reads = false;
    o.threads = 1;
    o.prefetch = false;
    read::SnapshotReader reader(io::open_local_file(path), o, false);
    const format::Header& h = reader.header();
    if (trace.index_digest != h.index_digest) {
      throw Error(ErrorCode::kInvalidArgument,
                  "the trace was recorded on another snapshot (index digest " +
                      hash::to_hex(trace.index_digest.data(), 32).substr(0, 16) + "…, '" + path +
                      "' has " + hash::to_hex(h.index_digest.data(), 32).substr(0, 16) +
                      "…): record it again on this one");
    }
    for (size_t i = 0; i < trace.events.size(); ++i) {
      const TraceEvent& e = trace.events[i];
      const bool bad_page = e.kind == TraceEvent::Kind::kIndexPage && e.page >= h.page_count;
      const bool bad_source = e.kind == TraceEvent::Kind::kBlock && e.source > h.base_count;
      if (bad_page || bad_source || !reader.has_stream(e.stream)) {
        throw Error(ErrorCode::kInvalidArgument,
                    "trace event " + std::to_string(i) + " names " +
                        (bad_page     ? "index page " + std::to_string(e.page)
                         : bad_source ? "base " + std::to_string(e.source)
                                      : std::string("the ") + stream_name(e.stream) + " stream") +
                        ", which '" + path + "' does not have");
      }
    }
  }
  return add_attachment(path, kTraceAttachmentName, trace_bytes, options);
}

AttachResult remove_trace(const std::string& path, const AttachOptions& options) {
  try {
    return remove_attachment(path, kTraceAttachmentName, options);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kNotFound) {
      throw Error(ErrorCode::kNotFound, "'" + path + "' has no boot trace to remove");
    }
    throw;
  }
}

}  // namespace hexz
