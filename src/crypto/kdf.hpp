// Password-based key derivation (Argon2id, reference libargon2) and the subkeys of an encrypted
// snapshot.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace hexz::crypto {

using Key = std::array<unsigned char, 32>;
/// Per-snapshot random salt.
using Salt = std::array<unsigned char, 16>;

/// KDF algorithm ids stored in the header.
inline constexpr uint8_t kKdfArgon2id = 1;

/// Argon2id cost parameters, recorded in the header so they can be raised later. The defaults
/// here are those of the FORMAT.md check values; pack() takes its cost from PackOptions.
struct KdfParams {
  uint8_t algorithm = kKdfArgon2id;
  uint32_t iterations = 2;          ///< t (OWASP minimum for m = 19 MiB: 2)
  uint32_t memory_kib = 19 * 1024;  ///< m in KiB (OWASP: 19 MiB)
  uint32_t parallelism = 1;         ///< p (lanes)
};

/// The most a reader spends on one key derivation before it knows whether the password is right.
struct KdfCap {
  uint32_t memory_kib = 0;
  uint32_t iterations = 0;
};

/// The cap to apply: each non-zero argument as given, else HEXZ_KDF_MAX_MEMORY (a size such as
/// 256M or 1G) / HEXZ_KDF_MAX_ITERATIONS if set, else kDefaultMaxKdfMemoryKib /
/// kDefaultMaxKdfIterations (hexz/snapshot.hpp). Throws kInvalidArgument for a malformed
/// environment value.
KdfCap kdf_cap_for(uint32_t memory_kib, uint32_t iterations);

/// Throws kUnsupported, naming `file`, the cost `params` asks for, the cap and how to raise it,
/// if `params` asks for more memory or more passes than `cap` allows.
void check_kdf_cost(const KdfParams& params, const KdfCap& cap, const std::string& file);

/// Argon2id(password, salt) -> 32-byte master key (the caller wipes it after use). Throws
/// kUnsupported for unknown algorithms or parameters outside what this build accepts, kInternal if
/// the KDF fails (e.g. memory).
Key derive_master_key(const std::string& password, const Salt& salt, const KdfParams& params);

/// Independent subkeys derived from the master key (BLAKE3 derive_key mode).
struct SnapshotKeys {
  Key data;      ///< AES-256-GCM key for data blocks.
  Key metadata;  ///< AES-256-GCM key for index pages, master index, dictionary, header MAC.
  Key dedup;     ///< Keyed-BLAKE3 key for chunk digests.
};

/// Derives the three subkeys from `master`.
SnapshotKeys derive_subkeys(const Key& master);

/// Fills `out` with cryptographically secure random bytes.
void random_bytes(unsigned char* out, size_t size);

}  // namespace hexz::crypto
