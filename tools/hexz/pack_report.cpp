#include "pack_report.hpp"

#include <cstdio>

#include "cli_util.hpp"

namespace hexz::cli {

void print_pack_report(const PackResult& result, const PackReportInfo& info) {
  for (const std::string& warning : result.warnings) {
    std::fprintf(stderr, "hexz: warning: %s\n", warning.c_str());
  }
  uint64_t input = 0, dups = 0, zeros = 0, read = 0;
  for (const StreamStats& s : result.streams) {
    if (!s.present) continue;
    input += s.logical_size;
    dups += s.dup_chunks;
    zeros += s.zero_chunks;
    read += s.bytes_read;
  }
  std::string extras;
  if (result.dictionary_bytes != 0) {
    extras += ", " + format_bytes(result.dictionary_bytes) + " dictionary";
  }
  if (info.encrypted) extras += ", encrypted";
  // Holes and zero ranges of sparse inputs are skipped, not read: say so when it mattered.
  if (read < input && info.verb == "packed") extras += ", " + format_bytes(read) + " read";
  std::fprintf(
      stderr, "%s %s -> %s (ratio %s) in %s: %llu duplicate chunks, %llu zero chunks%s -> %s\n",
      info.verb.c_str(), format_bytes(input).c_str(), format_bytes(result.file_size).c_str(),
      format_ratio(input, result.file_size).c_str(), format_seconds(result.seconds).c_str(),
      static_cast<unsigned long long>(dups), static_cast<unsigned long long>(zeros), extras.c_str(),
      info.output.c_str());
}

}  // namespace hexz::cli
