#include "io/open_input.hpp"

#include "hexz/error.hpp"
#include "io/image_format.hpp"
#include "io/nbd_input.hpp"

namespace hexz::io {

std::unique_ptr<InputSource> open_input(const std::string& path, const std::string& role,
                                        bool raw) {
  if (is_nbd_uri(path)) return NbdInput::connect_uri(path, role);
  auto file = std::make_unique<InputFile>(path, role);
  if (raw) return file;
  const ImageFormat format = detect_image_format(*file);
  if (format == ImageFormat::kRaw) return file;
  if (format == ImageFormat::kLuks) {
    throw Error(ErrorCode::kUnsupported,
                role + " '" + path +
                    "' is a LUKS encrypted volume, not a raw image: unlock it (cryptsetup open) "
                    "and pack the /dev/mapper device, or give --raw to pack the encrypted bytes");
  }
  // Read through QEMU's own block layer: a private qemu-nbd, read-only.
  file.reset();
  return NbdInput::serve_file({path, qemu_driver(format), role, image_format_name(format), false});
}

}  // namespace hexz::io
