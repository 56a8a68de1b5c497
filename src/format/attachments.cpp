#include "format/attachments.hpp"

#include <cstring>
#include <set>

#include "hexz/error.hpp"
#include "util/endian.hpp"

namespace hexz::format {

using util::load_le;
using util::store_le;

namespace {

bool name_char(char c, bool first) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '.' || c == '_' || c == '-'));
}

}  // namespace

std::string attachment_name_problem(const std::string& name) {
  if (name.empty()) return "an attachment name cannot be empty";
  if (name.size() > kMaxAttachmentName) {
    return "attachment name '" + name.substr(0, 16) + "…' is longer than " +
           std::to_string(kMaxAttachmentName) + " bytes";
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (!name_char(name[i], i == 0)) {
      return "attachment name '" + name +
             "' is not valid (letters, digits, '.', '_' and '-', starting with a letter or digit)";
    }
  }
  return {};
}

std::vector<unsigned char> encode_attachment_table(const std::vector<AttachmentRecord>& records) {
  std::vector<unsigned char> out;
  for (const auto& r : records) {
    const size_t at = out.size();
    out.resize(at + kAttachmentRecordFixed + r.name.size());
    unsigned char* p = out.data() + at;
    store_le<uint64_t>(p + 0, r.offset);
    store_le<uint32_t>(p + 8, r.stored_length);
    store_le<uint32_t>(p + 12, r.raw_length);
    p[16] = static_cast<unsigned char>(r.codec);
    p[17] = static_cast<unsigned char>(r.name.size());
    store_le<uint64_t>(p + 24, r.checksum);
    store_le<uint64_t>(p + 32, r.nonce);
    std::memcpy(p + 40, r.digest.data(), r.digest.size());
    std::memcpy(p + kAttachmentRecordFixed, r.name.data(), r.name.size());
  }
  return out;
}

std::vector<AttachmentRecord> decode_attachment_table(std::span<const unsigned char> in,
                                                      uint32_t count, uint64_t table_length,
                                                      uint64_t region_length, uint32_t overhead,
                                                      const std::string& name) {
  const auto bad = [&](const std::string& what) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: attachment table " + what);
  };
  std::vector<AttachmentRecord> out;
  std::set<std::string> names;
  size_t at = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const std::string which = "record " + std::to_string(i);
    if (in.size() - at < kAttachmentRecordFixed) bad("is truncated");
    const unsigned char* p = in.data() + at;
    AttachmentRecord r;
    r.offset = load_le<uint64_t>(p + 0);
    r.stored_length = load_le<uint32_t>(p + 8);
    r.raw_length = load_le<uint32_t>(p + 12);
    if (p[16] > static_cast<uint8_t>(Codec::kZstd)) bad(which + " has an unknown codec");
    r.codec = static_cast<Codec>(p[16]);
    const size_t len = p[17];
    r.checksum = load_le<uint64_t>(p + 24);
    r.nonce = load_le<uint64_t>(p + 32);
    std::memcpy(r.digest.data(), p + 40, r.digest.size());
    if (in.size() - at - kAttachmentRecordFixed < len) bad("is truncated");
    r.name.assign(reinterpret_cast<const char*>(p + kAttachmentRecordFixed), len);
    if (!attachment_name_problem(r.name).empty()) bad(which + " has an invalid name");
    if (!names.insert(r.name).second) bad("names '" + r.name + "' twice");
    if (r.raw_length > kMaxAttachmentSize) bad("'" + r.name + "' is larger than 64 MiB");
    if (r.stored_length < overhead) bad("'" + r.name + "' is shorter than its tag");
    if (r.codec == Codec::kNone && r.stored_length - overhead != r.raw_length)
      bad("'" + r.name + "' has inconsistent lengths");
    if (r.codec != Codec::kNone && r.raw_length == 0) bad("'" + r.name + "' is empty but coded");
    // [offset, offset + stored_length) inside [table_length, region_length), by subtraction.
    if (r.offset < table_length || r.offset > region_length ||
        r.stored_length > region_length - r.offset) {
      bad("'" + r.name + "' lies outside the attachment region");
    }
    out.push_back(std::move(r));
    at += kAttachmentRecordFixed + len;
  }
  if (at != in.size()) bad("has trailing bytes");
  return out;
}

std::vector<unsigned char> attachment_aead_context(uint32_t index, const AttachmentRecord& r) {
  std::vector<unsigned char> c(10 + r.name.size());
  store_le<uint32_t>(c.data(), index);
  store_le<uint32_t>(c.data() + 4, r.raw_length);
  c[8] = static_cast<unsigned char>(r.codec);
  c[9] = static_cast<unsigned char>(r.name.size());
  std::memcpy(c.data() + 10, r.name.data(), r.name.size());
  return c;
}

}  // namespace hexz::format
