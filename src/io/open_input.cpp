#include "io/open_input.hpp"

#include "hexz/error.hpp"
#include "io/image_format.hpp"

namespace hexz::io {

std::unique_ptr<InputSource> open_input(const std::string& path, const std::string& role,
                                        bool raw) {
  auto file = std::make_unique<InputFile>(path, role);
  if (raw) return file;
  const ImageFormat format = detect_image_format(*file);
  if (format == ImageFormat::kRaw) return file;
  const std::string name = image_format_name(format);
  if (format == ImageFormat::kLuks) {
    throw Error(ErrorCode::kUnsupported,
                role + " '" + path +
                    "' is a LUKS encrypted volume, not a raw image: unlock it (cryptsetup open) "
                    "and pack the /dev/mapper device, or give --raw to pack the encrypted bytes");
  }
  throw Error(ErrorCode::kUnsupported,
              role + " '" + path + "' is a " + name +
                  " image, not a raw one: convert it (qemu-img convert -O raw), or give --raw "
                  "to pack the container's bytes as they are");
}

}  // namespace hexz::io
