#include "pack/base_index.hpp"

#include <unordered_map>

#include "hexz/error.hpp"
#include "io/readable_file.hpp"
#include "io/url.hpp"
#include "read/header_read.hpp"

namespace hexz::packing {

void rethrow_base_open_error(const Error& e) {
  if (e.code() != ErrorCode::kWrongPassword) throw e;
  throw Error(e.code(), "base snapshot: " + std::string(e.what()) +
                            " (--base-password-file gives the base's password if it differs "
                            "from the new snapshot's)");
}

BaseIndex::BaseIndex(const std::string& path, const std::vector<std::string>& base_dirs,
                     const std::string& endpoint, const std::string& password) {
  OpenOptions options;
  options.base_dirs = base_dirs;
  options.endpoint = endpoint;
  options.threads = 1;
  options.prefetch = false;  // a boot trace is for serving
  // Encryption of the base decides that of the new snapshot (FORMAT.md rule R3).
  auto file = io::open_storage(path, {endpoint, {}});
  std::array<unsigned char, format::kHeaderSize> header_bytes{};
  const bool encrypted = read::read_header(*file, header_bytes).encrypted();
  if (encrypted && password.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "base snapshot '" + path +
                    "' is encrypted: a thin snapshot of it must be encrypted too (--encrypt; "
                    "--base-password-file if the base's password differs)");
  }
  if (!encrypted && !password.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "base snapshot '" + path +
                    "' is not encrypted: an encrypted thin snapshot needs an encrypted base "
                    "(pack without --encrypt, or pack an encrypted copy of the base first)");
  }
  options.password = password;
  // Its bases are opened too: their indexes hold the digests of the chunks it references.
  // A local file or a URL (http(s)://, s3://): only its header, tail and index are read.
  try {
    reader_ = std::make_unique<read::SnapshotReader>(std::move(file), options, true);
  } catch (const Error& e) {
    rethrow_base_open_error(e);
  }
  // The chunks this pack will reference are named by the chain's indexes: check each against
  // the identity its snapshot is known by, so a base whose index was rewritten (its digests
  // kept, its block checksums recomputed for rewritten blocks) is refused here (FORMAT.md
  // section 11.3). The blocks themselves are not read: readers check them against those
  // digests (verify, flatten, verified reads).
  reader_->check_index_digest();
  reader_->check_base_index_digests();
  const auto& h = reader_->header();
  if (reader_->bases().size() + 1 > format::kMaxBases) {
    throw Error(ErrorCode::kInvalidArgument, "base '" + path + "' already depends on " +
                                                 std::to_string(reader_->bases().size()) +
                                                 " snapshots; flatten it first (hexz flatten)");
  }
  format::BaseRecord self;
  self.identity = h.identity;
  self.file_size = h.file_size;
  const auto slash = path.find_last_of('/');
  self.name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (self.name.empty() || self.name.size() > 255) {
    throw Error(ErrorCode::kInvalidArgument,
                "base file name '" + self.name + "' must be 1 to 255 bytes");
  }
  table_.push_back(self);
  for (const auto& b : reader_->bases()) table_.push_back(b);
}

std::vector<crypto::Key> BaseIndex::master_keys() const {
  std::vector<crypto::Key> keys{reader_->cipher()->master_key()};
  for (const auto& k : reader_->base_keys()) keys.push_back(k);
  return keys;
}

bool BaseIndex::same_chunking(const ChunkingParams& c) const {
  const auto& h = reader_->header();
  if (c.cdc) {
    return h.chunking == format::Chunking::kFastCdcV1 && h.min_chunk == c.min &&
           h.chunk_size == c.avg && h.max_chunk == c.max;
  }
  return h.chunking == format::Chunking::kFixed && h.chunk_size == c.chunk_size;
}

std::string BaseIndex::chunking_description() const {
  const auto& h = reader_->header();
  if (h.chunking == format::Chunking::kFixed)
    return "fixed " + std::to_string(h.chunk_size) + "-byte chunks";
  return "CDC chunks (min " + std::to_string(h.min_chunk) + ", avg " +
         std::to_string(h.chunk_size) + ", max " + std::to_string(h.max_chunk) + ")";
}

void BaseIndex::add_chunks(DedupTable& table, std::vector<BaseBlock>& blocks) const {
  std::unordered_map<uint64_t, uint32_t> block_ids;  // (source << 56 | offset) -> index in blocks
  // Every chunk stored in the base or in one of its bases: the base's own blocks become source
  // 1, those of its base k become k + 1 (one hop, always).
  reader_->for_each_stored_chunk([&](uint8_t holder, const format::IndexEntry& e) {
    if (table.find(e.digest) != nullptr) return;
    const auto source = static_cast<uint8_t>(holder + 1);
    const uint64_t key = (static_cast<uint64_t>(source) << 56) | e.block.offset;
    auto [it, added] = block_ids.try_emplace(key, static_cast<uint32_t>(blocks.size()));
    if (added) blocks.push_back({source, e.block});
    table.insert(e.digest, {it->second | DedupTable::kBaseFlag, e.offset_in_block});
  });
}

}  // namespace hexz::packing
