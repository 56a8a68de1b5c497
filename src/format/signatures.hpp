// The signature trailer (FORMAT.md section 21): Ed25519 signatures of the snapshot identity,
// stored after the snapshot's last byte (header file_size), added without repacking.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto/signature.hpp"

namespace hexz::format {

/// First 8 bytes of a signature trailer.
inline constexpr std::array<unsigned char, 8> kSignatureMagic = {'H', 'X', 'Z',  'S',
                                                                 'I', 'G', '\r', '\n'};
/// Algorithm id of an Ed25519 signature record.
inline constexpr uint8_t kSignatureEd25519 = 1;
/// Bytes of one signature record, and of the trailer around the records.
inline constexpr size_t kSignatureRecordSize = 100;
inline constexpr size_t kSignatureTrailerOverhead = 24;
/// Most records one trailer holds.
inline constexpr uint32_t kMaxSignatures = 64;

/// One signature of the identity.
struct SignatureRecord {
  crypto::PublicKey key{};
  crypto::Signature signature{};
};

/// Serialises a trailer of 1 to kMaxSignatures records.
std::vector<unsigned char> encode_signature_trailer(const std::vector<SignatureRecord>& records);
/// Parses the bytes after file_size. Throws kCorrupt ("N unexpected bytes after the end of the
/// snapshot" when they do not start with kSignatureMagic, else naming the problem).
std::vector<SignatureRecord> decode_signature_trailer(std::span<const unsigned char> bytes,
                                                      const std::string& name);
/// The message a signature signs: the context string, then the 32-byte identity.
std::vector<unsigned char> signature_message(const std::array<unsigned char, 32>& identity);
/// Trailer size for `count` records.
inline constexpr size_t signature_trailer_size(size_t count) {
  return kSignatureTrailerOverhead + count * kSignatureRecordSize;
}

}  // namespace hexz::format
