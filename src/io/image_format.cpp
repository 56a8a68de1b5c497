#include "io/image_format.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

namespace hexz::io {

namespace {

constexpr size_t kProbe = 512;

bool starts_with(const std::array<std::byte, kProbe>& bytes, size_t have, size_t at,
                 std::string_view magic) {
  return have >= at + magic.size() &&
         std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
}

}  // namespace

ImageFormat detect_image_head(std::span<const std::byte> bytes) {
  std::array<std::byte, kProbe> head{};
  const size_t have = std::min(bytes.size(), kProbe);
  std::copy_n(bytes.begin(), have, head.begin());
  if (starts_with(head, have, 0, "QFI\xfb")) {
    // Version, big-endian, right after the magic.
    const bool v1 = have >= 8 && head[4] == std::byte{0} && head[5] == std::byte{0} &&
                    head[6] == std::byte{0} && head[7] == std::byte{1};
    return v1 ? ImageFormat::kQcow : ImageFormat::kQcow2;
  }
  if (starts_with(head, have, 0, "KDMV") || starts_with(head, have, 0, "COWD") ||
      starts_with(head, have, 0, "# Disk DescriptorFile")) {
    return ImageFormat::kVmdk;
  }
  if (starts_with(head, have, 0, "vhdxfile")) return ImageFormat::kVhdx;
  if (starts_with(head, have, 0, "conectix")) return ImageFormat::kVhd;
  if (starts_with(head, have, 0, std::string_view("LUKS\xba\xbe", 6))) return ImageFormat::kLuks;
  // VDI: the little-endian signature 0xbeda107f at offset 0x40.
  if (starts_with(head, have, 0x40, "\x7f\x10\xda\xbe")) return ImageFormat::kVdi;
  return ImageFormat::kRaw;
}

ImageFormat detect_image_format(const InputSource& input) {
  std::array<std::byte, kProbe> head{};
  const size_t have = static_cast<size_t>(std::min<uint64_t>(input.size(), kProbe));
  if (have == 0) return ImageFormat::kRaw;
  input.read_at(0, std::span(head).first(have));
  if (const ImageFormat f = detect_image_head(std::span(head).first(have)); f != ImageFormat::kRaw)
    return f;
  // A fixed VHD is the raw disk followed by a 512-byte "conectix" footer.
  if (input.size() >= 2 * kProbe) {
    std::array<std::byte, kProbe> tail{};
    input.read_at(input.size() - kProbe, tail);
    if (starts_with(tail, kProbe, 0, "conectix")) return ImageFormat::kVhd;
  }
  return ImageFormat::kRaw;
}

std::string image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kRaw:
      return "raw";
    case ImageFormat::kQcow:
      return "qcow";
    case ImageFormat::kQcow2:
      return "qcow2";
    case ImageFormat::kVmdk:
      return "VMDK";
    case ImageFormat::kVhd:
      return "VHD";
    case ImageFormat::kVhdx:
      return "VHDX";
    case ImageFormat::kVdi:
      return "VDI";
    case ImageFormat::kLuks:
      return "LUKS";
  }
  return "unknown";
}

std::string qemu_driver(ImageFormat format) {
  switch (format) {
    case ImageFormat::kQcow:
      return "qcow";
    case ImageFormat::kQcow2:
      return "qcow2";
    case ImageFormat::kVmdk:
      return "vmdk";
    case ImageFormat::kVhd:
      return "vpc";
    case ImageFormat::kVhdx:
      return "vhdx";
    case ImageFormat::kVdi:
      return "vdi";
    case ImageFormat::kRaw:
    case ImageFormat::kLuks:
      return "";
  }
  return "";
}

}  // namespace hexz::io
