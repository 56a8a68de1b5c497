#include "crypto/signature.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

#include "hexz/error.hpp"

namespace hexz::crypto {

namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot read key file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string pem_of(const std::function<int(BIO*)>& write, const char* what) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1)
    throw Error(ErrorCode::kInternal, std::string("cannot encode the ") + what);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

void write_file(const std::string& path, const std::string& text, mode_t mode, bool overwrite) {
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
  const int fd = ::open(path.c_str(), flags, mode);
  if (fd < 0) {
    throw Error(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIo,
                "cannot create '" + path + "': " + std::strerror(errno));
  }
  bool ok = ::fchmod(fd, mode) == 0;  // also when overwriting a file with a wider mode
  size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) ok = false;
    done += n > 0 ? static_cast<size_t>(n) : 0;
  }
  ok = ::close(fd) == 0 && ok;
  if (!ok) throw Error(ErrorCode::kIo, "cannot write '" + path + "': " + std::strerror(errno));
}

Pkey load_key(const std::string& path, bool want_private) {
  const std::string text = read_text(path);
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key && !want_private) {
    bio.reset(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  }
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "' is not an Ed25519 " +
                                                 (want_private ? "private key" : "key") +
                                                 " in PEM form (make one with hexz keygen)");
  }
  return key;
}

PublicKey raw_public(EVP_PKEY* key) {
  PublicKey out{};
  size_t n = out.size();
  if (EVP_PKEY_get_raw_public_key(key, out.data(), &n) != 1 || n != out.size())
    throw Error(ErrorCode::kInternal, "cannot extract an Ed25519 public key");
  return out;
}

}  // namespace

void generate_key_pair(const std::string& private_path, const std::string& public_path,
                       bool overwrite) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) throw Error(ErrorCode::kInternal, "cannot generate an Ed25519 key");
  const std::string priv = pem_of(
      [&](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
      },
      "private key");
  const std::string pub =
      pem_of([&](BIO* b) { return PEM_write_bio_PUBKEY(b, key.get()); }, "public key");
  if (!overwrite) {
    struct stat st {};
    if (::stat(public_path.c_str(), &st) == 0) {
      throw Error(ErrorCode::kAlreadyExists, "'" + public_path + "' already exists");
    }
  }
  write_file(private_path, priv, 0600, overwrite);
  write_file(public_path, pub, 0644, overwrite);
}

PublicKey load_public_key(const std::string& path) {
  return raw_public(load_key(path, false).get());
}

Signature sign_with_key_file(const std::string& private_path,
                             std::span<const unsigned char> message, PublicKey& public_key) {
  const Pkey key = load_key(private_path, true);
  public_key = raw_public(key.get());
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  Signature sig{};
  size_t n = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &n, message.data(), message.size()) != 1 ||
      n != sig.size()) {
    throw Error(ErrorCode::kInternal, "Ed25519 signing failed");
  }
  return sig;
}

bool verify_signature(const PublicKey& key, std::span<const unsigned char> message,
                      const Signature& signature) {
  Pkey pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return pkey && ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

}  // namespace hexz::crypto
