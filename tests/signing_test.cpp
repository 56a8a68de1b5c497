// Signed snapshots: keygen, sign without repacking, trusted keys at open, and every way to
// tamper with what the signature covers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <filesystem>

#include "crypto/signature.hpp"
#include "format/signatures.hpp"
#include "hexz/signing.hpp"
#include "read/snapshot_reader.hpp"
#include "support/fixture.hpp"
#include "support/layout.hpp"

namespace hexz_test {
namespace {

namespace layout = hexz_test::layout;

class SigningTest : public HexzTest {
 protected:
  void SetUp() override {
    disk_ = random_bytes(1 << 20, 31);
    auto o = options(input("d.img", disk_), "", output("s.hxz"));
    o.codec = hexz::Codec::kNone;
    o.block_size = 65536;  // first block [512, 66048), raw
    packed_ = hexz::pack(o);
    key_ = output("key");
    hexz::generate_signing_key(key_);
  }
  hexz::OpenOptions trusting(const std::string& pub) const {
    hexz::OpenOptions o;
    o.trusted_keys.push_back(hexz::read_public_key(pub));
    return o;
  }
  std::string snap() const { return output("s.hxz"); }
  Bytes disk_;
  hexz::PackResult packed_;
  std::string key_;
};

TEST_F(SigningTest, KeygenWritesAPrivateKeyOnlyTheOwnerCanRead) {
  struct stat st {};
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((key_ + ".pub").c_str(), &st), 0);
  EXPECT_EQ(hexz::read_public_key(key_), hexz::read_public_key(key_ + ".pub"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::generate_signing_key(key_); }, hexz::ErrorCode::kAlreadyExists,
                         "already exists"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::read_public_key(snap()); }, hexz::ErrorCode::kInvalidArgument,
                         "is not an Ed25519"));
}

TEST_F(SigningTest, SignAndOpenWithTheKeyRoundTrips) {
  const Bytes before = read_file(snap());
  const auto r = hexz::sign_snapshot(snap(), key_);
  EXPECT_EQ(r.signatures, 1u);
  EXPECT_FALSE(r.replaced);
  const Bytes after = read_file(snap());
  ASSERT_EQ(after.size(), before.size() + 124);  // one 100-byte record in a 24-byte trailer
  EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin()));  // not repacked
  const auto s = hexz::Snapshot::open(snap(), trusting(key_ + ".pub"));
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk_);
  EXPECT_TRUE(s->verify().ok) << s->verify().first_error;
  EXPECT_EQ(r.identity_hex, s->info().identity_hex);
}

TEST_F(SigningTest, ASignedFileStillOpensWithoutKeys) {
  hexz::sign_snapshot(snap(), key_);
  const auto s = hexz::Snapshot::open(snap());
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk_);
  EXPECT_TRUE(s->verify().ok);
}

TEST_F(SigningTest, UnsignedFileIsRefusedWhenAKeyIsRequired) {
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap(), trusting(key_ + ".pub")); },
                         hexz::ErrorCode::kCorrupt, "is not signed, and a signature"));
}

TEST_F(SigningTest, WrongKeyIsRefused) {
  hexz::sign_snapshot(snap(), key_);
  hexz::generate_signing_key(output("other"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap(), trusting(output("other.pub"))); },
                         hexz::ErrorCode::kCorrupt, "is not signed by a trusted key"));
}

TEST_F(SigningTest, ResigningReplacesAndOtherKeysAreKept) {
  hexz::sign_snapshot(snap(), key_);
  const auto again = hexz::sign_snapshot(snap(), key_);
  EXPECT_TRUE(again.replaced);
  EXPECT_EQ(again.signatures, 1u);
  hexz::generate_signing_key(output("other"));
  const auto second = hexz::sign_snapshot(snap(), output("other"));
  EXPECT_FALSE(second.replaced);
  EXPECT_EQ(second.signatures, 2u);
  EXPECT_EQ(std::filesystem::file_size(snap()), packed_.file_size + 24 + 200);
  for (const auto& pub : {key_ + ".pub", output("other.pub")}) {
    EXPECT_EQ(read_stream(*hexz::Snapshot::open(snap(), trusting(pub)), hexz::Stream::kDisk),
              disk_);
  }
}

TEST_F(SigningTest, ATamperedSignatureOrIdentityIsRefused) {
  hexz::sign_snapshot(snap(), key_);
  const Bytes good = read_file(snap());
  // A byte of the signature itself (trailer checksum fixed up).
  Bytes bad = good;
  const size_t sig_at = packed_.file_size + 16 + 36;
  bad[sig_at] ^= 1;
  layout::put_u64(bad, bad.size() - 8,
                  XXH3_64bits(bad.data() + packed_.file_size, bad.size() - 8 - packed_.file_size));
  write_file(snap(), bad);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap(), trusting(key_ + ".pub")); },
                         hexz::ErrorCode::kCorrupt, "failed its signature check"));
  // A trailer byte without fixing its checksum.
  bad = good;
  bad[sig_at] ^= 1;
  write_file(snap(), bad);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap()); }, hexz::ErrorCode::kCorrupt,
                         "signature trailer failed its checksum"));
  // The identity and index digest of another snapshot (header checksum fixed up).
  auto o = options(input("e.img", random_bytes(1 << 20, 32)), "", output("e.hxz"));
  o.codec = hexz::Codec::kNone;
  o.block_size = 65536;
  hexz::pack(o);
  const Bytes other = read_file(output("e.hxz"));
  bad = good;
  std::copy(other.begin() + 64, other.begin() + 96, bad.begin() + 64);
  std::copy(other.begin() + 400, other.begin() + 432, bad.begin() + 400);
  layout::fix_header_checksum(bad);
  write_file(snap(), bad);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap(), trusting(key_ + ".pub")); },
                         hexz::ErrorCode::kCorrupt, "failed its signature check"));
  // Garbage after the end is still not a snapshot's (rule F2).
  bad = good;
  bad.resize(packed_.file_size);
  bad.insert(bad.end(), 10, 0x41);
  write_file(snap(), bad);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap()); }, hexz::ErrorCode::kCorrupt,
                         "10 unexpected bytes after the end of the snapshot"));
}

TEST_F(SigningTest, ARewrittenBlockOrIndexOfASignedFileIsRefused) {
  hexz::sign_snapshot(snap(), key_);
  Bytes file = read_file(snap());
  const Bytes trailer(file.begin() + static_cast<std::ptrdiff_t>(packed_.file_size), file.end());
  file.resize(packed_.file_size);
  for (size_t i = 0; i < 16; ++i) file[600 + i] ^= 0x5a;
  const uint64_t sum = XXH3_64bits(file.data() + 512, 65536);
  // Block rewritten, checksum fixed in the index: the index no longer matches the identity.
  Bytes bad = layout::with_block_checksum(file, 0, 512, sum);
  ASSERT_EQ(bad.size(), file.size());
  bad.insert(bad.end(), trailer.begin(), trailer.end());
  write_file(snap(), bad);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap(), trusting(key_ + ".pub")); },
                         hexz::ErrorCode::kCorrupt, "index digest mismatch"));
  // Block rewritten and nothing else: the block checksum fails, as always.
  file.insert(file.end(), trailer.begin(), trailer.end());
  write_file(snap(), file);
  const auto s = hexz::Snapshot::open(snap(), trusting(key_ + ".pub"));
  Bytes got(100);
  EXPECT_TRUE(
      ThrowsWith([&] { s->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(got))); },
                 hexz::ErrorCode::kCorrupt, "failed its checksum"));
}

// A signed snapshot reads verified by default, also when opened without keys. The file: a
// block rewritten and its checksum fixed in the index (digests kept), with a valid signature of
// the (unchanged) identity appended by hand, since sign_snapshot() refuses such an index.
TEST_F(SigningTest, SignedSnapshotsReadVerifiedByDefault) {
  Bytes file = read_file(snap());
  for (size_t i = 0; i < 16; ++i) file[600 + i] ^= 0x5a;
  const uint64_t sum = XXH3_64bits(file.data() + 512, 65536);
  Bytes bad = layout::with_block_checksum(file, 0, 512, sum);
  write_file(snap(), bad);
  Bytes got(100);
  hexz::Snapshot::open(snap())->read(hexz::Stream::kDisk, 0,
                                     std::as_writable_bytes(std::span(got)));
  EXPECT_FALSE(std::equal(got.begin(), got.end(), disk_.begin()));  // unsigned: reads through
  EXPECT_TRUE(ThrowsWith([&] { hexz::sign_snapshot(snap(), key_); }, hexz::ErrorCode::kCorrupt,
                         "index digest mismatch"));
  std::array<unsigned char, 32> identity{};
  std::copy(bad.begin() + 64, bad.begin() + 96, identity.begin());
  hexz::format::SignatureRecord rec;
  rec.signature =
      hexz::crypto::sign_with_key_file(key_, hexz::format::signature_message(identity), rec.key);
  const auto trailer = hexz::format::encode_signature_trailer({rec});
  bad.insert(bad.end(), trailer.begin(), trailer.end());
  write_file(snap(), bad);
  const auto s = hexz::Snapshot::open(snap());  // no keys: the signature is not checked
  EXPECT_TRUE(
      ThrowsWith([&] { s->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(got))); },
                 hexz::ErrorCode::kCorrupt, "does not match its digest"));
  hexz::OpenOptions unverified;
  unverified.verify_reads = false;  // an explicit choice is respected
  hexz::Snapshot::open(snap(), unverified)
      ->read(hexz::Stream::kDisk, 0, std::as_writable_bytes(std::span(got)));
  // With the key, the signature verifies but the index does not match the identity.
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap(), trusting(key_ + ".pub")); },
                         hexz::ErrorCode::kCorrupt, "index digest mismatch"));
}

TEST_F(SigningTest, RemoteSnapshotsCannotBeSignedInPlace) {
  EXPECT_TRUE(ThrowsWith([&] { hexz::sign_snapshot("https://example.invalid/s.hxz", key_); },
                         hexz::ErrorCode::kInvalidArgument, "sign the local file"));
}

TEST_F(SigningTest, EncryptedSnapshotsSignWithTheirPassword) {
  auto o = options(input("d.img", disk_), "", output("enc.hxz"));
  o.encrypt = true;
  o.password = "pw";
  hexz::pack(o);
  EXPECT_TRUE(ThrowsWith([&] { hexz::sign_snapshot(output("enc.hxz"), key_); },
                         hexz::ErrorCode::kWrongPassword, "password"));
  hexz::OpenOptions with_pw;
  with_pw.password = "pw";
  hexz::sign_snapshot(output("enc.hxz"), key_, with_pw);
  auto t = trusting(key_ + ".pub");
  t.password = "pw";
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("enc.hxz"), t), hexz::Stream::kDisk), disk_);
}

}  // namespace
}  // namespace hexz_test
