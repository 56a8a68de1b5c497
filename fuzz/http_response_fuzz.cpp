// Fuzz target: parsing what an HTTP server sends back (header lines, Content-Range values).
// Input: header lines separated by '\n'. Oracle: a Content-Range total that parses is below
// 2^63 and survives formatting "bytes 0-0/TOTAL" back; parsing never throws.
#include <string>
#include <string_view>

#include "fuzz_input.hpp"
#include "io/http_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  hexz::io::HttpResponse r;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t nl = text.find('\n', at);
    const std::string_view line =
        text.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at + 1);
    hexz::io::absorb_header_line(r, line);
    if (const auto total = hexz::io::content_range_total(line)) {
      if (*total >= (uint64_t{1} << 63)) hexz_fuzz::finding("Content-Range total too large");
      if (*total > 0) {
        const auto again = hexz::io::content_range_total("bytes 0-0/" + std::to_string(*total));
        if (!again || *again != *total) hexz_fuzz::finding("Content-Range total not stable");
      }
    }
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  (void)hexz::io::content_range_total(r.content_range);
  return 0;
}
