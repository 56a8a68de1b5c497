#include "format/signatures.hpp"

#include <cstring>

#include "hash/checksum.hpp"
#include "hexz/error.hpp"
#include "util/endian.hpp"

namespace hexz::format {

namespace {

constexpr char kContext[] = "hexz 2026-12 snapshot signature";

}  // namespace

std::vector<unsigned char> encode_signature_trailer(const std::vector<SignatureRecord>& records) {
  std::vector<unsigned char> out(signature_trailer_size(records.size()), 0);
  unsigned char* p = out.data();
  std::memcpy(p, kSignatureMagic.data(), kSignatureMagic.size());
  util::store_le<uint32_t>(p + 8, static_cast<uint32_t>(records.size()));
  for (size_t i = 0; i < records.size(); ++i) {
    unsigned char* r = p + 16 + i * kSignatureRecordSize;
    r[0] = kSignatureEd25519;
    std::memcpy(r + 4, records[i].key.data(), records[i].key.size());
    std::memcpy(r + 36, records[i].signature.data(), records[i].signature.size());
  }
  const size_t sum_at = out.size() - 8;
  util::store_le<uint64_t>(p + sum_at, hash::checksum64(p, sum_at));
  return out;
}

std::vector<SignatureRecord> decode_signature_trailer(std::span<const unsigned char> bytes,
                                                      const std::string& name) {
  if (bytes.size() < kSignatureMagic.size() ||
      std::memcmp(bytes.data(), kSignatureMagic.data(), kSignatureMagic.size()) != 0) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: " + std::to_string(bytes.size()) +
                                         " unexpected bytes after the end of the snapshot");
  }
  const auto bad = [&](const char* what) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: its signature trailer " + what);
  };
  if (bytes.size() < kSignatureTrailerOverhead) bad("is truncated");
  const uint32_t count = util::load_le<uint32_t>(bytes.data() + 8);
  if (count == 0 || count > kMaxSignatures || bytes.size() != signature_trailer_size(count))
    bad("has the wrong size");
  const size_t sum_at = bytes.size() - 8;
  if (util::load_le<uint64_t>(bytes.data() + sum_at) != hash::checksum64(bytes.data(), sum_at))
    bad("failed its checksum");
  std::vector<SignatureRecord> out(count);
  for (uint32_t i = 0; i < count; ++i) {
    const unsigned char* r = bytes.data() + 16 + static_cast<size_t>(i) * kSignatureRecordSize;
    if (r[0] != kSignatureEd25519) bad("uses an unknown signature algorithm");
    std::memcpy(out[i].key.data(), r + 4, out[i].key.size());
    std::memcpy(out[i].signature.data(), r + 36, out[i].signature.size());
  }
  return out;
}

std::vector<unsigned char> signature_message(const std::array<unsigned char, 32>& identity) {
  constexpr size_t kContextSize = sizeof kContext - 1;  // no terminator
  std::vector<unsigned char> m(kContextSize + identity.size());
  std::memcpy(m.data(), kContext, kContextSize);
  std::memcpy(m.data() + kContextSize, identity.data(), identity.size());
  return m;
}

}  // namespace hexz::format
