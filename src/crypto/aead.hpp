// AES-256-GCM (OpenSSL EVP) with hexz's nonce layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "crypto/kdf.hpp"

namespace hexz::crypto {

inline constexpr size_t kTagSize = 16;
inline constexpr size_t kNonceSize = 12;

/// Nonce domains: one key never sees the same (domain, counter) twice (FORMAT.md, "Encryption").
enum class NonceDomain : uint32_t {
  kDataBlock = 0,        ///< data key; counter = block sequence number
  kIndexPage = 1,        ///< metadata key; counter = page number
  kMasterIndex = 2,      ///< metadata key; counter 0
  kDictionary = 3,       ///< metadata key; counter 0
  kHeaderMac = 4,        ///< metadata key; counter 0
  kKeyCheck = 5,         ///< metadata key; counter 0
  kAttachment = 6,       ///< data key; counter = the attachment record's random nonce
  kAttachmentTable = 7,  ///< metadata key; counter = the header's random attach_nonce
  kBaseKeys = 8,         ///< metadata key; counter 0 (an encrypted thin snapshot's base keys)
};

/// The 12-byte nonce: u32 domain, u64 counter, little-endian.
std::array<unsigned char, kNonceSize> make_nonce(NonceDomain domain, uint64_t counter);

/// Raw AES-256-GCM. seal() returns ciphertext || 16-byte tag.
std::vector<std::byte> gcm_seal(const Key& key, std::span<const unsigned char, kNonceSize> nonce,
                                std::span<const unsigned char> aad,
                                std::span<const std::byte> plaintext);
/// Verifies and decrypts ciphertext || tag. Returns false (and leaves `out` unspecified) if
/// authentication fails. REQUIRES: out.size() == in.size() - kTagSize.
bool gcm_open(const Key& key, std::span<const unsigned char, kNonceSize> nonce,
              std::span<const unsigned char> aad, std::span<const std::byte> in,
              std::span<std::byte> out);

}  // namespace hexz::crypto
