// Recognising disk image containers (qcow2, VMDK, VHD, VHDX, VDI, LUKS) by their magic bytes,
// so that they are not packed as if they were raw disks.
#pragma once

#include <string>

#include "io/input_file.hpp"

namespace hexz::io {

/// What an input file holds, as far as its first and last bytes tell.
enum class ImageFormat {
  kRaw,    ///< No known container magic: a raw disk (or anything else) packed as its bytes.
  kQcow,   ///< QEMU qcow version 1 ("QFI\xfb", version 1).
  kQcow2,  ///< QEMU qcow2 ("QFI\xfb", version 2 or 3).
  kVmdk,   ///< VMware VMDK: a sparse extent ("KDMV", "COWD") or a text descriptor file.
  kVhd,    ///< Microsoft VHD (a "conectix" footer, copied at the start of a dynamic VHD).
  kVhdx,   ///< Microsoft VHDX ("vhdxfile").
  kVdi,    ///< VirtualBox VDI (signature 0xbeda107f at offset 0x40).
  kLuks,   ///< A LUKS encrypted volume ("LUKS\xba\xbe").
};

/// Looks at the first 512 bytes and the last 512 bytes of `input`. Throws hexz::Error if they
/// cannot be read.
ImageFormat detect_image_format(const InputSource& input);

/// The same judged from the first bytes alone (up to 512; a fixed VHD's footer is not seen):
/// for streams, which cannot be read at their end.
ImageFormat detect_image_head(std::span<const std::byte> head);

/// A name for messages: "qcow2", "VMDK", "VHD", "VHDX", "VDI", "LUKS", "raw".
std::string image_format_name(ImageFormat format);

/// The QEMU block driver that reads `format` ("qcow2", "vmdk", "vpc", ...); empty for kRaw and
/// kLuks (LUKS needs a key: hexz does not open it).
std::string qemu_driver(ImageFormat format);

}  // namespace hexz::io
