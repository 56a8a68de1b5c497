// Encryption (issue 5): known answers of the KDF and the AEAD, encrypted round trips with
// duplicates and zero chunks, password errors, size overhead, no plaintext in the file, and a
// tamper matrix over every section of a small encrypted snapshot.
//
// Argon2id at hexz's defaults (m = 19 MiB, t = 2) costs about 0.1 s per pack or open, so the
// matrix keeps the number of key derivations down: raw header flips fail at the XXH3 checksum
// before any KDF; flips an attacker could make consistent (checksum recomputed) are judged for
// every byte with the snapshot's real keys (no re-derivation), and opened for real for every
// byte that fails before the KDF plus a sample of those that reach it; master index flips are
// checked for every byte against both the XXH3 and the GCM tag, and opened for a sample; index
// pages and data blocks are changed under one long-lived reader that does not cache what is
// changed, so every read goes back to the file.
#include <argon2.h>
#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/prctl.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "crypto/aead.hpp"
#include "crypto/kdf.hpp"
#include "crypto/secrets.hpp"
#include "crypto/snapshot_cipher.hpp"
#include "format/records.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/flatten.hpp"
#include "io/readable_file.hpp"
#include "read/snapshot_reader.hpp"
#include "support/fixture.hpp"
#include "support/layout.hpp"
#include "util/endian.hpp"

namespace hexz_test {
namespace {

using hexz::Codec;
using hexz::ErrorCode;
using hexz::Stream;
namespace crypto = hexz::crypto;
namespace format = hexz::format;
namespace L = layout;

constexpr const char* kPassword = "correct horse battery staple";
constexpr size_t kTag = crypto::kTagSize;

/// Tests pack with the cheapest Argon2id cost the format allows (t = 1, m = 8 MiB, p = 1), so
/// that the suite stays fast; the default cost is tested on its own.
void cheap_kdf(hexz::PackOptions& o) {
  o.kdf_iterations = 1;
  o.kdf_memory_kib = hexz::kMinKdfMemoryKib;
  o.kdf_parallelism = 1;
}

// ---------------------------------------------------------------------------
// Helpers

Bytes unhex(const std::string& s) {
  Bytes out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

std::string hex(std::span<const unsigned char> b) {
  return hexz::hash::to_hex(b.data(), b.size());
}

std::span<const std::byte> bytes_of(const Bytes& b) {
  return std::as_bytes(std::span(b));
}

Bytes to_bytes(const std::vector<std::byte>& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(v.data());
  return Bytes(p, p + v.size());
}

bool contains(const Bytes& hay, const std::string& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

std::array<unsigned char, format::kHeaderSize> header_of(const Bytes& file) {
  std::array<unsigned char, format::kHeaderSize> h{};
  std::copy_n(file.begin(), format::kHeaderSize, h.begin());
  return h;
}

format::Header decode(const Bytes& file) {
  const auto h = header_of(file);
  return format::decode_header(h, "test.hxz");
}

/// A snapshot held in memory. The buffer is shared, so a test can change bytes under a reader
/// that is already open (the reader must then see the change: caches off, one thread).
class MemoryFile final : public hexz::io::ReadableFile {
 public:
  explicit MemoryFile(std::shared_ptr<const Bytes> data) : data_(std::move(data)) {}
  uint64_t size() const override { return data_->size(); }
  void read_at(uint64_t offset, std::span<std::byte> out) const override {
    if (offset > data_->size() || out.size() > data_->size() - offset)
      throw hexz::Error(ErrorCode::kTruncated, "read past the end of " + name_);
    std::memcpy(out.data(), data_->data() + offset, out.size());
  }
  const std::string& name() const override { return name_; }

 private:
  std::shared_ptr<const Bytes> data_;
  std::string name_ = "memory.hxz";
};

/// What an in-memory reader keeps between reads.
enum class Cache { kAll, kPagesOnly, kNothing };

/// Opens an in-memory snapshot. Decoded blocks (and with Cache::kNothing also index pages) are
/// not kept, so every read re-reads and re-authenticates those bytes of the file.
std::unique_ptr<hexz::read::SnapshotReader> open_memory(std::shared_ptr<const Bytes> data,
                                                        const std::string& password,
                                                        Cache cache = Cache::kAll) {
  hexz::OpenOptions o;
  o.password = password;
  o.threads = 1;
  if (cache != Cache::kAll) {
    o.block_cache_bytes = 0;
    o.readahead_bytes = 0;
  }
  if (cache == Cache::kNothing) o.page_cache_bytes = 0;
  return std::make_unique<hexz::read::SnapshotReader>(std::make_unique<MemoryFile>(std::move(data)),
                                                      o, false);
}

std::unique_ptr<hexz::read::SnapshotReader> open_copy(const Bytes& file,
                                                      const std::string& password) {
  return open_memory(std::make_shared<const Bytes>(file), password);
}

/// Reads every stream in `piece`-byte reads. Each read must either throw hexz::Error(kCorrupt)
/// or return exactly the original bytes. Returns how many reads threw.
int reads_never_wrong(const hexz::Snapshot& snap, const Bytes (&original)[2], size_t piece) {
  int refused = 0;
  for (int s = 0; s < 2; ++s) {
    const auto stream = static_cast<Stream>(s);
    if (!snap.has_stream(stream)) continue;
    EXPECT_EQ(snap.size(stream), original[s].size());
    for (uint64_t off = 0; off < original[s].size(); off += piece) {
      const size_t len = static_cast<size_t>(std::min<uint64_t>(piece, original[s].size() - off));
      Bytes got(len, 0xCD);
      try {
        snap.read(stream, off, std::as_writable_bytes(std::span(got)));
      } catch (const hexz::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kCorrupt) << e.what();
        ++refused;
        continue;
      }
      EXPECT_TRUE(std::equal(got.begin(), got.end(), original[s].begin() + static_cast<long>(off)))
          << "wrong plaintext returned: " << hexz::stream_name(stream) << " offset " << off;
    }
  }
  return refused;
}

/// Which error (if any) opening a header-tampered file gives, computed with the snapshot's real
/// keys instead of re-deriving them: the steps and order of SnapshotReader's constructor up to
/// the header MAC.
enum class HeaderVerdict { kStructure, kNewKeyInput, kKeyCheck, kMac, kAccepted };

HeaderVerdict judge_header(std::span<const unsigned char, format::kHeaderSize> h,
                           const format::Header& original, const crypto::SnapshotCipher& cipher) {
  format::Header d;
  try {
    d = format::decode_header(h, "x");
  } catch (const hexz::Error&) {
    return HeaderVerdict::kStructure;
  }
  if (!d.encrypted()) return HeaderVerdict::kAccepted;  // cannot pass decode_header's size checks
  const auto& a = d.encryption.kdf;
  const auto& b = original.encryption.kdf;
  if (a.algorithm != b.algorithm || a.iterations != b.iterations || a.memory_kib != b.memory_kib ||
      a.parallelism != b.parallelism || d.encryption.salt != original.encryption.salt ||
      d.encryption.id != original.encryption.id) {
    // The reader refuses the parameters, or derives unrelated keys (or binds another id) and
    // its key check cannot match; the real opens below check this.
    return HeaderVerdict::kNewKeyInput;
  }
  const auto check = cipher.key_check(h.subspan(format::kKdfFieldsOffset, format::kKdfFieldsSize));
  if (!std::equal(check.begin(), check.end(), h.begin() + 368)) return HeaderVerdict::kKeyCheck;
  const auto mac = cipher.header_mac(format::header_mac_input(h));
  if (!std::equal(mac.begin(), mac.end(), h.begin() + format::kHeaderMacOffset))
    return HeaderVerdict::kMac;
  return HeaderVerdict::kAccepted;
}

// ---------------------------------------------------------------------------
// Known answers: Argon2id (RFC 9106) and AES-256-GCM (McGrew & Viega, the GCM specification)

// Issue 14: passwords and keys are wiped. The string wipe covers the whole buffer (a shorter
// later value leaves the old bytes past size()), ScopedWipe wipes on every way out, and a
// cipher's destructor leaves none of its master key or subkeys in its storage.
TEST(EncryptionKeyHygiene, PasswordsAndKeysAreWiped) {
  std::string password = "a long password that is certainly not kept in the small buffer";
  const char* buffer = password.data();
  const size_t capacity = password.capacity();
  password = "short";  // the old bytes stay in the buffer past size()
  ASSERT_EQ(password.data(), buffer);
  crypto::wipe(password);
  EXPECT_TRUE(password.empty());
  EXPECT_TRUE(std::all_of(buffer, buffer + capacity, [](char c) { return c == 0; }));

  std::string secret = "another password long enough to live on the heap, not inline";
  const char* secret_bytes = secret.data();
  const size_t secret_size = secret.size();
  try {
    const crypto::ScopedWipe guard(secret);
    throw std::runtime_error("an error while the password is in use");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(secret.empty());
  EXPECT_TRUE(std::all_of(secret_bytes, secret_bytes + secret_size, [](char c) { return c == 0; }));

  crypto::Key master{};
  for (size_t i = 0; i < master.size(); ++i) master[i] = static_cast<unsigned char>(0xa0 + i);
  const crypto::SnapshotKeys keys = crypto::derive_subkeys(master);
  alignas(crypto::SnapshotCipher) unsigned char storage[sizeof(crypto::SnapshotCipher)];
  auto* cipher =
      new (storage) crypto::SnapshotCipher(master, crypto::SnapshotCipher::fresh_header());
  const auto holds = [&](const crypto::Key& k) {
    return std::search(storage, storage + sizeof storage, k.begin(), k.end()) !=
           storage + sizeof storage;
  };
  ASSERT_TRUE(holds(master) && holds(keys.data) && holds(keys.metadata) && holds(keys.dedup));
  cipher->~SnapshotCipher();
  EXPECT_FALSE(holds(master));
  EXPECT_FALSE(holds(keys.data));
  EXPECT_FALSE(holds(keys.metadata));
  EXPECT_FALSE(holds(keys.dedup));
}

TEST(EncryptionKat, Argon2idRfc9106Section5_3) {
  Bytes password(32, 0x01), salt(16, 0x02), secret(8, 0x03), ad(12, 0x04), tag(32, 0);
  argon2_context ctx{};
  ctx.out = tag.data();
  ctx.outlen = static_cast<uint32_t>(tag.size());
  ctx.pwd = password.data();
  ctx.pwdlen = static_cast<uint32_t>(password.size());
  ctx.salt = salt.data();
  ctx.saltlen = static_cast<uint32_t>(salt.size());
  ctx.secret = secret.data();
  ctx.secretlen = static_cast<uint32_t>(secret.size());
  ctx.ad = ad.data();
  ctx.adlen = static_cast<uint32_t>(ad.size());
  ctx.t_cost = 3;
  ctx.m_cost = 32;
  ctx.lanes = 4;
  ctx.threads = 4;
  ctx.version = ARGON2_VERSION_13;
  ctx.flags = ARGON2_DEFAULT_FLAGS;
  ASSERT_EQ(argon2_ctx(&ctx, Argon2_id), ARGON2_OK);
  EXPECT_EQ(hex(tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
}

TEST(EncryptionKat, DeriveMasterKeyIsArgon2idWithOwaspParameters) {
  const crypto::KdfParams defaults;
  EXPECT_EQ(defaults.algorithm, crypto::kKdfArgon2id);
  // OWASP Password Storage Cheat Sheet: Argon2id, m = 19 MiB, t = 2, p = 1 (the minimum).
  EXPECT_GE(defaults.memory_kib, 19u * 1024);
  EXPECT_GE(defaults.iterations, 2u);
  EXPECT_EQ(defaults.parallelism, 1u);

  crypto::Salt salt;
  for (size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<unsigned char>(0xA0 + i);
  const std::string password = "p\xC3\xA4sswort with spaces";
  // The defaults, and a cheaper set with every parameter different, so swapped arguments show.
  crypto::KdfParams cheap;
  cheap.iterations = 1;
  cheap.memory_kib = 8 * 1024;
  cheap.parallelism = 2;
  for (const auto& p : {defaults, cheap}) {
    SCOPED_TRACE("t=" + std::to_string(p.iterations) + " m=" + std::to_string(p.memory_kib));
    const crypto::Key key = crypto::derive_master_key(password, salt, p);
    std::array<unsigned char, 32> want{};
    ASSERT_EQ(
        argon2id_hash_raw(p.iterations, p.memory_kib, p.parallelism, password.data(),
                          password.size(), salt.data(), salt.size(), want.data(), want.size()),
        ARGON2_OK);
    EXPECT_EQ(hex(key), hex(want));
  }
  // Parameters a header may not ask for: refused before any work.
  const auto refused = [&](auto edit) {
    crypto::KdfParams p = cheap;
    edit(p);
    return ThrowsHexz([&] { crypto::derive_master_key(password, salt, p); },
                      {ErrorCode::kUnsupported});
  };
  EXPECT_TRUE(refused([](crypto::KdfParams& p) { p.algorithm = 2; }));
  EXPECT_TRUE(refused([](crypto::KdfParams& p) { p.iterations = 0; }));
  EXPECT_TRUE(refused([](crypto::KdfParams& p) { p.parallelism = 0; }));
  EXPECT_TRUE(refused([](crypto::KdfParams& p) { p.memory_kib = 4 * 1024; }));
  EXPECT_TRUE(refused([](crypto::KdfParams& p) { p.memory_kib = 0xFFFFFFFFu; }));
}

struct GcmVector {
  const char* name;
  std::string key, iv, aad, plaintext, ciphertext, tag;
};

// Test cases 13, 14 and 16 of "The Galois/Counter Mode of Operation (GCM)", McGrew & Viega,
// appendix B (the 256-bit key cases).
const GcmVector kGcmVectors[] = {
    {"test case 13", std::string(64, '0'), std::string(24, '0'), "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"test case 14", std::string(64, '0'), std::string(24, '0'), "", std::string(32, '0'),
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"test case 16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(EncryptionKat, AesGcmSpecificationVectors) {
  for (const auto& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    crypto::Key key;
    const Bytes k = unhex(v.key);
    ASSERT_EQ(k.size(), key.size());
    std::copy(k.begin(), k.end(), key.begin());
    const Bytes ivb = unhex(v.iv);
    ASSERT_EQ(ivb.size(), crypto::kNonceSize);
    std::array<unsigned char, crypto::kNonceSize> iv;
    std::copy(ivb.begin(), ivb.end(), iv.begin());
    const Bytes aad = unhex(v.aad), pt = unhex(v.plaintext);

    const Bytes sealed = to_bytes(crypto::gcm_seal(key, iv, aad, bytes_of(pt)));
    EXPECT_EQ(hex(sealed), v.ciphertext + v.tag);

    Bytes out(pt.size(), 0xEE);
    EXPECT_TRUE(
        crypto::gcm_open(key, iv, aad, bytes_of(sealed), std::as_writable_bytes(std::span(out))));
    EXPECT_EQ(out, pt);

    // Any changed byte of ciphertext, tag, associated data or nonce is refused.
    for (size_t i = 0; i < sealed.size(); ++i) {
      Bytes bad = sealed;
      bad[i] ^= 0x01;
      EXPECT_FALSE(
          crypto::gcm_open(key, iv, aad, bytes_of(bad), std::as_writable_bytes(std::span(out))))
          << "byte " << i;
    }
    for (size_t i = 0; i < aad.size(); ++i) {
      Bytes bad = aad;
      bad[i] ^= 0x80;
      EXPECT_FALSE(
          crypto::gcm_open(key, iv, bad, bytes_of(sealed), std::as_writable_bytes(std::span(out))));
    }
    auto other_iv = iv;
    other_iv[11] ^= 0x01;
    EXPECT_FALSE(crypto::gcm_open(key, other_iv, aad, bytes_of(sealed),
                                  std::as_writable_bytes(std::span(out))));
    // A truncated message (tag cut) is refused, not read past.
    EXPECT_FALSE(crypto::gcm_open(key, iv, aad, bytes_of(sealed).first(sealed.size() - 1),
                                  std::as_writable_bytes(std::span(out))));
  }
}

TEST(EncryptionKat, NonceLayoutIsDomainThenCounterLittleEndian) {
  const auto n = crypto::make_nonce(crypto::NonceDomain::kIndexPage, 0x0102030405060708ull);
  EXPECT_EQ(hex(n), "010000000807060504030201");
  EXPECT_EQ(hex(crypto::make_nonce(crypto::NonceDomain::kDataBlock, 0)),
            "000000000000000000000000");
  EXPECT_EQ(hex(crypto::make_nonce(crypto::NonceDomain::kKeyCheck, 1)), "050000000100000000000000");
}

// The check values of docs/FORMAT.md section 12 ("Check values"). They pin the key schedule and
// the block seal, so a change that would make old files unreadable fails here; the master key
// is recomputed independently through libargon2.
TEST(EncryptionKat, FormatCheckValues) {
  const std::string password = "password";
  crypto::EncryptionHeader h;  // t = 2, m = 19456, p = 1
  for (size_t i = 0; i < h.salt.size(); ++i) h.salt[i] = static_cast<unsigned char>(i);
  for (size_t i = 0; i < h.id.size(); ++i) h.id[i] = static_cast<unsigned char>(0xA0 + i);
  std::array<unsigned char, 32> master{};
  ASSERT_EQ(argon2id_hash_raw(2, 19456, 1, password.data(), password.size(), h.salt.data(),
                              h.salt.size(), master.data(), master.size()),
            ARGON2_OK);
  EXPECT_EQ(hex(master), "39903a34cd393876436e671cd690dfe8ab9ce7b13459a7e04ec0e4f0694ddb0d");
  const auto keys = crypto::derive_subkeys(master);
  EXPECT_EQ(hex(keys.data), "a4884560f65f3e8a634b32c26679e2dd3768e64b657357a230e90cee8ab31bd7");
  EXPECT_EQ(hex(keys.metadata), "240f1b21d3788d5a0331dec121a794efd074c0851e407cf1a49526cda9655214");
  EXPECT_EQ(hex(keys.dedup), "db43d9685ce76f584f819d355460ef61961993892f3057d7a380c4f2e6fbee54");
  const crypto::SnapshotCipher cipher(password, h);
  EXPECT_EQ(hex(cipher.dedup_key()), hex(keys.dedup));
  EXPECT_EQ(hex(cipher.chunk_digest("abc", 3).bytes), "df3a890b4371bc9fd3bbc7689ae192b3");
  const std::string hello = "hello";
  const Bytes sealed =
      to_bytes(cipher.seal_block(3, 5, Codec::kNone, std::as_bytes(std::span(hello))));
  EXPECT_EQ(hex(sealed), "257d17e717c911a176cac82317cf69331f71d38e5c");
}

// ---------------------------------------------------------------------------
// SnapshotCipher: what each piece of ciphertext is bound to (cheap KDF parameters)

crypto::EncryptionHeader cheap_header(uint8_t salt_byte, uint8_t id_byte) {
  crypto::EncryptionHeader h;
  h.kdf.iterations = 1;
  h.kdf.memory_kib = 8 * 1024;
  h.salt.fill(salt_byte);
  h.id.fill(id_byte);
  return h;
}

TEST(EncryptionCipher, EveryMessageIsBoundToItsPlaceKeyAndSnapshot) {
  const crypto::SnapshotCipher a(kPassword, cheap_header(1, 1));
  const crypto::SnapshotCipher other_id(kPassword, cheap_header(1, 2));
  const crypto::SnapshotCipher other_salt(kPassword, cheap_header(2, 1));
  const crypto::SnapshotCipher other_password("correct horse battery stapler", cheap_header(1, 1));

  const Bytes data = text_bytes(3000, 7);
  Bytes out(data.size());
  const auto w = std::as_writable_bytes(std::span(out));
  const Bytes sealed = to_bytes(a.seal_block(7, 4096, Codec::kLz4, bytes_of(data)));
  ASSERT_EQ(sealed.size(), data.size() + kTag);
  EXPECT_FALSE(contains(sealed, std::string(data.begin(), data.begin() + 32)));
  ASSERT_TRUE(a.open_block(7, 4096, Codec::kLz4, bytes_of(sealed), w));
  EXPECT_EQ(out, data);
  EXPECT_FALSE(a.open_block(8, 4096, Codec::kLz4, bytes_of(sealed), w));   // moved
  EXPECT_FALSE(a.open_block(7, 4097, Codec::kLz4, bytes_of(sealed), w));   // other raw length
  EXPECT_FALSE(a.open_block(7, 4096, Codec::kZstd, bytes_of(sealed), w));  // other codec
  EXPECT_FALSE(other_id.open_block(7, 4096, Codec::kLz4, bytes_of(sealed), w));
  EXPECT_FALSE(other_salt.open_block(7, 4096, Codec::kLz4, bytes_of(sealed), w));
  EXPECT_FALSE(other_password.open_block(7, 4096, Codec::kLz4, bytes_of(sealed), w));
  // The same plaintext at another sequence number gives unrelated ciphertext (fresh nonce).
  const Bytes sealed8 = to_bytes(a.seal_block(8, 4096, Codec::kLz4, bytes_of(data)));
  EXPECT_NE(Bytes(sealed.begin(), sealed.begin() + 64),
            Bytes(sealed8.begin(), sealed8.begin() + 64));

  const Bytes page = text_bytes(500, 8);
  Bytes pout(page.size());
  const auto pw = std::as_writable_bytes(std::span(pout));
  const Bytes ctx(17, 0x11);
  const Bytes spage = to_bytes(a.seal_page(3, ctx, bytes_of(page)));
  EXPECT_TRUE(a.open_page(3, ctx, bytes_of(spage), pw));
  EXPECT_EQ(pout, page);
  EXPECT_FALSE(a.open_page(4, ctx, bytes_of(spage), pw));
  Bytes ctx2 = ctx;
  ctx2[16] ^= 1;
  EXPECT_FALSE(a.open_page(3, ctx2, bytes_of(spage), pw));
  EXPECT_FALSE(other_id.open_page(3, ctx, bytes_of(spage), pw));

  const Bytes ssec = to_bytes(a.seal_section(crypto::NonceDomain::kMasterIndex, bytes_of(page)));
  EXPECT_TRUE(a.open_section(crypto::NonceDomain::kMasterIndex, bytes_of(ssec), pw));
  EXPECT_FALSE(a.open_section(crypto::NonceDomain::kDictionary, bytes_of(ssec), pw));
  EXPECT_FALSE(other_id.open_section(crypto::NonceDomain::kMasterIndex, bytes_of(ssec), pw));
  // A section is not accepted as a page or a block with the same bytes.
  EXPECT_FALSE(a.open_page(0, ctx, bytes_of(ssec), pw));

  // Key check and header MAC: depend on the key, the id and the bytes covered.
  const Bytes fields(format::kKdfFieldsSize, 0x22);
  Bytes fields2 = fields;
  fields2[5] ^= 1;
  EXPECT_NE(a.key_check(fields), other_password.key_check(fields));
  EXPECT_NE(a.key_check(fields), other_id.key_check(fields));
  EXPECT_NE(a.key_check(fields), a.key_check(fields2));
  EXPECT_NE(a.key_check(fields), a.header_mac(fields));  // separate nonce domains
  const Bytes prefix(format::kHeaderMacOffset, 0x33);
  Bytes prefix2 = prefix;
  prefix2[100] ^= 1;
  EXPECT_NE(a.header_mac(prefix), a.header_mac(prefix2));
  EXPECT_NE(a.header_mac(prefix), other_password.header_mac(prefix));

  // The dedup key is a keyed BLAKE3: not the public chunk digest, and per password and salt.
  const auto plain_digest = hexz::hash::chunk_digest(data.data(), data.size());
  const auto keyed = a.chunk_digest(data.data(), data.size());
  EXPECT_FALSE(keyed == plain_digest);
  EXPECT_TRUE(keyed == a.chunk_digest(data.data(), data.size()));
  EXPECT_FALSE(keyed == other_salt.chunk_digest(data.data(), data.size()));
  EXPECT_FALSE(keyed == other_password.chunk_digest(data.data(), data.size()));
}

TEST(EncryptionCipher, SubkeysAreIndependent) {
  crypto::Key master{};
  master[0] = 1;
  const auto k = crypto::derive_subkeys(master);
  EXPECT_NE(k.data, k.metadata);
  EXPECT_NE(k.data, k.dedup);
  EXPECT_NE(k.metadata, k.dedup);
  EXPECT_NE(k.data, master);
  EXPECT_EQ(crypto::derive_subkeys(master).data, k.data);
  master[0] = 2;
  EXPECT_NE(crypto::derive_subkeys(master).data, k.data);
}

// ---------------------------------------------------------------------------
// Whole snapshots

class EncryptionTest : public HexzTest {
 protected:
  hexz::PackOptions encrypted(const std::string& disk, const std::string& memory,
                              const std::string& out) const {
    auto o = options(disk, memory, output(out));
    o.encrypt = true;
    o.password = kPassword;
    cheap_kdf(o);
    return o;
  }
  static hexz::OpenOptions with_password(const std::string& password = kPassword) {
    hexz::OpenOptions o;
    o.password = password;
    return o;
  }
};

/// Index entries of a stream, in order.
std::vector<format::IndexEntry> entries_of(const hexz::Snapshot& snap, Stream s) {
  std::vector<format::IndexEntry> out;
  dynamic_cast<const hexz::read::SnapshotReader&>(snap).for_each_entry(
      s, [&](uint64_t, const format::IndexEntry& e) { out.push_back(e); });
  return out;
}

TEST_F(EncryptionTest, RoundTripBothCodecsWithDuplicatesAndZeroChunks) {
  const Bytes disk = make_disk_image(3u << 19, 21);
  const Bytes mem = make_memory_image(1u << 19, disk, 22);
  ExpectedStats model[2];
  model_stats(&disk, &mem, 4096, model);
  ASSERT_GT(model[0].zero_chunks, 0u);
  ASSERT_GT(model[0].dup_chunks, 0u);
  ASSERT_GT(model[1].dup_chunks, 0u);
  const std::string d = input("disk.img", disk), m = input("mem.img", mem);

  for (const Codec codec : {Codec::kLz4, Codec::kZstd}) {
    SCOPED_TRACE(hexz::codec_name(codec));
    auto po = options(d, m, output(std::string("plain-") + hexz::codec_name(codec) + ".hxz"));
    po.codec = codec;
    po.block_size = 32 * 1024;
    const auto plain = hexz::pack(po);
    auto eo = po;
    eo.output_path = output(std::string("enc-") + hexz::codec_name(codec) + ".hxz");
    eo.encrypt = true;
    eo.password = kPassword;
    cheap_kdf(eo);
    const auto enc = hexz::pack(eo);

    for (int s = 0; s < 2; ++s) {
      SCOPED_TRACE(s);
      EXPECT_EQ(enc.streams[s].chunks, model[s].chunks);
      EXPECT_EQ(enc.streams[s].zero_chunks, model[s].zero_chunks);
      EXPECT_EQ(enc.streams[s].dup_chunks, model[s].dup_chunks);
      // Same dedup decisions and blocks; each stored block grows by exactly its tag, and zero
      // chunks store nothing.
      EXPECT_EQ(enc.streams[s].blocks, plain.streams[s].blocks);
      EXPECT_EQ(enc.streams[s].stored_bytes,
                plain.streams[s].stored_bytes + kTag * plain.streams[s].blocks);
    }
    {
      // The header holds no counters; info() derives the same ones from the encrypted index.
      hexz::OpenOptions oo;
      oo.password = kPassword;
      const auto info = hexz::Snapshot::open(eo.output_path, oo)->info();
      for (int s = 0; s < 2; ++s) {
        SCOPED_TRACE(s);
        EXPECT_EQ(info.streams[s].chunks, enc.streams[s].chunks);
        EXPECT_EQ(info.streams[s].zero_chunks, enc.streams[s].zero_chunks);
        EXPECT_EQ(info.streams[s].dup_chunks, enc.streams[s].dup_chunks);
        EXPECT_EQ(info.streams[s].blocks, enc.streams[s].blocks);
        EXPECT_EQ(info.streams[s].stored_bytes, enc.streams[s].stored_bytes);
      }
    }

    const Bytes file = read_file(eo.output_path);
    EXPECT_EQ(file[320], crypto::kKdfArgon2id);
    EXPECT_EQ(L::get_u32(file, 324), 1u);  // the cost cheap_kdf() asked for
    EXPECT_EQ(L::get_u32(file, 328), 8u * 1024);
    EXPECT_EQ(L::get_u32(file, 332), 1u);

    auto snap = hexz::Snapshot::open(eo.output_path, with_password());
    EXPECT_EQ(read_stream(*snap, Stream::kDisk, 100000), disk);
    EXPECT_EQ(read_stream(*snap, Stream::kMemory), mem);
    EXPECT_EQ(read_range(*snap, Stream::kDisk, 4095, 70000),
              Bytes(disk.begin() + 4095, disk.begin() + 4095 + 70000));
    const auto info = snap->info();
    EXPECT_TRUE(info.encrypted);
    EXPECT_NE(info.required_features & format::kFeatureEncrypted, 0u);
    EXPECT_EQ(info.kdf_iterations, 1u);
    EXPECT_EQ(info.kdf_memory_kib, 8u * 1024);
    EXPECT_EQ(info.kdf_parallelism, 1u);
    const auto report = snap->verify({});
    EXPECT_TRUE(report.ok) << report.first_error;
    EXPECT_EQ(report.blocks_checked, enc.streams[0].blocks + enc.streams[1].blocks);

    // Nonces: every stored block has its own sequence number (the data nonce counter), 0..n-1.
    // Dedup: the encrypted index has the plain index's structure, with keyed digests.
    auto psnap = hexz::Snapshot::open(po.output_path);
    std::map<uint64_t, uint64_t> seq_of_offset;
    std::map<std::pair<uint64_t, uint32_t>, std::pair<uint64_t, uint32_t>> same_place;
    for (int s = 0; s < 2; ++s) {
      const auto ee = entries_of(*snap, static_cast<Stream>(s));
      const auto pe = entries_of(*psnap, static_cast<Stream>(s));
      ASSERT_EQ(ee.size(), pe.size());
      for (size_t i = 0; i < ee.size(); ++i) {
        ASSERT_EQ(ee[i].kind, pe[i].kind);
        ASSERT_EQ(ee[i].length, pe[i].length);
        if (ee[i].kind == format::ChunkKind::kZero) {
          EXPECT_EQ(ee[i].block.stored_length, 0u);
          continue;
        }
        EXPECT_FALSE(ee[i].digest == pe[i].digest) << "unkeyed digest in an encrypted index";
        EXPECT_EQ(ee[i].block.stored_length, pe[i].block.stored_length + kTag);
        const auto [it, added] = seq_of_offset.emplace(ee[i].block.offset, ee[i].block.checksum);
        EXPECT_EQ(it->second, ee[i].block.checksum);
        const auto [pit, padded] =
            same_place.emplace(std::pair(pe[i].block.offset, pe[i].offset_in_block),
                               std::pair(ee[i].block.offset, ee[i].offset_in_block));
        EXPECT_EQ(pit->second, std::pair(ee[i].block.offset, ee[i].offset_in_block));
      }
    }
    std::set<uint64_t> seqs;
    for (const auto& [offset, seq] : seq_of_offset) seqs.insert(seq);
    const uint64_t blocks = enc.streams[0].blocks + enc.streams[1].blocks;
    EXPECT_EQ(seq_of_offset.size(), blocks);
    EXPECT_EQ(seqs.size(), blocks) << "two blocks share a nonce";
    EXPECT_EQ(*seqs.rbegin(), blocks - 1);
  }
}

Bytes text_image(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out;
  while (out.size() < size) append_text(out, std::min<size_t>(4096, size - out.size()), rng);
  return out;
}

TEST_F(EncryptionTest, RoundTripZstdCdcWithTrainedDictionary) {
  Bytes disk = text_image(3u << 20, 31);
  append_zeros(disk, 256u << 10);
  disk.insert(disk.end(), disk.begin() + 100000, disk.begin() + 600000);  // duplicates
  auto o = encrypted(input("d.img", disk), "", "cdc.hxz");
  o.codec = Codec::kZstd;
  o.cdc = true;
  o.train_dictionary = true;
  o.block_size = 16 * 1024;
  const auto r = hexz::pack(o);
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_GT(r.dictionary_bytes, 0u);
  EXPECT_GT(r.streams[0].dup_chunks, 0u);
  EXPECT_GT(r.streams[0].zero_chunks, 0u);
  {
    auto snap = hexz::Snapshot::open(o.output_path, with_password());
    EXPECT_EQ(read_stream(*snap, Stream::kDisk), disk);
    EXPECT_EQ(snap->info().dictionary_bytes, r.dictionary_bytes);
    const auto report = snap->verify({});
    EXPECT_TRUE(report.ok) << report.first_error;
  }
  // The dictionary is stored sealed: one more tag, and a changed byte is refused at open.
  const Bytes file = read_file(o.output_path);
  const auto h = decode(file);
  EXPECT_EQ(h.dict_length, r.dictionary_bytes + kTag);
  Bytes bad = file;
  bad[h.dict_offset + h.dict_length / 2] ^= 0x04;
  EXPECT_TRUE(ThrowsHexz([&] { open_copy(bad, kPassword); }, {ErrorCode::kCorrupt}));
}

TEST_F(EncryptionTest, WrongMissingAndEmptyPasswordsAreClearErrors) {
  const Bytes disk = make_disk_image(256u << 10, 41);
  const auto o = encrypted(input("d.img", disk), "", "e.hxz");
  hexz::pack(o);

  const auto message_of = [&](const hexz::OpenOptions& oo) -> std::string {
    try {
      hexz::Snapshot::open(o.output_path, oo);
    } catch (const hexz::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kWrongPassword) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "opened with password '" << oo.password << "'";
    return "";
  };
  // Wrong (also: the right one with a trailing newline, as a careless password file gives).
  for (const std::string& wrong :
       {std::string("correct horse battery stapl"), std::string(kPassword) + "\n"}) {
    const std::string msg = message_of(with_password(wrong));
    EXPECT_NE(msg.find("wrong password or not this snapshot's key"), std::string::npos) << msg;
  }
  // Missing and empty are the same: no key derivation, a message saying a password is needed.
  for (const hexz::OpenOptions& none : {with_password(""), hexz::OpenOptions{}}) {
    const std::string msg = message_of(none);
    EXPECT_NE(msg.find("encrypted"), std::string::npos) << msg;
    EXPECT_NE(msg.find("password is needed"), std::string::npos) << msg;
  }

  // An empty password is refused when packing, and nothing is written.
  auto empty = o;
  empty.output_path = output("empty.hxz");
  empty.password.clear();
  EXPECT_TRUE(ThrowsHexz([&] { hexz::pack(empty); }, {ErrorCode::kInvalidArgument}));
  EXPECT_FALSE(fs::exists(empty.output_path));

  // Detected at open, before any data is read: with every data byte destroyed the wrong
  // password still gives kWrongPassword, and the right one opens (the damage shows on read).
  Bytes file = read_file(o.output_path);
  const auto h = decode(file);
  std::fill(file.begin() + format::kHeaderSize, file.begin() + static_cast<long>(h.tail_offset), 0);
  EXPECT_TRUE(ThrowsHexz([&] { open_copy(file, "not it"); }, {ErrorCode::kWrongPassword}));
  auto snap = open_copy(file, kPassword);
  EXPECT_TRUE(
      ThrowsHexz([&] { read_range(*snap, Stream::kDisk, 0, 4096); }, {ErrorCode::kCorrupt}));
}

// Issue 14: an attacker replaces an encrypted snapshot with an unencrypted one of their making.
// A password (or require_encryption) means "this file must be encrypted": the swap is refused.
TEST_F(EncryptionTest, OpeningAnEncryptedSnapshotMakesTheProcessNonDumpable) {
  // Issue 14: a process holding keys writes no core dump and cannot be ptrace'd by other users.
  const auto o = encrypted(input("d.img", make_disk_image(64u << 10, 44)), "", "e.hxz");
  hexz::pack(o);
  ASSERT_EQ(::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
  hexz::OpenOptions plain_open;
  auto unencrypted = options(input("p.img", make_disk_image(64u << 10, 45)), "", output("p.hxz"));
  hexz::pack(unencrypted);
  hexz::Snapshot::open(unencrypted.output_path, plain_open);
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1) << "an unencrypted open changed it";
  hexz::OpenOptions with_password;
  with_password.password = kPassword;
  hexz::Snapshot::open(o.output_path, with_password);
  EXPECT_EQ(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);  // leave the test process as it was
}

TEST_F(EncryptionTest, PasswordOrRequireEncryptionRefusesAnUnencryptedSnapshot) {
  const Bytes disk = make_disk_image(128u << 10, 43);
  const std::string d = input("d.img", disk);
  const auto o = encrypted(d, "", "e.hxz");
  hexz::pack(o);
  hexz::OpenOptions required;
  required.require_encryption = true;
  required.password = kPassword;
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(o.output_path, required), Stream::kDisk), disk);

  // The attacker's file, at the same path.
  Bytes evil = disk;
  std::fill(evil.begin(), evil.begin() + 4096, uint8_t{0x66});
  auto plain = options(input("evil.img", evil), "", o.output_path);
  plain.force = true;
  hexz::pack(plain);
  const auto refused = [&](const hexz::OpenOptions& oo, const std::string& phrase) {
    try {
      hexz::Snapshot::open(o.output_path, oo);
    } catch (const hexz::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kWrongPassword) << e.what();
      const std::string msg = e.what();
      EXPECT_NE(msg.find("'" + o.output_path + "' is not encrypted, but " + phrase +
                         "; refusing it (an encrypted snapshot may have been replaced)"),
                std::string::npos)
          << msg;
      return;
    }
    ADD_FAILURE() << "the unencrypted replacement was opened";
  };
  refused(with_password(), "a password was given");
  refused(required, "a password was given");
  hexz::OpenOptions no_password;
  no_password.require_encryption = true;
  refused(no_password, "encryption is required");
  // Without either, an unencrypted snapshot opens as before.
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(o.output_path), Stream::kDisk), evil);

  // A thin chain: the thin snapshot is refused, and so is the base on its own.
  auto base = options(d, "", output("base.hxz"));
  hexz::pack(base);
  auto thin = options(input("thin.img", evil), "", output("thin.hxz"));
  thin.base_path = base.output_path;
  hexz::pack(thin);
  for (const std::string& path : {thin.output_path, base.output_path}) {
    SCOPED_TRACE(path);
    EXPECT_TRUE(
        ThrowsHexz([&] { hexz::Snapshot::open(path, no_password); }, {ErrorCode::kWrongPassword}));
    EXPECT_TRUE(ThrowsHexz([&] { hexz::Snapshot::open(path, with_password()); },
                           {ErrorCode::kWrongPassword}));
  }
}

// Issue 14: the Argon2id cost is chosen at pack time and stored in the header; the default is at
// least as strong as borg 2's (t = 3, m = 64 MiB, p = 4), and bad costs are refused up front.
TEST_F(EncryptionTest, PackStoresTheChosenKdfCostWithAStrongDefault) {
  const hexz::PackOptions defaults;
  EXPECT_GE(defaults.kdf_iterations, 3u);
  EXPECT_GE(defaults.kdf_memory_kib, 64u * 1024);
  EXPECT_EQ(defaults.kdf_parallelism, 4u);
  const Bytes disk = make_disk_image(64u << 10, 44);
  const std::string d = input("d.img", disk);
  auto o = encrypted(d, "", "cost.hxz");
  o.kdf_iterations = 2;
  o.kdf_memory_kib = 9 * 1024;
  o.kdf_parallelism = 2;
  hexz::pack(o);
  const auto h = decode(read_file(o.output_path));
  EXPECT_EQ(h.encryption.kdf.iterations, 2u);
  EXPECT_EQ(h.encryption.kdf.memory_kib, 9u * 1024);
  EXPECT_EQ(h.encryption.kdf.parallelism, 2u);
  const auto info = hexz::Snapshot::open(o.output_path, with_password())->info();
  EXPECT_EQ(info.kdf_iterations, 2u);
  EXPECT_EQ(info.kdf_memory_kib, 9u * 1024);
  EXPECT_EQ(info.kdf_parallelism, 2u);

  struct Bad {
    uint32_t t, m, p;
    const char* phrase;
  };
  for (const Bad& b : {Bad{0, 8192, 1, "Argon2id iterations 0 is out of range"},
                       Bad{65, 8192, 1, "Argon2id iterations 65 is out of range"},
                       Bad{1, 8191, 1, "Argon2id memory 8191 KiB is out of range"},
                       Bad{1, 1024 * 1024 + 1, 1, "Argon2id memory 1048577 KiB is out of range"},
                       Bad{1, 8192, 0, "Argon2id parallelism 0 is out of range"},
                       Bad{1, 8192, 65, "Argon2id parallelism 65 is out of range"}}) {
    SCOPED_TRACE(b.phrase);
    auto bad = encrypted(d, "", "bad.hxz");
    bad.kdf_iterations = b.t;
    bad.kdf_memory_kib = b.m;
    bad.kdf_parallelism = b.p;
    try {
      hexz::pack(bad);
      ADD_FAILURE() << "packed";
    } catch (const hexz::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(b.phrase), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(bad.output_path));
  }
}

// flatten (through options_like) never writes a weaker key derivation than its source's, nor
// one weaker than the default.
TEST(EncryptionKdfCost, OptionsLikeKeepsAtLeastTheSourcesAndTheDefaultCost) {
  hexz::SnapshotInfo info;
  info.encrypted = true;
  info.kdf_iterations = 1;
  info.kdf_memory_kib = 8 * 1024;
  info.kdf_parallelism = 1;
  auto o = hexz::options_like(info);
  EXPECT_EQ(o.kdf_iterations, hexz::kDefaultKdfIterations);
  EXPECT_EQ(o.kdf_memory_kib, hexz::kDefaultKdfMemoryKib);
  EXPECT_EQ(o.kdf_parallelism, hexz::kDefaultKdfParallelism);
  info.kdf_iterations = 5;
  info.kdf_memory_kib = 512 * 1024;
  info.kdf_parallelism = 8;
  o = hexz::options_like(info);
  EXPECT_EQ(o.kdf_iterations, 5u);
  EXPECT_EQ(o.kdf_memory_kib, 512u * 1024);
  EXPECT_EQ(o.kdf_parallelism, 8u);
}

/// Sets an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~ScopedEnv() { ::unsetenv(name_); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
};

/// Sets the Argon2id cost fields of an encrypted snapshot's header and reseals its checksum (the
/// key check then fails, but only if the key derivation runs).
Bytes with_kdf_cost(Bytes file, uint32_t iterations, uint32_t memory_kib) {
  std::span<unsigned char, format::kHeaderSize> h(file.data(), format::kHeaderSize);
  hexz::util::store_le<uint32_t>(h.data() + 324, iterations);
  hexz::util::store_le<uint32_t>(h.data() + 328, memory_kib);
  format::reseal_header_checksum(h);
  return file;
}

// Issue 14: a file asking for 64 passes over 1 GiB (128 s, 1 GiB of memory) is refused before
// the key derivation runs, with an error naming the cost, the cap and how to raise it.
TEST_F(EncryptionTest, ReaderRefusesAKdfCostAboveItsCapBeforeRunningIt) {
  const Bytes disk = make_disk_image(64u << 10, 45);
  auto o = encrypted(input("d.img", disk), "", "k.hxz");
  o.kdf_iterations = 2;
  hexz::pack(o);
  const Bytes good = read_file(o.output_path);
  const auto refusal = [&](const Bytes& file, const hexz::OpenOptions& oo) -> std::string {
    try {
      auto snap = std::make_unique<hexz::read::SnapshotReader>(
          std::make_unique<MemoryFile>(std::make_shared<const Bytes>(file)), oo, false);
    } catch (const hexz::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "opened";
    return "";
  };
  // The file: refused (kUnsupported, not "wrong password": the KDF never ran).
  const std::string msg = refusal(with_kdf_cost(good, 64, 1024 * 1024), with_password());
  EXPECT_NE(msg.find("asks for an Argon2id key derivation of 64 passes over 1 GiB, above this "
                     "reader's cap of 16 passes over 1 GiB"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("--kdf-max-iterations"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HEXZ_KDF_MAX_MEMORY"), std::string::npos) << msg;

  // Caps from the options, then from the environment; raising the cap opens the file.
  hexz::OpenOptions low = with_password();
  low.max_kdf_iterations = 1;
  EXPECT_NE(refusal(good, low).find("2 passes over 8 MiB, above this reader's cap of 1 pass "
                                    "over 1 GiB"),
            std::string::npos);
  low.max_kdf_iterations = 2;
  low.max_kdf_memory_kib = 4096;
  EXPECT_NE(refusal(good, low).find("cap of 2 passes over 4 MiB"), std::string::npos);
  low.max_kdf_memory_kib = 8192;
  EXPECT_EQ(read_stream(
                hexz::read::SnapshotReader(
                    std::make_unique<MemoryFile>(std::make_shared<const Bytes>(good)), low, false),
                Stream::kDisk),
            disk);
  {
    ScopedEnv mem("HEXZ_KDF_MAX_MEMORY", "4M");
    EXPECT_NE(refusal(good, with_password()).find("cap of 16 passes over 4 MiB"),
              std::string::npos);
    ScopedEnv it("HEXZ_KDF_MAX_ITERATIONS", "1");
    EXPECT_NE(refusal(good, with_password()).find("cap of 1 pass over 4 MiB"), std::string::npos);
    // Options win over the environment.
    auto snap = std::make_unique<hexz::read::SnapshotReader>(
        std::make_unique<MemoryFile>(std::make_shared<const Bytes>(good)), low, false);
    EXPECT_TRUE(snap->info().encrypted);
  }
  {
    ScopedEnv mem("HEXZ_KDF_MAX_MEMORY", "lots");
    EXPECT_TRUE(ThrowsHexz([&] { open_copy(good, kPassword); }, {ErrorCode::kInvalidArgument}));
  }
}

TEST_F(EncryptionTest, DuplicateHeavyDataIsWithinTwoPercentOfUnencrypted) {
  // 16 MiB of 4 KiB chunks drawn from 512 distinct ones, a tenth of them zero.
  std::vector<Bytes> distinct;
  for (uint64_t i = 0; i < 512; ++i) {
    std::mt19937_64 rng(1000 + i);
    Bytes c;
    if (i % 4 == 3) {
      append_structs(c, 4096, rng);
    } else if (i % 8 == 5) {
      append_random(c, 4096, rng);
    } else {
      append_text(c, 4096, rng);
    }
    distinct.push_back(std::move(c));
  }
  std::mt19937_64 rng(51);
  Bytes disk;
  while (disk.size() < (16u << 20)) {
    if (rng() % 10 == 0) {
      append_zeros(disk, 4096);
    } else {
      const Bytes& c = distinct[rng() % distinct.size()];
      disk.insert(disk.end(), c.begin(), c.end());
    }
  }
  const std::string d = input("dups.img", disk);
  const auto plain = hexz::pack(options(d, "", output("plain.hxz")));
  const auto enc = hexz::pack(encrypted(d, "", "enc.hxz"));
  EXPECT_EQ(enc.streams[0].dup_chunks, plain.streams[0].dup_chunks);
  EXPECT_GT(enc.streams[0].dup_chunks, enc.streams[0].chunks * 7 / 10);
  EXPECT_EQ(enc.streams[0].blocks, plain.streams[0].blocks);
  const double ratio = static_cast<double>(enc.file_size) / static_cast<double>(plain.file_size);
  std::printf(
      "[ size     ] 16 MiB duplicate-heavy: unencrypted %llu bytes, encrypted %llu bytes "
      "(ratio %.4f)\n",
      static_cast<unsigned long long>(plain.file_size),
      static_cast<unsigned long long>(enc.file_size), ratio);
  RecordProperty("encrypted_over_plain_size", std::to_string(ratio));
  EXPECT_LE(ratio, 1.02);
  auto snap = hexz::Snapshot::open(output("enc.hxz"), with_password());
  EXPECT_EQ(read_stream(*snap, Stream::kDisk, 1u << 20), disk);
}

TEST_F(EncryptionTest, NoPlaintextMarkerAnywhereInTheEncryptedFile) {
  const std::string marker = "HEXZ-PLAINTEXT-MARKER-7d1e0c5a";
  const auto image = [&](size_t size, uint64_t seed) {
    std::mt19937_64 rng(seed);
    Bytes out;
    for (size_t i = 0; out.size() < size; ++i) {
      Bytes c;
      switch (i % 4) {
        case 0:  // incompressible around the marker: stored raw
          append_random(c, 4096, rng);
          break;
        case 1:
          append_text(c, 4096, rng);
          break;
        case 2:  // the marker over and over
          while (c.size() < 4096) c.insert(c.end(), marker.begin(), marker.end());
          c.resize(4096);
          break;
        default:  // a duplicate of an earlier chunk
          c.assign(out.end() - 8192, out.end() - 4096);
      }
      std::copy(marker.begin(), marker.end(), c.begin() + static_cast<long>(rng() % 4000));
      out.insert(out.end(), c.begin(), c.end());
    }
    return out;
  };
  const Bytes disk = image(512u << 10, 61), mem = image(128u << 10, 62);
  const std::string d = input("d.img", disk), m = input("m.img", mem);
  for (const Codec codec : {Codec::kNone, Codec::kLz4}) {
    SCOPED_TRACE(hexz::codec_name(codec));
    auto po = options(d, m, output(std::string("p-") + hexz::codec_name(codec) + ".hxz"));
    po.codec = codec;
    hexz::pack(po);
    // The search finds the marker where it is stored in the clear.
    EXPECT_TRUE(contains(read_file(po.output_path), marker));
    auto eo = po;
    eo.output_path = output(std::string("e-") + hexz::codec_name(codec) + ".hxz");
    eo.encrypt = true;
    eo.password = kPassword;
    cheap_kdf(eo);
    hexz::pack(eo);
    const Bytes file = read_file(eo.output_path);
    EXPECT_FALSE(contains(file, marker));
    EXPECT_FALSE(contains(file, marker.substr(0, 12)));
    EXPECT_FALSE(contains(file, kPassword));
    if (codec == Codec::kNone) {
      auto snap = hexz::Snapshot::open(eo.output_path, with_password());
      EXPECT_EQ(read_stream(*snap, Stream::kMemory), mem);
    }
  }
}

// ---------------------------------------------------------------------------
// Tamper matrix on one small encrypted snapshot

struct TamperFixture {
  TempDir dir;
  Bytes src[2];
  Bytes good;
  format::Header header;
  std::unique_ptr<crypto::SnapshotCipher> cipher;  ///< The snapshot's real keys.
  std::vector<format::MasterEntry> master;
  struct Use {
    Stream stream;
    uint64_t offset;
    uint32_t length;
  };
  struct Block {
    uint64_t offset = 0;
    uint32_t stored_length = 0;
    std::vector<Use> uses;
  };
  std::map<uint64_t, Block> blocks;  ///< Distinct stored blocks by file offset.
};

class EncryptionTamper : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fx_ = std::make_unique<TamperFixture>();
    auto& f = *fx_;
    // Disk: text, a zero run, and duplicates; memory: random pages and copies of disk chunks.
    f.src[0] = text_bytes(96u << 10, 71);
    append_zeros(f.src[0], 32u << 10);
    f.src[0].insert(f.src[0].end(), f.src[0].begin(), f.src[0].begin() + (32u << 10));
    Bytes more = text_bytes((32u << 10) + 777, 72);
    f.src[0].insert(f.src[0].end(), more.begin(), more.end());
    f.src[1] = random_bytes(32u << 10, 73);
    f.src[1].insert(f.src[1].end(), f.src[0].begin() + 8192, f.src[0].begin() + 40960);
    const std::string disk = f.dir.file("disk.img"), mem = f.dir.file("mem.img");
    write_file(disk, f.src[0]);
    write_file(mem, f.src[1]);
    hexz::PackOptions o;
    o.disk_path = disk;
    o.memory_path = mem;
    o.output_path = f.dir.file("t.hxz");
    o.block_size = 16384;
    o.encrypt = true;
    o.password = kPassword;
    cheap_kdf(o);
    hexz::pack(o);
    f.good = read_file(o.output_path);
    f.header = decode(f.good);
    f.cipher = std::make_unique<crypto::SnapshotCipher>(kPassword, f.header.encryption);
    // The master index, decrypted with the real keys.
    const auto msealed = std::span(f.good).subspan(f.header.master_offset, f.header.master_length);
    std::vector<std::byte> mplain(msealed.size() - kTag);
    if (!f.cipher->open_section(crypto::NonceDomain::kMasterIndex, std::as_bytes(msealed),
                                mplain)) {
      FAIL() << "cannot decrypt the untouched master index";
    }
    for (uint32_t i = 0; i < f.header.page_count; ++i) {
      f.master.push_back(format::decode_master_entry(
          reinterpret_cast<const unsigned char*>(mplain.data()) + i * format::kMasterEntrySize));
    }
    auto snap = open_copy(f.good, kPassword);
    for (int s = 0; s < 2; ++s) {
      const auto stream = static_cast<Stream>(s);
      snap->for_each_entry(stream, [&](uint64_t at, const format::IndexEntry& e) {
        if (e.kind != format::ChunkKind::kData) return;
        auto& b = f.blocks[e.block.offset];
        b.offset = e.block.offset;
        b.stored_length = e.block.stored_length;
        b.uses.push_back({stream, at, e.length});
      });
    }
  }
  static void TearDownTestSuite() { fx_.reset(); }

  const TamperFixture& f() const { return *fx_; }

  /// Opens a fresh copy of `bytes`; if that succeeds, reads everything, which must never give
  /// wrong bytes. Returns the error code of the open, or nullopt if it opened.
  std::optional<ErrorCode> open_and_read(const Bytes& bytes) const {
    std::unique_ptr<hexz::read::SnapshotReader> snap;
    try {
      snap = open_copy(bytes, kPassword);
    } catch (const hexz::Error& e) {
      return e.code();
    }
    reads_never_wrong(*snap, f().src, 16384);
    return std::nullopt;
  }

  static std::unique_ptr<TamperFixture> fx_;
};

std::unique_ptr<TamperFixture> EncryptionTamper::fx_;

TEST_F(EncryptionTamper, FixtureIsWhatTheMatrixNeeds) {
  EXPECT_GE(f().master.size(), 2u);
  EXPECT_GE(f().blocks.size(), 8u);
  // The plaintext header carries no counters; the reader derives them from the index.
  EXPECT_EQ(f().header.streams[0].zero_chunks, 0u);
  EXPECT_EQ(f().header.streams[0].dup_chunks, 0u);
  EXPECT_EQ(f().header.streams[0].stored_bytes, 0u);
  auto snap = open_copy(f().good, kPassword);
  EXPECT_GT(snap->info().streams[0].zero_chunks, 0u);
  EXPECT_GT(snap->info().streams[0].dup_chunks, 0u);
  EXPECT_EQ(reads_never_wrong(*snap, f().src, 16384), 0);
  EXPECT_TRUE(snap->verify({}).ok);
}

TEST_F(EncryptionTamper, EveryHeaderByteFlipped) {
  for (size_t i = 0; i < format::kHeaderSize; ++i) {
    Bytes bad = f().good;
    bad[i] ^= 0x01;
    const auto code = open_and_read(bad);
    ASSERT_TRUE(code.has_value()) << "header byte " << i << " flipped: the file still opened";
    EXPECT_TRUE(*code == ErrorCode::kNotASnapshot || *code == ErrorCode::kUnsupported ||
                *code == ErrorCode::kCorrupt || *code == ErrorCode::kWrongPassword)
        << "byte " << i << ": " << hexz::error_code_name(*code);
  }
}

TEST_F(EncryptionTamper, EveryHeaderByteFlippedWithTheChecksumRecomputed) {
  // What an attacker can do: change a byte and recompute the XXH3 header checksum. Every byte
  // the header MAC or key check covers must then be refused: the MAC covers every byte but
  // itself and the checksum, reserved bytes [400, 504) included.
  constexpr size_t kAuthenticatedEnd = format::kHeaderChecksumOffset;
  const auto& hdr = f().header;
  for (const uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
    for (size_t i = 0; i < kAuthenticatedEnd; ++i) {
      auto h = header_of(f().good);
      h[i] ^= mask;
      format::reseal_header_checksum(h);
      EXPECT_NE(judge_header(h, hdr, *f().cipher), HeaderVerdict::kAccepted)
          << "byte " << i << " mask " << int{mask};
    }
  }

  // Full opens, which must agree with the judgement: every low-bit flip that fails the
  // structural checks (no key derivation), and a sample of those that derive a key (each costs
  // an Argon2id): every 8th byte before the KDF fields, every 2nd of the KDF fields, id, key
  // check and MAC, every 26th reserved byte; plus a few chosen flips.
  struct Case {
    size_t at;
    uint8_t mask;
  };
  std::vector<Case> cases = {
      {16, 0x04},   // required_features: the encryption bit cleared
      {330, 0x01},  // memory 8 MiB -> 72 MiB: a valid, costlier KDF, another key
      {331, 0x01},  // memory -> 16 GiB: refused before any work
  };
  for (size_t i = 0; i < format::kHeaderChecksumOffset; ++i) {
    auto h = header_of(f().good);
    h[i] ^= 0x01;
    format::reseal_header_checksum(h);
    const size_t stride = i < format::kKdfFieldsOffset ? 8 : i < kAuthenticatedEnd ? 2 : 26;
    if (judge_header(h, hdr, *f().cipher) == HeaderVerdict::kStructure || i % stride == 0)
      cases.push_back({i, 0x01});
  }
  int derived = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE("header byte " + std::to_string(c.at) + " mask " + std::to_string(c.mask));
    Bytes bad = f().good;
    bad[c.at] ^= c.mask;
    auto h = header_of(bad);
    format::reseal_header_checksum(h);
    std::copy(h.begin(), h.end(), bad.begin());
    const HeaderVerdict v = judge_header(h, hdr, *f().cipher);
    const auto code = open_and_read(bad);
    if (v != HeaderVerdict::kStructure) ++derived;
    switch (v) {
      case HeaderVerdict::kStructure:
        EXPECT_TRUE(code == ErrorCode::kCorrupt || code == ErrorCode::kUnsupported ||
                    code == ErrorCode::kNotASnapshot);
        break;
      case HeaderVerdict::kNewKeyInput:
        EXPECT_TRUE(code == ErrorCode::kWrongPassword || code == ErrorCode::kUnsupported);
        break;
      case HeaderVerdict::kKeyCheck:
        EXPECT_EQ(code, ErrorCode::kWrongPassword);
        break;
      case HeaderVerdict::kMac:
        EXPECT_EQ(code, ErrorCode::kCorrupt);
        break;
      case HeaderVerdict::kAccepted:
        EXPECT_GE(c.at, kAuthenticatedEnd);
        EXPECT_FALSE(code.has_value());  // opened, and open_and_read found no wrong bytes
        break;
    }
  }
  std::printf(
      "[ note     ] %zu resealed header flips opened, %d of them past the structural "
      "checks\n",
      cases.size(), derived);
}

TEST_F(EncryptionTamper, EveryMasterIndexByteFlipped) {
  const auto& hdr = f().header;
  ASSERT_EQ(hdr.master_length, f().master.size() * format::kMasterEntrySize + kTag);
  const auto master = std::span(f().good).subspan(hdr.master_offset, hdr.master_length);
  std::vector<std::byte> out(master.size() - kTag);
  for (size_t i = 0; i < master.size(); ++i) {
    Bytes bad(master.begin(), master.end());
    bad[i] ^= 0x01;
    // Both layers refuse it: the XXH3 the header records, and the GCM tag.
    EXPECT_NE(hexz::hash::checksum64(bad.data(), bad.size()), hdr.master_checksum) << i;
    EXPECT_FALSE(f().cipher->open_section(crypto::NonceDomain::kMasterIndex, bytes_of(bad), out))
        << "master index byte " << i;
  }
  // Full opens for every 8th byte and the tag's ends (each open derives the key).
  std::vector<size_t> sample = {master.size() - kTag, master.size() - 1};
  for (size_t i = 0; i < master.size(); i += 8) sample.push_back(i);
  for (const size_t i : sample) {
    Bytes bad = f().good;
    bad[hdr.master_offset + i] ^= 0x01;
    EXPECT_EQ(open_and_read(bad), ErrorCode::kCorrupt) << "master index byte " << i;
  }
  // The attacker also fixes the master checksum in the header and the header's checksum: the
  // header MAC refuses it.
  Bytes bad = f().good;
  bad[hdr.master_offset + 3] ^= 0x01;
  L::put_u64(bad, 128, hexz::hash::checksum64(bad.data() + hdr.master_offset, hdr.master_length));
  L::fix_header_checksum(bad);
  EXPECT_EQ(open_and_read(bad), ErrorCode::kCorrupt);
}

TEST_F(EncryptionTamper, EveryByteOfOneIndexPageFlipped) {
  ASSERT_FALSE(f().master.empty());
  const auto& m = f().master[0];
  ASSERT_EQ(m.stream, Stream::kDisk);
  auto buf = std::make_shared<Bytes>(f().good);
  auto snap = open_memory(buf, kPassword, Cache::kNothing);
  ASSERT_EQ(reads_never_wrong(*snap, f().src, 16384), 0);
  const auto ctx = format::page_aead_context(m);
  std::vector<std::byte> out(m.stored_length - kTag);
  for (uint32_t i = 0; i < m.stored_length; ++i) {
    SCOPED_TRACE("index page byte " + std::to_string(i));
    (*buf)[m.offset + i] ^= 0x01;
    const Bytes stored(buf->begin() + static_cast<long>(m.offset),
                       buf->begin() + static_cast<long>(m.offset + m.stored_length));
    EXPECT_NE(hexz::hash::checksum64(stored.data(), stored.size()), m.checksum);
    EXPECT_FALSE(f().cipher->open_page(0, ctx, bytes_of(stored), out));
    EXPECT_TRUE(ThrowsHexz([&] { read_range(*snap, Stream::kDisk, m.first_logical, 1); },
                           {ErrorCode::kCorrupt}));
    if (i % 64 == 0 || i + 1 == m.stored_length) {
      EXPECT_GT(reads_never_wrong(*snap, f().src, 16384), 0);
      EXPECT_FALSE(snap->verify({}).ok);
    }
    (*buf)[m.offset + i] ^= 0x01;
  }
  EXPECT_EQ(reads_never_wrong(*snap, f().src, 16384), 0);
  EXPECT_TRUE(snap->verify({}).ok);
}

TEST_F(EncryptionTamper, SampledDataBytesFlipped) {
  auto buf = std::make_shared<Bytes>(f().good);
  auto snap = open_memory(buf, kPassword, Cache::kPagesOnly);  // only block bytes change
  std::vector<const TamperFixture::Block*> blocks;
  uint64_t total = 0;
  for (const auto& [offset, b] : f().blocks) {
    blocks.push_back(&b);
    total += b.stored_length;
  }
  constexpr int kSamples = 200;
  for (int k = 0; k < kSamples; ++k) {
    // Evenly over all stored block bytes, so every block and its tag are hit.
    uint64_t at = (static_cast<uint64_t>(k) * total) / kSamples + static_cast<uint64_t>(k % 7);
    size_t bi = 0;
    while (at >= blocks[bi]->stored_length) at -= blocks[bi++]->stored_length;
    const auto& b = *blocks[bi];
    SCOPED_TRACE("block at " + std::to_string(b.offset) + " byte " + std::to_string(at));
    (*buf)[b.offset + at] ^= static_cast<uint8_t>(1u << (k % 8));
    for (const auto& use : b.uses) {
      EXPECT_TRUE(ThrowsHexz([&] { read_range(*snap, use.stream, use.offset, use.length); },
                             {ErrorCode::kCorrupt}));
    }
    if (k % 4 == 0) {
      EXPECT_GT(reads_never_wrong(*snap, f().src, 16384), 0);
    }
    const auto report = snap->verify({});
    EXPECT_FALSE(report.ok);
    EXPECT_NE(report.first_error.find("authentication"), std::string::npos) << report.first_error;
    (*buf)[b.offset + at] ^= static_cast<uint8_t>(1u << (k % 8));
  }
  EXPECT_EQ(reads_never_wrong(*snap, f().src, 16384), 0);
  // One fresh open of a damaged file too: it opens (data is read lazily), reads are refused.
  Bytes bad = f().good;
  bad[blocks[0]->offset + 5] ^= 0x01;
  auto fresh = open_copy(bad, kPassword);
  EXPECT_GT(reads_never_wrong(*fresh, f().src, 16384), 0);
  EXPECT_FALSE(fresh->verify({}).ok);
}

TEST_F(EncryptionTamper, TruncatedOrExtendedAnywhere) {
  std::vector<size_t> cuts = {0, 1, 7, 8, 9, 100, 383, 511, 512, 513};
  for (size_t n = 600; n < f().good.size(); n += 97) cuts.push_back(n);
  for (size_t k = 1; k <= 64; ++k) cuts.push_back(f().good.size() - k);
  for (const size_t n : cuts) {
    const Bytes bad(f().good.begin(), f().good.begin() + static_cast<long>(n));
    const auto code = open_and_read(bad);
    EXPECT_TRUE(code == ErrorCode::kTruncated || code == ErrorCode::kNotASnapshot)
        << "cut to " << n << ": " << (code ? hexz::error_code_name(*code) : "opened");
  }
  Bytes longer = f().good;
  longer.push_back(0);
  EXPECT_EQ(open_and_read(longer), ErrorCode::kCorrupt);
}

// Equal-length blocks (random data stored raw, one chunk per block), so blocks can be swapped,
// copied over each other, and moved between two snapshots packed with the same password.
TEST_F(EncryptionTest, SwappedCopiedAndTransplantedBlocksAreRefused) {
  const Bytes disk = random_bytes(16 * 4096, 81);
  auto o = encrypted(input("r.img", disk), "", "a.hxz");
  o.codec = Codec::kNone;
  o.block_size = 4096;
  hexz::pack(o);
  auto ob = o;
  ob.output_path = output("b.hxz");
  hexz::pack(ob);
  const Bytes a = read_file(o.output_path), b = read_file(ob.output_path);
  EXPECT_NE(a, b) << "two packs share salt, id or keys";
  EXPECT_NE(Bytes(a.begin() + 336, a.begin() + 368), Bytes(b.begin() + 336, b.begin() + 368));

  const Bytes src[2] = {disk, Bytes{}};
  auto abuf = std::make_shared<Bytes>(a);
  auto snap = open_memory(abuf, kPassword, Cache::kPagesOnly);  // only block bytes change
  const auto entries = entries_of(*snap, Stream::kDisk);
  ASSERT_EQ(entries.size(), 16u);
  for (const auto& e : entries) ASSERT_EQ(e.block.stored_length, 4096u + kTag);
  const auto block_bytes = [&](const Bytes& file, int i) {
    const auto& r = entries[static_cast<size_t>(i)].block;
    return Bytes(file.begin() + static_cast<long>(r.offset),
                 file.begin() + static_cast<long>(r.offset + r.stored_length));
  };
  const auto put_block = [&](int i, const Bytes& bytes) {
    std::copy(bytes.begin(), bytes.end(),
              abuf->begin() + static_cast<long>(entries[static_cast<size_t>(i)].block.offset));
  };
  const auto chunk_refused = [&](int i) {
    return ThrowsHexz(
        [&] { read_range(*snap, Stream::kDisk, static_cast<uint64_t>(i) * 4096, 4096); },
        {ErrorCode::kCorrupt});
  };

  // Swap blocks 3 and 9.
  put_block(3, block_bytes(a, 9));
  put_block(9, block_bytes(a, 3));
  EXPECT_TRUE(chunk_refused(3));
  EXPECT_TRUE(chunk_refused(9));
  EXPECT_EQ(reads_never_wrong(*snap, src, 4096), 2);
  EXPECT_FALSE(snap->verify({}).ok);
  *abuf = a;
  // Copy block 9 over block 3 (a replay inside the snapshot).
  put_block(3, block_bytes(a, 9));
  EXPECT_TRUE(chunk_refused(3));
  EXPECT_EQ(reads_never_wrong(*snap, src, 4096), 1);
  *abuf = a;
  // Block 5 of the other snapshot (same password, same plaintext, same place).
  put_block(5, block_bytes(b, 5));
  EXPECT_TRUE(chunk_refused(5));
  EXPECT_EQ(reads_never_wrong(*snap, src, 4096), 1);
  // Its whole data region.
  std::copy(
      b.begin() + format::kHeaderSize,
      b.begin() + static_cast<long>(entries[15].block.offset + entries[15].block.stored_length),
      abuf->begin() + format::kHeaderSize);
  EXPECT_EQ(reads_never_wrong(*snap, src, 4096), 16);
  *abuf = a;
  EXPECT_EQ(reads_never_wrong(*snap, src, 4096), 0);

  // b's header on a's body (the key check passes: same password): refused at open, by the
  // master index checksum the header records (or the file size, if the index pages' sizes
  // differ).
  Bytes mixed = a;
  std::copy(b.begin(), b.begin() + format::kHeaderSize, mixed.begin());
  EXPECT_TRUE(ThrowsHexz([&] { open_copy(mixed, kPassword); },
                         {ErrorCode::kCorrupt, ErrorCode::kTruncated}));
}

}  // namespace
}  // namespace hexz_test
