// Opening a pack input by name: a raw file or block device, a disk image container, an NBD URI.
#pragma once

#include <memory>
#include <string>

#include "io/input_file.hpp"

namespace hexz::io {

/// Opens `path` (not "-") for packing; `role` names it in messages ("disk image"). An NBD URI
/// (nbd://host:port/export, nbd+unix:///export?socket=PATH) is read with libnbd. A file holding
/// a known container (qcow2, VMDK, VHD, VHDX, VDI; see image_format.hpp) is read through a
/// private read-only qemu-nbd, unless `raw` is set, in which case its bytes are packed as they
/// are; a LUKS volume is refused (kUnsupported) unless `raw`. Throws hexz::Error.
std::unique_ptr<InputSource> open_input(const std::string& path, const std::string& role, bool raw);

}  // namespace hexz::io
