#include "crypto/aead.hpp"

#include <openssl/evp.h>

#include <cstring>

#include "hexz/error.hpp"
#include "util/endian.hpp"

namespace hexz::crypto {

namespace {

/// One EVP context per thread, reset for every message.
EVP_CIPHER_CTX* thread_ctx() {
  struct Holder {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    ~Holder() { EVP_CIPHER_CTX_free(ctx); }
  };
  thread_local Holder holder;
  if (holder.ctx == nullptr) throw Error(ErrorCode::kInternal, "out of memory (OpenSSL)");
  return holder.ctx;
}

int as_int(size_t n) {
  return static_cast<int>(n);
}

}  // namespace

std::array<unsigned char, kNonceSize> make_nonce(NonceDomain domain, uint64_t counter) {
  std::array<unsigned char, kNonceSize> n{};
  util::store_le<uint32_t>(n.data(), static_cast<uint32_t>(domain));
  util::store_le<uint64_t>(n.data() + 4, counter);
  return n;
}

std::vector<std::byte> gcm_seal(const Key& key, std::span<const unsigned char, kNonceSize> nonce,
                                std::span<const unsigned char> aad,
                                std::span<const std::byte> plaintext) {
  EVP_CIPHER_CTX* ctx = thread_ctx();
  std::vector<std::byte> out(plaintext.size() + kTagSize);
  int len = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) == 1;
  if (ok && !aad.empty())
    ok = EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), as_int(aad.size())) == 1;
  if (ok && !plaintext.empty()) {
    ok = EVP_EncryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len,
                           reinterpret_cast<const unsigned char*>(plaintext.data()),
                           as_int(plaintext.size())) == 1;
  }
  ok = ok && EVP_EncryptFinal_ex(
                 ctx, reinterpret_cast<unsigned char*>(out.data()) + plaintext.size(), &len) == 1;
  ok = ok &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, out.data() + plaintext.size()) == 1;
  if (!ok) throw Error(ErrorCode::kInternal, "AES-256-GCM encryption failed");
  return out;
}

bool gcm_open(const Key& key, std::span<const unsigned char, kNonceSize> nonce,
              std::span<const unsigned char> aad, std::span<const std::byte> in,
              std::span<std::byte> out) {
  if (in.size() < kTagSize || out.size() != in.size() - kTagSize) return false;
  EVP_CIPHER_CTX* ctx = thread_ctx();
  int len = 0;
  bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) == 1;
  if (ok && !aad.empty())
    ok = EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), as_int(aad.size())) == 1;
  if (ok && !out.empty()) {
    ok = EVP_DecryptUpdate(ctx, reinterpret_cast<unsigned char*>(out.data()), &len,
                           reinterpret_cast<const unsigned char*>(in.data()),
                           as_int(out.size())) == 1;
  }
  std::array<unsigned char, kTagSize> tag;
  std::memcpy(tag.data(), in.data() + out.size(), kTagSize);
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) == 1;
  ok = ok && EVP_DecryptFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()) + out.size(),
                                 &len) == 1;
  return ok;
}

}  // namespace hexz::crypto
