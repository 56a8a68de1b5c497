// The pack pipeline over abstract input sources (used by hexz::pack and hexz::flatten).
#pragma once

#include <vector>

#include "hexz/pack.hpp"
#include "io/input_file.hpp"
#include "pack/attachment_region.hpp"
#include "pack/base_index.hpp"

namespace hexz::packing {

/// Everything one pack needs, already opened and validated.
struct PackJob {
  struct Input {
    Stream stream;
    const io::InputSource* source;
  };
  const PackOptions& options;                ///< Validated; input paths are not used.
  std::vector<Input> inputs;                 ///< In stream order (disk before memory).
  const BaseIndex* base = nullptr;           ///< Thin pack base, or null.
  std::vector<AttachmentInput> attachments;  ///< Checked (check_attachments); may be empty.
};

/// Runs the pipeline and writes options.output_path atomically. Throws hexz::Error.
PackResult run_pack(const PackJob& job, const ProgressFn& progress);

}  // namespace hexz::packing
