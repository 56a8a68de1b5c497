// How `hexz trace show` and `hexz info` present a boot trace.
#pragma once

#include <optional>
#include <string>

#include "hexz/snapshot.hpp"
#include "hexz/trace.hpp"
#include "json_writer.hpp"

namespace hexz::cli {

/// One line: "412 events: 17 index pages, 395 blocks (9.10 MiB stored), over 6.81 s".
std::string trace_summary_line(const TraceSummary& s);

/// Writes `s` as a JSON object (keys documented in docs/cli-json.md).
void write_trace_summary(JsonWriter& json, const TraceSummary& s);

/// The trace stored in `snapshot`, summarized; nullopt if it has none. Throws kCorrupt for a
/// damaged one.
std::optional<TraceSummary> stored_trace_summary(const Snapshot& snapshot);

}  // namespace hexz::cli
