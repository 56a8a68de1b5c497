// The messages the commands that write snapshots (pack, flatten) print when they are done.
#pragma once

#include <string>

#include "hexz/pack.hpp"

namespace hexz::cli {

/// What print_pack_report() mentions besides the counters of the result.
struct PackReportInfo {
  std::string verb;    ///< "packed" or "flattened".
  std::string output;  ///< The snapshot written.
  bool encrypted = false;
};

/// Prints the library's warnings ("hexz: warning: ..." lines) and a one-line summary on stderr:
/// sizes, ratio, time, duplicate and zero chunks, the trained dictionary's size (if any) and
/// whether the output is encrypted.
void print_pack_report(const PackResult& result, const PackReportInfo& info);

}  // namespace hexz::cli
