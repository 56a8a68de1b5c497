// Parsing what an HTTP server sends back: header lines and Content-Range values. Kept apart
// from the transfer code so that it can be tested and fuzzed without a network.
#include <cctype>
#include <charconv>

#include "io/http_file.hpp"

namespace hexz::io {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

/// Parses all of `s` as a decimal number below 2^63.
std::optional<uint64_t> number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v >= (uint64_t{1} << 63)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

void absorb_header_line(HttpResponse& r, std::string_view line) {
  if (line.substr(0, 5) == "HTTP/") {  // a new response (after a redirect or 100-continue)
    r.etag.clear();
    r.content_range.clear();
    r.content_length.clear();
    r.body.clear();
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  const std::string_view key = trim(line.substr(0, colon));
  const std::string value(trim(line.substr(colon + 1)));
  if (iequals(key, "etag")) r.etag = value;
  if (iequals(key, "content-range")) r.content_range = value;
  if (iequals(key, "content-length")) r.content_length = value;
}

std::optional<uint64_t> content_range_total(std::string_view value) {
  value = trim(value);
  if (value.substr(0, 6) != "bytes ") return std::nullopt;
  value.remove_prefix(6);
  const size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto total = number(value.substr(slash + 1));
  if (!total) return std::nullopt;
  const std::string_view range = value.substr(0, slash);
  if (range == "*") return total;
  const size_t dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto first = number(range.substr(0, dash));
  const auto last = number(range.substr(dash + 1));
  if (!first || !last || *first > *last || *last >= *total) return std::nullopt;
  return total;
}

}  // namespace hexz::io
