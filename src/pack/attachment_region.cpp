#include "pack/attachment_region.hpp"

#include <cstring>
#include <set>

#include "codec/codec.hpp"
#include "format/attachments.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"

namespace hexz::packing {

void check_attachments(const std::vector<AttachmentInput>& list) {
  if (list.size() > format::kMaxAttachments) {
    throw Error(ErrorCode::kInvalidArgument, std::to_string(list.size()) +
                                                 " attachments: a snapshot holds at most " +
                                                 std::to_string(format::kMaxAttachments));
  }
  std::set<std::string> seen;
  for (const auto& a : list) {
    if (const std::string problem = format::attachment_name_problem(a.name); !problem.empty())
      throw Error(ErrorCode::kInvalidArgument, problem);
    if (!seen.insert(a.name).second) {
      throw Error(ErrorCode::kInvalidArgument, "attachment '" + a.name + "' is given twice");
    }
    if (a.bytes.size() > format::kMaxAttachmentSize) {
      throw Error(ErrorCode::kInvalidArgument, "attachment '" + a.name + "' is " +
                                                   std::to_string(a.bytes.size()) +
                                                   " bytes: an attachment holds at most 64 MiB");
    }
  }
}

AttachmentRegion build_attachment_region(const std::vector<AttachmentInput>& list, Codec codec,
                                         int level, const crypto::SnapshotCipher* cipher) {
  const uint32_t overhead = cipher != nullptr ? static_cast<uint32_t>(crypto::kTagSize) : 0;
  AttachmentRegion region;
  region.count = static_cast<uint32_t>(list.size());
  uint64_t table_length = overhead;
  for (const auto& a : list) table_length += format::kAttachmentRecordFixed + a.name.size();
  region.table_length = static_cast<uint32_t>(table_length);
  codec::Compressor compressor(codec, level);
  std::vector<format::AttachmentRecord> records;
  std::vector<std::byte> blobs;
  for (uint32_t i = 0; i < list.size(); ++i) {
    const auto& a = list[i];
    format::AttachmentRecord r;
    r.name = a.name;
    r.raw_length = static_cast<uint32_t>(a.bytes.size());
    r.offset = table_length + blobs.size();
    std::vector<std::byte> stored = a.bytes;
    r.codec = Codec::kNone;
    if (!a.bytes.empty()) {
      std::vector<std::byte> packed(compressor.bound(a.bytes.size()));
      const size_t n = compressor.compress(a.bytes, packed);
      if (n != 0) {
        packed.resize(n);
        stored = std::move(packed);
        r.codec = compressor.codec();
      }
    }
    if (cipher != nullptr) {
      r.digest = cipher->attachment_digest(a.bytes.data(), a.bytes.size());
      r.nonce = crypto::SnapshotCipher::random_nonce();
      stored = cipher->seal_attachment(r.nonce, format::attachment_aead_context(i, r), stored);
    } else {
      hash::Blake3 h;
      h.update(a.bytes.data(), a.bytes.size());
      r.digest = h.finish();
    }
    r.stored_length = static_cast<uint32_t>(stored.size());
    r.checksum = hash::checksum64(stored.data(), stored.size());
    blobs.insert(blobs.end(), stored.begin(), stored.end());
    records.push_back(std::move(r));
  }
  region.table = format::encode_attachment_table(records);
  std::vector<std::byte> stored_table(
      reinterpret_cast<const std::byte*>(region.table.data()),
      reinterpret_cast<const std::byte*>(region.table.data()) + region.table.size());
  if (cipher != nullptr) {
    region.table_nonce = crypto::SnapshotCipher::random_nonce();
    stored_table = cipher->seal_attachment_table(region.table_nonce, region.count, stored_table);
  }
  region.table_checksum = hash::checksum64(stored_table.data(), stored_table.size());
  region.bytes = std::move(stored_table);
  region.bytes.insert(region.bytes.end(), blobs.begin(), blobs.end());
  return region;
}

void record_attachment_region(format::Header& header, const AttachmentRegion* region, uint64_t at) {
  if (region == nullptr) {
    header.required_features &= ~format::kFeatureAttachments;
    header.version_minor = format::minor_version_for(header.required_features);
    header.attach_offset = header.attach_length = header.attach_count = 0;
    header.attach_checksum = header.attach_nonce = 0;
    return;
  }
  header.required_features |= format::kFeatureAttachments;
  header.version_minor = format::minor_version_for(header.required_features);
  header.attach_offset = at;
  header.attach_length = region->table_length;
  header.attach_count = region->count;
  header.attach_checksum = region->table_checksum;
  header.attach_nonce = region->table_nonce;
}

}  // namespace hexz::packing
