#include "crypto/kdf.hpp"

#include <argon2.h>
#include <blake3.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include "crypto/secrets.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "hexz/types.hpp"

namespace hexz::crypto {

namespace {

Key derive(const Key& master, const char* context) {
  blake3_hasher h;
  blake3_hasher_init_derive_key(&h, context);
  blake3_hasher_update(&h, master.data(), master.size());
  Key out;
  blake3_hasher_finalize(&h, out.data(), out.size());
  wipe(&h, sizeof h);  // its state is a function of the master key
  return out;
}

/// "64 MiB" for 65536 KiB, "1 GiB" for 1048576 KiB, else "N KiB".
std::string kib_text(uint32_t kib) {
  if (kib % (1024 * 1024) == 0) return std::to_string(kib / (1024 * 1024)) + " GiB";
  if (kib % 1024 == 0) return std::to_string(kib / 1024) + " MiB";
  return std::to_string(kib) + " KiB";
}

/// "1 pass", "3 passes".
std::string passes_text(uint32_t n) {
  return std::to_string(n) + (n == 1 ? " pass" : " passes");
}

/// The value of environment variable `name`, or nullptr if unset or empty.
const char* env_value(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

KdfCap kdf_cap_for(uint32_t memory_kib, uint32_t iterations) {
  KdfCap cap{memory_kib, iterations};
  if (cap.memory_kib == 0) {
    cap.memory_kib = kDefaultMaxKdfMemoryKib;
    if (const char* env = env_value("HEXZ_KDF_MAX_MEMORY")) {
      const std::optional<uint64_t> bytes = parse_size(env);
      if (!bytes || *bytes < 1024) {
        throw Error(ErrorCode::kInvalidArgument,
                    std::string("HEXZ_KDF_MAX_MEMORY='") + env +
                        "' is not a memory size (expected e.g. 256M or 1G)");
      }
      cap.memory_kib = static_cast<uint32_t>(std::min<uint64_t>(*bytes / 1024, UINT32_MAX));
    }
  }
  if (cap.iterations == 0) {
    cap.iterations = kDefaultMaxKdfIterations;
    if (const char* env = env_value("HEXZ_KDF_MAX_ITERATIONS")) {
      char* end = nullptr;
      const unsigned long long n = std::strtoull(env, &end, 10);
      if (*end != '\0' || n == 0 || env[0] == '-') {
        throw Error(ErrorCode::kInvalidArgument, std::string("HEXZ_KDF_MAX_ITERATIONS='") + env +
                                                     "' is not a positive number of passes");
      }
      cap.iterations = static_cast<uint32_t>(std::min<unsigned long long>(n, UINT32_MAX));
    }
  }
  return cap;
}

void check_kdf_cost(const KdfParams& p, const KdfCap& cap, const std::string& file) {
  if (p.memory_kib <= cap.memory_kib && p.iterations <= cap.iterations) return;
  throw Error(ErrorCode::kUnsupported,
              "'" + file + "' asks for an Argon2id key derivation of " + passes_text(p.iterations) +
                  " over " + kib_text(p.memory_kib) + ", above this reader's cap of " +
                  passes_text(cap.iterations) + " over " + kib_text(cap.memory_kib) +
                  "; if you trust the file, raise the cap (--kdf-max-memory SIZE and "
                  "--kdf-max-iterations N, or HEXZ_KDF_MAX_MEMORY and HEXZ_KDF_MAX_ITERATIONS)");
}

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
