// Signed snapshots: Ed25519 keys, and signatures of a snapshot's identity added without
// repacking (docs/FORMAT.md section 21, docs/SECURITY.md).
#pragma once

#include <array>
#include <string>

#include "hexz/snapshot.hpp"

namespace hexz {

/// A raw Ed25519 public key, as OpenOptions::trusted_keys holds them.
using PublicKey = std::array<unsigned char, 32>;

/// Writes a new Ed25519 key pair: the private key (PEM) to `private_key_path` with mode 0600,
/// the public key (PEM) to `private_key_path + ".pub"`. Throws kAlreadyExists if either exists
/// (unless `overwrite`), kIo.
void generate_signing_key(const std::string& private_key_path, bool overwrite = false);

/// The public key in PEM file `path` (a .pub file, or a private key file). Throws kNotFound,
/// kIo, kInvalidArgument (not an Ed25519 PEM key).
PublicKey read_public_key(const std::string& path);

/// What sign_snapshot() did.
struct SignResult {
  std::string identity_hex;  ///< The identity signed.
  PublicKey key{};           ///< The signer's public key.
  size_t signatures = 0;     ///< Signatures in the file now.
  bool replaced = false;     ///< True if a signature by the same key was replaced.
};

/// Signs the local snapshot `snapshot_path` with the private key in `private_key_path`: opens
/// it (as `open_options` say: the password of an encrypted one), checks its index against its
/// identity, and writes a signature trailer after its last byte, keeping the signatures of
/// other keys and replacing an earlier one by the same key. The snapshot's bytes are not
/// changed. Throws hexz::Error (kInvalidArgument for a remote location, and what opening the
/// snapshot or reading the key throws).
SignResult sign_snapshot(const std::string& snapshot_path, const std::string& private_key_path,
                         const OpenOptions& open_options = {});

}  // namespace hexz
