// Ed25519 signatures (through OpenSSL EVP) and their PEM key files.
#pragma once

#include <array>
#include <span>
#include <string>

namespace hexz::crypto {

/// A raw Ed25519 public key.
using PublicKey = std::array<unsigned char, 32>;
/// A raw Ed25519 signature.
using Signature = std::array<unsigned char, 64>;

/// Generates an Ed25519 key pair: the private key (PKCS#8 PEM) goes to `private_path`, created
/// with mode 0600 (refused with kAlreadyExists if it exists, unless `overwrite`), the public key
/// (SubjectPublicKeyInfo PEM) to `public_path`. Throws hexz::Error.
void generate_key_pair(const std::string& private_path, const std::string& public_path,
                       bool overwrite);

/// The Ed25519 public key in PEM file `path` (a public key file, or a private key file, whose
/// public half is taken). Throws kNotFound, kIo or kInvalidArgument (not an Ed25519 key).
PublicKey load_public_key(const std::string& path);

/// Signs `message` with the Ed25519 private key in PEM file `private_path`; `public_key` gets
/// the key's public half. Throws kNotFound, kIo or kInvalidArgument.
Signature sign_with_key_file(const std::string& private_path,
                             std::span<const unsigned char> message, PublicKey& public_key);

/// True if `signature` is a valid Ed25519 signature of `message` by `key`.
bool verify_signature(const PublicKey& key, std::span<const unsigned char> message,
                      const Signature& signature);

}  // namespace hexz::crypto
