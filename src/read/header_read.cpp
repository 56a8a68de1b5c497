#include "read/header_read.hpp"

#include <algorithm>
#include <cstring>

#include "hash/digest.hpp"
#include "hexz/error.hpp"

namespace hexz::read {

format::Header read_header(const io::ReadableFile& file,
                           std::array<unsigned char, format::kHeaderSize>& bytes) {
  const std::string& name = file.name();
  const uint64_t actual = file.size();
  if (actual < format::kMagic.size()) {
    throw Error(ErrorCode::kNotASnapshot, "'" + name + "' is not a hexz snapshot (file too small)");
  }
  bytes.fill(0);
  const size_t have = static_cast<size_t>(std::min<uint64_t>(actual, format::kHeaderSize));
  file.read_at(0, std::as_writable_bytes(std::span(bytes.data(), have)));
  if (std::memcmp(bytes.data(), format::kMagic.data(), format::kMagic.size()) != 0) {
    throw Error(ErrorCode::kNotASnapshot, "'" + name + "' is not a hexz snapshot (bad magic)");
  }
  if (have < format::kHeaderSize) {
    throw Error(ErrorCode::kTruncated, "'" + name + "' is truncated: the header is incomplete");
  }
  format::Header header = format::decode_header(bytes, name);
  if (actual < header.file_size) {
    throw Error(ErrorCode::kTruncated, "'" + name + "' is truncated: expected " +
                                           std::to_string(header.file_size) + " bytes, found " +
                                           std::to_string(actual));
  }
  return header;
}

SnapshotInfo header_info(const format::Header& h) {
  SnapshotInfo i;
  i.header_only = true;
  i.version_major = h.version_major;
  i.version_minor = h.version_minor;
  i.required_features = h.required_features;
  i.optional_features = h.optional_features;
  i.codec = h.codec;
  i.level = h.level;
  i.chunk_size = h.chunk_size;
  i.cdc = h.chunking == format::Chunking::kFastCdcV1;
  i.min_chunk = h.min_chunk;
  i.max_chunk = h.max_chunk;
  i.block_size = h.block_size;
  i.file_size = h.file_size;
  i.index_pages = h.page_count;
  i.dictionary_bytes = h.dict_length - (h.encrypted() && h.dict_length != 0 ? crypto::kTagSize : 0);
  i.encrypted = h.encrypted();
  i.kdf_iterations = h.encryption.kdf.iterations;
  i.kdf_memory_kib = h.encryption.kdf.memory_kib;
  i.kdf_parallelism = h.encryption.kdf.parallelism;
  i.identity_hex = hash::to_hex(h.identity.data(), h.identity.size());
  for (int s = 0; s < kStreamCount; ++s) {
    const auto& r = h.streams[s];
    auto& o = i.streams[s];
    o.present = r.present != 0;
    o.logical_size = r.logical_size;
    o.chunks = r.chunks;  // zero in an encrypted header: the index holds them
    o.zero_chunks = r.zero_chunks;
    o.dup_chunks = r.dup_chunks;
    o.blocks = r.blocks;
    o.stored_bytes = r.stored_bytes;
  }
  return i;
}

}  // namespace hexz::read
