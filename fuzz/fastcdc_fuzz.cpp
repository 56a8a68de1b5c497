// Fuzz target: the FastCDC chunker. Input: u32 min, avg, max (reduced to a small range so
// valid parameters are common), then the data. Oracle: chunks cover the data exactly, each is
// min..max bytes (only the last may be shorter), and a cut never depends on bytes past `max`
// (the streaming reader hands the chunker at most that much).
#include <algorithm>

#include "chunk/fastcdc.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hexz_fuzz::Input in(data, size);
  const uint32_t min = in.take<uint32_t>() % 8192;
  const uint32_t avg = in.take<uint32_t>() % 32768;
  const uint32_t max = in.take<uint32_t>() % 131072;
  if (hexz::chunk::validate_cdc_params(min, avg, max)[0] != '\0') return 0;
  const hexz::chunk::FastCdc cdc(min, avg, max);
  const auto rest = in.rest();
  size_t at = 0;
  while (at < rest.size()) {
    const size_t left = rest.size() - at;
    const size_t n = cdc.cut(rest.data() + at, left);
    if (n == 0 || n > left || n > max) hexz_fuzz::finding("chunk length out of range");
    if (n < min && n != left) hexz_fuzz::finding("short chunk before the end");
    if (left > max && cdc.cut(rest.data() + at, max) != n) {
      hexz_fuzz::finding("cut depends on bytes past max");
    }
    at += n;
  }
  return 0;
}
