#include "crypto/snapshot_cipher.hpp"

#include <blake3.h>

#include <cstring>

#include "crypto/secrets.hpp"
#include "util/endian.hpp"

namespace hexz::crypto {

SnapshotCipher::SnapshotCipher(const std::string& password, const EncryptionHeader& header)
    : id_(header.id) {
  keep_out_of_core_dumps();  // from now on this process holds keys
  master_ = derive_master_key(password, header.salt, header.kdf);
  keys_ = derive_subkeys(master_);
}

SnapshotCipher::SnapshotCipher(const Key& master, const EncryptionHeader& header)
    : master_(master), id_(header.id) {
  keep_out_of_core_dumps();
  keys_ = derive_subkeys(master_);
}

SnapshotCipher::~SnapshotCipher() {
  wipe(&keys_, sizeof keys_);
  wipe(master_.data(), master_.size());
}

EncryptionHeader SnapshotCipher::fresh_header() {
  EncryptionHeader h;
  random_bytes(h.salt.data(), h.salt.size());
  random_bytes(h.id.data(), h.id.size());
  return h;
}

std::vector<unsigned char> SnapshotCipher::aad(const char tag[4],
                                               std::span<const unsigned char> extra) const {
  std::vector<unsigned char> a(id_.size() + 4 + extra.size());
  std::memcpy(a.data(), id_.data(), id_.size());
  std::memcpy(a.data() + id_.size(), tag, 4);
  if (!extra.empty()) std::memcpy(a.data() + id_.size() + 4, extra.data(), extra.size());
  return a;
}

std::array<unsigned char, kTagSize> SnapshotCipher::gmac(
    NonceDomain domain, const char tag[4], std::span<const unsigned char> data) const {
  const auto sealed = gcm_seal(keys_.metadata, make_nonce(domain, 0), aad(tag, data), {});
  std::array<unsigned char, kTagSize> out;
  std::memcpy(out.data(), sealed.data(), kTagSize);
  return out;
}

std::array<unsigned char, kTagSize> SnapshotCipher::key_check(
    std::span<const unsigned char> kdf_fields) const {
  return gmac(NonceDomain::kKeyCheck, "KEY\0", kdf_fields);
}

std::array<unsigned char, kTagSize> SnapshotCipher::header_mac(
    std::span<const unsigned char> prefix) const {
  return gmac(NonceDomain::kHeaderMac, "HDR\0", prefix);
}

namespace {
std::array<unsigned char, 13> block_context(uint64_t seq, uint32_t raw_length, Codec codec) {
  std::array<unsigned char, 13> c{};
  util::store_le<uint64_t>(c.data(), seq);
  util::store_le<uint32_t>(c.data() + 8, raw_length);
  c[12] = static_cast<unsigned char>(codec);
  return c;
}
}  // namespace

std::vector<std::byte> SnapshotCipher::seal_block(uint64_t seq, uint32_t raw_length, Codec codec,
                                                  std::span<const std::byte> in) const {
  return gcm_seal(keys_.data, make_nonce(NonceDomain::kDataBlock, seq),
                  aad("BLK\0", block_context(seq, raw_length, codec)), in);
}

bool SnapshotCipher::open_block(uint64_t seq, uint32_t raw_length, Codec codec,
                                std::span<const std::byte> in, std::span<std::byte> out) const {
  return gcm_open(keys_.data, make_nonce(NonceDomain::kDataBlock, seq),
                  aad("BLK\0", block_context(seq, raw_length, codec)), in, out);
}

std::vector<std::byte> SnapshotCipher::seal_page(uint64_t page,
                                                 std::span<const unsigned char> context,
                                                 std::span<const std::byte> in) const {
  return gcm_seal(keys_.metadata, make_nonce(NonceDomain::kIndexPage, page), aad("IDX\0", context),
                  in);
}

bool SnapshotCipher::open_page(uint64_t page, std::span<const unsigned char> context,
                               std::span<const std::byte> in, std::span<std::byte> out) const {
  return gcm_open(keys_.metadata, make_nonce(NonceDomain::kIndexPage, page), aad("IDX\0", context),
                  in, out);
}

std::vector<std::byte> SnapshotCipher::seal_section(NonceDomain domain,
                                                    std::span<const std::byte> in) const {
  return gcm_seal(keys_.metadata, make_nonce(domain, 0), aad("SEC\0", {}), in);
}

bool SnapshotCipher::open_section(NonceDomain domain, std::span<const std::byte> in,
                                  std::span<std::byte> out) const {
  return gcm_open(keys_.metadata, make_nonce(domain, 0), aad("SEC\0", {}), in, out);
}

std::vector<std::byte> SnapshotCipher::seal_attachment(uint64_t nonce,
                                                       std::span<const unsigned char> context,
                                                       std::span<const std::byte> in) const {
  return gcm_seal(keys_.data, make_nonce(NonceDomain::kAttachment, nonce), aad("ATT\0", context),
                  in);
}

bool SnapshotCipher::open_attachment(uint64_t nonce, std::span<const unsigned char> context,
                                     std::span<const std::byte> in,
                                     std::span<std::byte> out) const {
  return gcm_open(keys_.data, make_nonce(NonceDomain::kAttachment, nonce), aad("ATT\0", context),
                  in, out);
}

namespace {
std::array<unsigned char, 4> count_context(uint32_t count) {
  std::array<unsigned char, 4> c{};
  util::store_le<uint32_t>(c.data(), count);
  return c;
}
}  // namespace

std::vector<std::byte> SnapshotCipher::seal_attachment_table(uint64_t nonce, uint32_t count,
                                                             std::span<const std::byte> in) const {
  return gcm_seal(keys_.metadata, make_nonce(NonceDomain::kAttachmentTable, nonce),
                  aad("ATB\0", count_context(count)), in);
}

bool SnapshotCipher::open_attachment_table(uint64_t nonce, uint32_t count,
                                           std::span<const std::byte> in,
                                           std::span<std::byte> out) const {
  return gcm_open(keys_.metadata, make_nonce(NonceDomain::kAttachmentTable, nonce),
                  aad("ATB\0", count_context(count)), in, out);
}

std::vector<std::byte> SnapshotCipher::seal_base_keys(uint32_t count,
                                                      std::span<const std::byte> in) const {
  return gcm_seal(keys_.metadata, make_nonce(NonceDomain::kBaseKeys, 0),
                  aad("BKY\0", count_context(count)), in);
}

bool SnapshotCipher::open_base_keys(uint32_t count, std::span<const std::byte> in,
                                    std::span<std::byte> out) const {
  return gcm_open(keys_.metadata, make_nonce(NonceDomain::kBaseKeys, 0),
                  aad("BKY\0", count_context(count)), in, out);
}

std::array<unsigned char, 32> SnapshotCipher::attachment_digest(const void* data,
                                                                size_t size) const {
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, keys_.dedup.data());
  blake3_hasher_update(&h, data, size);
  std::array<unsigned char, 32> d;
  blake3_hasher_finalize(&h, d.data(), d.size());
  return d;
}

uint64_t SnapshotCipher::random_nonce() {
  unsigned char b[8];
  random_bytes(b, sizeof b);
  return util::load_le<uint64_t>(b);
}

hash::ChunkDigest SnapshotCipher::chunk_digest(const void* data, size_t size) const {
  blake3_hasher h;
  blake3_hasher_init_keyed(&h, keys_.dedup.data());
  blake3_hasher_update(&h, data, size);
  hash::ChunkDigest d;
  blake3_hasher_finalize(&h, d.bytes.data(), d.bytes.size());
  return d;
}

}  // namespace hexz::crypto
