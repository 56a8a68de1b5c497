// Opening a pack input by name: a raw file or block device, a disk image container, an NBD URI.
#pragma once

#include <memory>
#include <string>

#include "io/input_file.hpp"

namespace hexz::io {

/// Opens `path` (not "-") for packing; `role` names it in messages ("disk image"). A file
/// holding a known container (qcow2, VMDK, ...; see image_format.hpp) is refused with an error
/// naming the format and what to do, unless `raw` is set, in which case its bytes are packed as
/// they are. Throws hexz::Error.
std::unique_ptr<InputSource> open_input(const std::string& path, const std::string& role, bool raw);

}  // namespace hexz::io
