#include "read/attachment_read.hpp"

#include "codec/codec.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"

namespace hexz::read {

AttachmentTable read_attachment_table(const io::ReadableFile& file, const format::Header& header,
                                      const crypto::SnapshotCipher* cipher) {
  AttachmentTable table;
  if ((header.required_features & format::kFeatureAttachments) == 0) return table;
  const std::string& name = file.name();
  std::vector<std::byte> stored(header.attach_length);
  file.read_at(header.attach_offset, stored);
  if (hash::checksum64(stored.data(), stored.size()) != header.attach_checksum) {
    throw Error(ErrorCode::kCorrupt,
                "'" + name + "' is corrupt: attachment table checksum mismatch");
  }
  uint32_t overhead = 0;
  if (cipher != nullptr) {
    overhead = static_cast<uint32_t>(crypto::kTagSize);
    std::vector<std::byte> plain(stored.size() - crypto::kTagSize);  // H17: length >= tag
    if (!cipher->open_attachment_table(header.attach_nonce, header.attach_count, stored, plain)) {
      throw Error(ErrorCode::kCorrupt,
                  "'" + name + "' failed authentication: the attachment table was modified");
    }
    stored = std::move(plain);
  }
  const auto* p = reinterpret_cast<const unsigned char*>(stored.data());
  table.plain.assign(p, p + stored.size());
  table.records =
      format::decode_attachment_table(table.plain, header.attach_count, header.attach_length,
                                      header.file_size - header.attach_offset, overhead, name);
  return table;
}

std::vector<std::byte> read_attachment_content(const io::ReadableFile& file,
                                               const format::Header& header,
                                               const crypto::SnapshotCipher* cipher,
                                               const AttachmentTable& table, size_t index) {
  const auto& r = table.records.at(index);
  const std::string what = "attachment '" + r.name + "' of '" + file.name() + "'";
  std::vector<std::byte> stored(r.stored_length);
  file.read_at(header.attach_offset + r.offset, stored);  // A3 bounded it by file_size
  if (hash::checksum64(stored.data(), stored.size()) != r.checksum) {
    throw Error(ErrorCode::kCorrupt, what + " is corrupt (checksum mismatch)");
  }
  if (cipher != nullptr) {
    std::vector<std::byte> inner(stored.size() - crypto::kTagSize);
    if (!cipher->open_attachment(r.nonce,
                                 format::attachment_aead_context(static_cast<uint32_t>(index), r),
                                 stored, inner)) {
      throw Error(ErrorCode::kCorrupt, what + " failed authentication: it was modified");
    }
    stored = std::move(inner);
  }
  std::vector<std::byte> content(r.raw_length);
  if (r.codec == Codec::kNone) {
    content = std::move(stored);
  } else {
    codec::Decompressor d;
    try {
      d.decompress(r.codec, stored, content);
    } catch (const Error& e) {
      throw Error(ErrorCode::kCorrupt, what + " is corrupt (" + e.what() + ")");
    }
  }
  std::array<unsigned char, 32> digest;
  if (cipher != nullptr) {
    digest = cipher->attachment_digest(content.data(), content.size());
  } else {
    hash::Blake3 h;
    h.update(content.data(), content.size());
    digest = h.finish();
  }
  if (digest != r.digest) {
    throw Error(ErrorCode::kCorrupt, what + " is corrupt (its content does not match its digest)");
  }
  return content;
}

}  // namespace hexz::read
