// Encryption of one snapshot's sections: what is sealed with which key, nonce and associated
// data (FORMAT.md, "Encryption").
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/kdf.hpp"
#include "hash/digest.hpp"
#include "hexz/types.hpp"

namespace hexz::crypto {

/// Random per-snapshot id, bound into every piece of associated data.
using SnapshotId = std::array<unsigned char, 16>;

/// The encryption parameters stored in the header.
struct EncryptionHeader {
  KdfParams kdf;
  Salt salt{};
  SnapshotId id{};
  std::array<unsigned char, kTagSize> key_check{};   ///< Proves the key is right.
  std::array<unsigned char, kTagSize> header_mac{};  ///< Authenticates the header.
};

/// Keys and ids of one encrypted snapshot. Thread-safe (immutable).
class SnapshotCipher {
 public:
  /// Derives keys from `password` and the header's KDF parameters and salt (slow: Argon2id).
  /// Marks the process non-dumpable first (crypto::keep_out_of_core_dumps). The master key is
  /// kept (a thin snapshot packed against this one stores it sealed) and wiped with the keys.
  SnapshotCipher(const std::string& password, const EncryptionHeader& header);
  /// Keys of a snapshot whose master key is already known (a base of an encrypted thin
  /// snapshot, unlocked through that snapshot's base key table: no key derivation). Marks the
  /// process non-dumpable too.
  SnapshotCipher(const Key& master, const EncryptionHeader& header);
  /// Wipes the keys.
  ~SnapshotCipher();
  SnapshotCipher(const SnapshotCipher&) = delete;
  SnapshotCipher& operator=(const SnapshotCipher&) = delete;

  /// New parameters for a snapshot being written: fresh random salt and id.
  static EncryptionHeader fresh_header();

  /// Tag proving knowledge of the key for this snapshot (bound to the KDF params, salt, id).
  std::array<unsigned char, kTagSize> key_check(std::span<const unsigned char> kdf_fields) const;
  /// Tag over the header bytes that precede the MAC field.
  std::array<unsigned char, kTagSize> header_mac(
      std::span<const unsigned char> header_prefix) const;

  /// Encrypts a stored block (compressed or raw bytes) of sequence number `seq`.
  std::vector<std::byte> seal_block(uint64_t seq, uint32_t raw_length, Codec codec,
                                    std::span<const std::byte> in) const;
  /// Decrypts; false if authentication fails.
  bool open_block(uint64_t seq, uint32_t raw_length, Codec codec, std::span<const std::byte> in,
                  std::span<std::byte> out) const;

  /// Index pages: `context` is the page's master entry fields (page number, stream, first
  /// logical offset, entry count, raw length) serialised by the caller.
  std::vector<std::byte> seal_page(uint64_t page, std::span<const unsigned char> context,
                                   std::span<const std::byte> in) const;
  bool open_page(uint64_t page, std::span<const unsigned char> context,
                 std::span<const std::byte> in, std::span<std::byte> out) const;

  /// Master index and dictionary: one message each.
  std::vector<std::byte> seal_section(NonceDomain domain, std::span<const std::byte> in) const;
  bool open_section(NonceDomain domain, std::span<const std::byte> in,
                    std::span<std::byte> out) const;

  /// Attachments (FORMAT.md section 12.5): `nonce` is a random counter drawn for every seal
  /// (random_nonce()), `context` is format::attachment_aead_context().
  std::vector<std::byte> seal_attachment(uint64_t nonce, std::span<const unsigned char> context,
                                         std::span<const std::byte> in) const;
  /// Decrypts an attachment; false if authentication fails.
  bool open_attachment(uint64_t nonce, std::span<const unsigned char> context,
                       std::span<const std::byte> in, std::span<std::byte> out) const;
  /// The attachment table of `count` records, sealed under nonce (7, `nonce`).
  std::vector<std::byte> seal_attachment_table(uint64_t nonce, uint32_t count,
                                               std::span<const std::byte> in) const;
  /// Decrypts the attachment table; false if authentication fails.
  bool open_attachment_table(uint64_t nonce, uint32_t count, std::span<const std::byte> in,
                             std::span<std::byte> out) const;
  /// Keyed BLAKE3-256 under the dedup key: the digest of an attachment's content.
  std::array<unsigned char, 32> attachment_digest(const void* data, size_t size) const;
  /// A fresh random nonce counter (CSPRNG) for one attachment or attachment-table seal.
  static uint64_t random_nonce();

  /// The base key table of an encrypted thin snapshot (FORMAT.md section 10.8): `count` base
  /// records, sealed under nonce (8, 0).
  std::vector<std::byte> seal_base_keys(uint32_t count, std::span<const std::byte> in) const;
  /// Decrypts the base key table; false if authentication fails.
  bool open_base_keys(uint32_t count, std::span<const std::byte> in,
                      std::span<std::byte> out) const;

  /// Keyed BLAKE3 chunk digest (the dedup key under encryption).
  hash::ChunkDigest chunk_digest(const void* data, size_t size) const;
  /// The key chunk digests (and attachment digests) are keyed with.
  const Key& dedup_key() const { return keys_.dedup; }
  /// Replaces the dedup key: an encrypted thin snapshot uses its chain's (FORMAT.md 12.2).
  /// Not thread-safe: call before the cipher is shared.
  void use_dedup_key(const Key& key) { keys_.dedup = key; }
  /// The master key the subkeys were derived from (what a thin snapshot's base key table
  /// stores for this snapshot). Wiped with the cipher.
  const Key& master_key() const { return master_; }

 private:
  std::vector<unsigned char> aad(const char tag[4], std::span<const unsigned char> extra) const;
  /// Tag of an empty message (GMAC) under the metadata key, nonce (domain, 0).
  std::array<unsigned char, kTagSize> gmac(NonceDomain domain, const char tag[4],
                                           std::span<const unsigned char> data) const;

  Key master_{};
  SnapshotKeys keys_;
  SnapshotId id_;
};

}  // namespace hexz::crypto
