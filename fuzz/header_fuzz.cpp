// Fuzz target: the header and tail decoders (header, master entries, base table).
// Input: one flags byte (bit 0: repair the header checksum so mutations reach the field
// checks), then 512 header bytes, then bytes decoded as master entries and as a base table.
// Oracle: a header that decodes re-encodes to bytes that decode to the same header.
#include <array>
#include <cstring>

#include "format/records.hpp"
#include "fuzz_input.hpp"
#include "hexz/error.hpp"

namespace fmt = hexz::format;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hexz_fuzz::Input in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  std::array<unsigned char, fmt::kHeaderSize> header{};
  const auto rest = in.rest();
  std::memcpy(header.data(), rest.data(), std::min(rest.size(), header.size()));
  if (flags & 1) fmt::reseal_header_checksum(header);
  try {
    const fmt::Header h = fmt::decode_header(header, "fuzz.hxz");
    std::array<unsigned char, fmt::kHeaderSize> again{};
    fmt::encode_header(h, again);
    const fmt::Header h2 = fmt::decode_header(again, "fuzz.hxz");
    std::array<unsigned char, fmt::kHeaderSize> third{};
    fmt::encode_header(h2, third);
    if (again != third) hexz_fuzz::finding("header encoding is not stable");
    if (h2.file_size != h.file_size || h2.tail_offset != h.tail_offset ||
        h2.master_offset != h.master_offset || h2.page_count != h.page_count ||
        h2.required_features != h.required_features) {
      hexz_fuzz::finding("header does not survive a re-encoding");
    }
    (void)fmt::header_mac_input(header);
  } catch (const hexz::Error&) {
  }
  if (rest.size() > fmt::kHeaderSize) {
    const auto tail = rest.subspan(fmt::kHeaderSize);
    for (size_t at = 0; at + fmt::kMasterEntrySize <= tail.size() && at < 64 * 40;
         at += fmt::kMasterEntrySize) {
      try {
        const fmt::MasterEntry e = fmt::decode_master_entry(tail.data() + at);
        unsigned char again[fmt::kMasterEntrySize];
        fmt::encode_master_entry(e, again);
        const fmt::MasterEntry e2 = fmt::decode_master_entry(again);
        if (e2.offset != e.offset || e2.raw_length != e.raw_length ||
            e2.entry_count != e.entry_count || e2.checksum != e.checksum) {
          hexz_fuzz::finding("master entry does not survive a re-encoding");
        }
      } catch (const hexz::Error&) {
      }
    }
    try {
      const uint32_t count = tail.empty() ? 0 : tail[0] % 8;
      const auto bases = fmt::decode_bases(tail.subspan(tail.empty() ? 0 : 1), count);
      if (fmt::decode_bases(fmt::encode_bases(bases), count) != bases) {
        hexz_fuzz::finding("base table does not survive a re-encoding");
      }
    } catch (const hexz::Error&) {
    }
  }
  return 0;
}
