#include "read/signature_check.hpp"

#include <algorithm>

#include "hexz/error.hpp"

namespace hexz::read {

std::vector<format::SignatureRecord> read_signature_trailer(io::ReadableFile& file,
                                                            uint64_t file_size, uint64_t actual) {
  const uint64_t extra = actual - file_size;
  const uint64_t limit = format::signature_trailer_size(format::kMaxSignatures);
  // Never more than a full trailer is read: longer tails are refused as before (rule F2).
  std::vector<unsigned char> bytes(static_cast<size_t>(std::min<uint64_t>(extra, limit)));
  file.read_at(file_size, std::as_writable_bytes(std::span(bytes)));
  if (extra > limit) {
    bytes.resize(std::min<size_t>(bytes.size(), format::kSignatureMagic.size()));
    if (bytes.size() == format::kSignatureMagic.size() &&
        std::equal(bytes.begin(), bytes.end(), format::kSignatureMagic.begin())) {
      throw Error(ErrorCode::kCorrupt,
                  "'" + file.name() + "' is corrupt: its signature trailer has the wrong size");
    }
    throw Error(ErrorCode::kCorrupt, "'" + file.name() + "' is corrupt: " + std::to_string(extra) +
                                         " unexpected bytes after the end of the snapshot");
  }
  return format::decode_signature_trailer(bytes, file.name());
}

void require_trusted_signature(const std::vector<format::SignatureRecord>& records,
                               const std::array<unsigned char, 32>& identity,
                               const std::vector<std::array<unsigned char, 32>>& trusted,
                               const std::string& name) {
  if (records.empty()) {
    throw Error(ErrorCode::kCorrupt, "'" + name +
                                         "' is not signed, and a signature by a trusted key is "
                                         "required (hexz sign)");
  }
  const auto message = format::signature_message(identity);
  bool by_trusted_key = false;
  for (const auto& r : records) {
    if (std::find(trusted.begin(), trusted.end(), r.key) == trusted.end()) continue;
    by_trusted_key = true;
    if (crypto::verify_signature(r.key, message, r.signature)) return;
  }
  throw Error(ErrorCode::kCorrupt,
              by_trusted_key ? "'" + name +
                                   "' failed its signature check: the snapshot or its signature "
                                   "was modified"
                             : "'" + name + "' is not signed by a trusted key");
}

}  // namespace hexz::read
