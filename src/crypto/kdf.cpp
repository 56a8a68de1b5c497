#include "crypto/kdf.hpp"

#include <argon2.h>
#include <blake3.h>
#include <openssl/rand.h>

#include "hexz/error.hpp"

namespace hexz::crypto {

namespace {

Key derive(const Key& master, const char* context) {
  blake3_hasher h;
  blake3_hasher_init_derive_key(&h, context);
  blake3_hasher_update(&h, master.data(), master.size());
  Key out;
  blake3_hasher_finalize(&h, out.data(), out.size());
  return out;
}

}  // namespace

Key derive_master_key(const std::string& password, const Salt& salt, const KdfParams& p) {
  if (p.algorithm != kKdfArgon2id) {
    throw Error(ErrorCode::kUnsupported,
                "unknown key derivation algorithm " + std::to_string(p.algorithm));
  }
  // Bounds: at least OWASP's minimum, at most what a reader should ever be asked to spend.
  if (p.parallelism < 1 || p.parallelism > 64 || p.iterations < 1 || p.iterations > 64 ||
      p.memory_kib < 8 * 1024 || p.memory_kib > 1024 * 1024) {
    throw Error(ErrorCode::kUnsupported,
                "unsupported Argon2id parameters (t=" + std::to_string(p.iterations) +
                    ", m=" + std::to_string(p.memory_kib) +
                    " KiB, p=" + std::to_string(p.parallelism) + ")");
  }
  Key out;
  const int rc =
      argon2id_hash_raw(p.iterations, p.memory_kib, p.parallelism, password.data(), password.size(),
                        salt.data(), salt.size(), out.data(), out.size());
  if (rc != ARGON2_OK) {
    throw Error(ErrorCode::kInternal,
                std::string("key derivation failed: ") + argon2_error_message(rc));
  }
  return out;
}

SnapshotKeys derive_subkeys(const Key& master) {
  return {derive(master, "hexz 2026-11 snapshot data key"),
          derive(master, "hexz 2026-11 snapshot metadata key"),
          derive(master, "hexz 2026-11 snapshot dedup key")};
}

void random_bytes(unsigned char* out, size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1)
    throw Error(ErrorCode::kInternal, "no secure random numbers available");
}

}  // namespace hexz::crypto
