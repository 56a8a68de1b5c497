// Keeps docs/FORMAT.md section 20 (the worked example) true: packs the inputs it describes with
// the options it names and checks the file's size, layout and identity against the document.
// With HEXZ_WRITE_EXAMPLE=PATH the file is also copied to PATH (to regenerate the hex dumps).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "hash/digest.hpp"
#include "support/fixture.hpp"

namespace hexz_test {
namespace {

Bytes repeated(const std::string& text, size_t size) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(text[i % text.size()]);
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

class FormatExample : public HexzTest {};

TEST_F(FormatExample, MatchesSection20) {
  const Bytes a = repeated("disk chunk A. ", 512);
  const Bytes b = repeated("disk chunk B! ", 512);
  const Bytes disk = concat({a, Bytes(512, 0), a, b, repeated("tail ", 252)});
  const Bytes memory = concat({b, repeated("memory page C ", 512)});
  auto o = options(input("disk.img", disk), input("mem.img", memory), output("example.hxz"));
  o.codec = hexz::Codec::kNone;
  o.chunk_size = 512;
  o.block_size = 1024;
  const auto r = hexz::pack(o);
  if (const char* copy = std::getenv("HEXZ_WRITE_EXAMPLE")) {
    std::filesystem::copy_file(output("example.hxz"), copy,
                               std::filesystem::copy_options::overwrite_existing);
  }
  EXPECT_EQ(r.file_size, 2601u);
  auto s = hexz::Snapshot::open(output("example.hxz"));
  const auto info = s->info();
  EXPECT_EQ(info.identity_hex, "d22ff30e81ebc98e51c40e29f6b99f30754f5f3a63d87b56562d8c9f113ee06d");
  // The index digest (header offset 400) is the hash of the pages and stream sizes.
  const Bytes file = read_file(output("example.hxz"));
  EXPECT_EQ(hexz::hash::to_hex(file.data() + 400, 32),
            "cf3b4c4f0a6b4c4bc4ee3087862696618a22d1df811d3fd7e7d2f0735a482731");
  EXPECT_EQ(info.index_bytes, 135u + 86u + 80u);  // two pages and the master index
}

}  // namespace
}  // namespace hexz_test
