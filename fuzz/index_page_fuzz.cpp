// Fuzz target: the index-page decoder and the decoded page's offset table.
// Input: u16 entry count (mod 4097), u8 base count, u8 flags (bit 0: encryption overhead),
// then the raw page. Oracle: a page that decodes re-encodes to exactly its raw bytes (the
// column layout is canonical), and its offsets tile [first, first + sum of lengths).
#include <vector>

#include "format/records.hpp"
#include "fuzz_input.hpp"
#include "hexz/error.hpp"
#include "read/index_page.hpp"

namespace fmt = hexz::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hexz_fuzz::Input in(data, size);
  const uint32_t count = in.take<uint16_t>() % (fmt::kMaxPageEntries + 1);
  const uint32_t base_count = in.take<uint8_t>();
  const uint32_t overhead = (in.take<uint8_t>() & 1) ? 16 : 0;
  const auto raw_span = in.rest();
  const std::vector<unsigned char> raw(raw_span.begin(), raw_span.end());
  try {
    const auto entries = fmt::decode_index_page(raw, count, base_count, overhead);
    if (fmt::encode_index_page(entries) != raw) hexz_fuzz::finding("page does not re-encode");
    fmt::MasterEntry m;
    m.entry_count = count;
    m.raw_length = static_cast<uint32_t>(raw.size());
    m.first_logical = 12345;
    const hexz::read::IndexPage page(raw, m, base_count, overhead);
    uint64_t at = m.first_logical;
    for (uint32_t i = 0; i < page.entry_count(); ++i) {
      if (page.entry_offset(i) != at || page.find(at) != i) hexz_fuzz::finding("bad offsets");
      at += page.entry(i).length;
    }
    if (page.end_offset() != at) hexz_fuzz::finding("bad page end");
  } catch (const hexz::Error&) {
  }
  return 0;
}
