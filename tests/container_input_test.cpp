// Disk image containers as pack inputs: qcow2, VMDK, VHD, VHDX, VDI and LUKS are recognised by
// their magic and never packed as raw bytes by accident (--raw packs them as they are).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/cli_checks.hpp"
#include "support/fixture.hpp"
#include "support/process.hpp"
#include "support/test_data.hpp"

#ifndef HEXZ_CLI_PATH
#error "HEXZ_CLI_PATH must name the hexz binary"
#endif

namespace hexz_test {
namespace {

using hexz::ErrorCode;
using hexz::Stream;

/// A 1 MiB file: `magic` written at `at` (negative: from the end) over text bytes.
Bytes with_magic(const std::string& magic, long at) {
  Bytes b = text_bytes(1 << 20, 7);
  const size_t pos = at >= 0 ? static_cast<size_t>(at) : b.size() - static_cast<size_t>(-at);
  for (size_t i = 0; i < magic.size(); ++i) b[pos + i] = static_cast<unsigned char>(magic[i]);
  return b;
}

struct Magic {
  const char* name;   ///< Test name suffix.
  std::string bytes;  ///< Magic bytes.
  long at;            ///< Where they go.
  const char* shown;  ///< The format's name in the error.
};

std::vector<Magic> magics() {
  return {
      {"qcow2", std::string("QFI\xfb\0\0\0\3", 8), 0, "qcow2"},
      {"qcow1", std::string("QFI\xfb\0\0\0\1", 8), 0, "qcow"},
      {"vmdk_sparse", "KDMV", 0, "VMDK"},
      {"vmdk_descriptor", "# Disk DescriptorFile\nversion=1\n", 0, "VMDK"},
      {"vhd_dynamic", "conectix", 0, "VHD"},
      {"vhd_fixed_footer", "conectix", -512, "VHD"},
      {"vhdx", "vhdxfile", 0, "VHDX"},
      {"vdi", "\x7f\x10\xda\xbe", 0x40, "VDI"},
      {"luks", std::string("LUKS\xba\xbe\0\1", 8), 0, "LUKS"},
  };
}

class ContainerMagic : public HexzTest, public ::testing::WithParamInterface<Magic> {};

TEST_P(ContainerMagic, IsRefusedUnlessRawAndRawPacksTheBytes) {
  const Magic& m = GetParam();
  const Bytes bytes = with_magic(m.bytes, m.at);
  const std::string in = input("image", bytes);
  auto o = options(in, "", output("x.hxz"));
  EXPECT_TRUE(
      ThrowsWith([&] { hexz::pack(o); }, ErrorCode::kUnsupported, std::string("is a ") + m.shown));
  EXPECT_FALSE(fs::exists(o.output_path));
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(options("", in, output("x.hxz"))); },
                         ErrorCode::kUnsupported, "memory image '" + in + "'"));
  o.raw = true;
  hexz::pack(o);
  const auto snap = hexz::Snapshot::open(o.output_path);
  EXPECT_EQ(read_stream(*snap, Stream::kDisk), bytes);
}

INSTANTIATE_TEST_SUITE_P(All, ContainerMagic, ::testing::ValuesIn(magics()),
                         [](const auto& p) { return std::string(p.param.name); });

class ContainerCli : public HexzTest {
 protected:
  static ProcessResult hexz(std::vector<std::string> args) {
    args.insert(args.begin(), HEXZ_CLI_PATH);
    return run_process(args);
  }
};

TEST_F(ContainerCli, LuksIsOneClearErrorAndRawPacksIt) {
  const std::string in = input("disk.luks", with_magic(std::string("LUKS\xba\xbe\0\1", 8), 0));
  const std::string out = output("x.hxz");
  EXPECT_TRUE(is_cli_error(hexz({"pack", "--disk", in, "-o", out}),
                           "is a LUKS encrypted volume, not a raw image"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(exited_ok(hexz({"pack", "-q", "--raw", "--disk", in, "-o", out})));
  EXPECT_TRUE(fs::exists(out));
}

TEST_F(ContainerCli, RawIsInTheHelp) {
  const ProcessResult r = hexz({"pack", "--help"});
  EXPECT_NE(r.out.find("--raw"), std::string::npos);
}

TEST_F(ContainerCli, RawImagesAreStillPackedWithoutRaw) {
  const Bytes disk = make_disk_image(1 << 20, 3);
  const std::string out = output("x.hxz");
  EXPECT_TRUE(exited_ok(hexz({"pack", "-q", "--disk", input("disk.img", disk), "-o", out})));
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(out), Stream::kDisk), disk);
}

}  // namespace
}  // namespace hexz_test
