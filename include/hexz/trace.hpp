// Boot traces (docs/FORMAT.md section 10.7): the order in which a run first needed each index
// page and data block of a snapshot, recorded by a reader (OpenOptions::record_trace), stored
// in the snapshot as the attachment "hexz.trace", and replayed by later readers as prefetch.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hexz/attachments.hpp"
#include "hexz/types.hpp"

namespace hexz {

/// Name of the attachment that holds a snapshot's boot trace.
inline constexpr const char* kTraceAttachmentName = "hexz.trace";

/// Most events a trace may hold (FORMAT.md rule T3).
inline constexpr uint32_t kMaxTraceEvents = 1u << 20;

/// One event of a trace: the first time a run needed an index page or a data block.
struct TraceEvent {
  enum class Kind : uint8_t { kIndexPage = 1, kBlock = 2 };
  Kind kind = Kind::kBlock;
  Stream stream = Stream::kDisk;  ///< The stream whose read needed it.
  uint32_t time_ms = 0;           ///< Milliseconds from the start of the recording.
  uint64_t logical_offset = 0;    ///< Offset in the stream of the read that needed it.
  uint32_t page = 0;              ///< kIndexPage: the page's number in the master index.
  // kBlock: the block as the index entry names it.
  uint8_t source = 0;          ///< 0 = this file, k = base k of the base table.
  uint64_t file_offset = 0;    ///< Where the stored block starts in its file.
  uint32_t stored_length = 0;  ///< Stored bytes.
  uint32_t raw_length = 0;     ///< Decoded bytes.
  uint64_t checksum = 0;       ///< The entry's checksum field (a sequence number if encrypted).
  Codec codec = Codec::kNone;  ///< The block's codec.
};

/// A decoded trace.
struct Trace {
  /// The index digest (FORMAT.md section 14) of the snapshot it was recorded on: the trace's
  /// block references are only meaningful for a snapshot with the same index.
  std::array<unsigned char, 32> index_digest{};
  std::vector<TraceEvent> events;  ///< In the order first needed (time_ms never decreases).
};

/// What a trace holds, in numbers (hexz trace show, hexz info).
struct TraceSummary {
  uint64_t events = 0;
  uint64_t index_pages = 0;   ///< Page events.
  uint64_t blocks = 0;        ///< Block events.
  uint64_t stored_bytes = 0;  ///< Stored bytes of the traced blocks (what a replay fetches).
  uint64_t raw_bytes = 0;     ///< Decoded bytes of the traced blocks.
  uint64_t blocks_per_stream[kStreamCount] = {};
  uint32_t duration_ms = 0;      ///< Time of the last event.
  std::string index_digest_hex;  ///< 64 hex digits.
};

/// The bytes of `trace` in the format of FORMAT.md section 10.7. Throws kInvalidArgument if it
/// holds more than kMaxTraceEvents events.
std::vector<std::byte> encode_trace(const Trace& trace);

/// Parses and checks trace bytes (rules T1-T4: magic, version, size, checksum, each event's
/// kind, stream and order). `what` names the trace in messages. Throws kCorrupt (damaged or not
/// a trace) or kUnsupported (a newer trace version).
Trace decode_trace(std::span<const std::byte> bytes, const std::string& what);

/// Counts of `trace`.
TraceSummary summarize_trace(const Trace& trace);

/// Stores `trace_bytes` (checked with decode_trace) as the boot trace of the local snapshot at
/// `path`, replacing any it has, without repacking its data (update_attachments()). Throws
/// kCorrupt for a damaged trace, kInvalidArgument if the trace was recorded on a snapshot with a
/// different index, or names a page or base the snapshot does not have, and what
/// update_attachments() throws.
AttachResult add_trace(const std::string& path, std::span<const std::byte> trace_bytes,
                       const AttachOptions& options = {});

/// Removes the boot trace of the local snapshot at `path`. Throws kNotFound if it has none, and
/// what update_attachments() throws.
AttachResult remove_trace(const std::string& path, const AttachOptions& options = {});

}  // namespace hexz
