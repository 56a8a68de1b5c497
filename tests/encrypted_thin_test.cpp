// Encrypted thin snapshots (issue 18, format 1.2): a thin snapshot of an encrypted base holds
// the master keys of its bases in a sealed base key table, so its own password reads the whole
// chain; the chain shares one dedup key, so dedup against the base works as for plain files.
// Round trips, passwords, mixed chains and the tamper cases.
#include <gtest/gtest.h>

#include <random>

#include "format/records.hpp"
#include "io/readable_file.hpp"
#include "read/snapshot_reader.hpp"
#include "support/fixture.hpp"
#include "support/layout.hpp"

namespace hexz_test {
namespace {

using hexz::ErrorCode;
namespace L = layout;

constexpr const char* kPasswordA = "first password";
constexpr const char* kPasswordB = "second password";
constexpr const char* kPasswordC = "third password";

/// Edits `n` 64-byte spots of `data` (deterministically) and returns the result.
Bytes edited(Bytes data, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < n; ++i) {
    const size_t at = rng() % (data.size() - 64);
    for (size_t k = 0; k < 64; ++k) data[at + k] = static_cast<uint8_t>(rng());
  }
  return data;
}

hexz::OpenOptions with_password(const std::string& password) {
  hexz::OpenOptions o;
  o.password = password;
  return o;
}

uint64_t u64_at(const Bytes& f, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | f[at + static_cast<size_t>(i)];
  return v;
}

class EncryptedThinTest : public HexzTest {
 protected:
  void SetUp() override {
    v1_disk_ = make_disk_image(2 << 20, 11);
    v1_mem_ = make_memory_image(1 << 20, v1_disk_, 12);
    v2_disk_ = edited(v1_disk_, 12, 13);
    v2_mem_ = edited(v1_mem_, 6, 14);
    v3_disk_ = edited(v2_disk_, 12, 15);
    auto o = encrypted(input("v1.img", v1_disk_), input("v1.mem", v1_mem_), "v1.hxz", kPasswordA);
    v1_ = hexz::pack(o);
  }

  hexz::PackOptions encrypted(const std::string& disk, const std::string& memory,
                              const std::string& out, const std::string& password) const {
    auto o = options(disk, memory, output(out));
    o.encrypt = true;
    o.password = password;
    o.kdf_iterations = 1;  // the cheapest cost the format allows keeps the suite fast
    o.kdf_memory_kib = hexz::kMinKdfMemoryKib;
    o.kdf_parallelism = 1;
    return o;
  }

  /// v2.hxz over v1.hxz under `password` (v1's is kPasswordA).
  hexz::PackResult pack_v2(const std::string& password) {
    auto o = encrypted(input("v2.img", v2_disk_), input("v2.mem", v2_mem_), "v2.hxz", password);
    o.base_path = output("v1.hxz");
    if (password != kPasswordA) o.base_password = kPasswordA;
    return hexz::pack(o);
  }

  Bytes v1_disk_, v1_mem_, v2_disk_, v2_mem_, v3_disk_;
  hexz::PackResult v1_;
};

TEST_F(EncryptedThinTest, SamePasswordReadsBackVerifiesAndStoresOnlyNewChunks) {
  const auto v2 = pack_v2(kPasswordA);
  auto s2 = hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordA));
  EXPECT_EQ(read_stream(*s2, hexz::Stream::kDisk), v2_disk_);
  EXPECT_EQ(read_stream(*s2, hexz::Stream::kMemory), v2_mem_);
  const auto report = s2->verify();
  EXPECT_TRUE(report.ok) << report.first_error;
  const auto info = s2->info();
  EXPECT_TRUE(info.encrypted);
  EXPECT_EQ(info.version_minor, 2u);
  ASSERT_EQ(info.bases.size(), 1u);
  EXPECT_EQ(info.bases[0].name, "v1.hxz");
  // Dedup under the chain's key finds exactly what it finds in the same chain unencrypted.
  EXPECT_LT(v2.file_size * 5, v1_.file_size);
  EXPECT_GT(info.bases[0].bytes_referenced[0], v2_disk_.size() / 2);
  hexz::pack(options(input("p1.img", v1_disk_), input("p1.mem", v1_mem_), output("p1.hxz")));
  auto plain = options(input("p2.img", v2_disk_), input("p2.mem", v2_mem_), output("p2.hxz"));
  plain.base_path = output("p1.hxz");
  const auto p2 = hexz::pack(plain);
  const auto plain_info = hexz::Snapshot::open(output("p2.hxz"))->info();
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(info.bases[0].bytes_referenced[s], plain_info.bases[0].bytes_referenced[s]) << s;
    EXPECT_EQ(info.streams[s].dup_chunks, plain_info.streams[s].dup_chunks) << s;
    EXPECT_EQ(info.streams[s].blocks, plain_info.streams[s].blocks) << s;
  }
  // The encrypted file is larger only by tags and the base key table.
  EXPECT_LT(v2.file_size, p2.file_size + p2.file_size / 20 + 4096);
  // The file says 1.2 and sets both the encryption and the bases bits.
  const Bytes f = read_file(output("v2.hxz"));
  EXPECT_EQ(f[10], 2);
  EXPECT_EQ(u64_at(f, 16) & (hexz::format::kFeatureEncrypted | hexz::format::kFeatureBases),
            hexz::format::kFeatureEncrypted | hexz::format::kFeatureBases);
}

TEST_F(EncryptedThinTest, EachFileItsOwnPasswordAndTheTopOneReadsAThreeDeepChain) {
  pack_v2(kPasswordB);
  auto o = encrypted(input("v3.img", v3_disk_), "", "v3.hxz", kPasswordC);
  o.base_path = output("v2.hxz");
  o.base_password = kPasswordB;  // v2 holds v1's key: v1's password is not needed
  hexz::pack(o);

  auto s3 = hexz::Snapshot::open(output("v3.hxz"), with_password(kPasswordC));
  EXPECT_EQ(read_stream(*s3, hexz::Stream::kDisk), v3_disk_);
  const auto report = s3->verify();
  EXPECT_TRUE(report.ok) << report.first_error;
  const auto info = s3->info();
  ASSERT_EQ(info.bases.size(), 2u);  // v2, then v1: one hop to whichever file stores a chunk
  EXPECT_EQ(info.bases[0].name, "v2.hxz");
  EXPECT_EQ(info.bases[1].name, "v1.hxz");
  EXPECT_GT(info.bases[1].bytes_referenced[0], info.bases[0].bytes_referenced[0]);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    const uint64_t off = rng() % v3_disk_.size();
    const size_t len =
        static_cast<size_t>(std::min<uint64_t>(rng() % 70000, v3_disk_.size() - off));
    Bytes got(len);
    s3->read(hexz::Stream::kDisk, off, std::as_writable_bytes(std::span(got)));
    ASSERT_TRUE(std::equal(got.begin(), got.end(), v3_disk_.begin() + static_cast<ptrdiff_t>(off)))
        << "at " << off;
  }
  // Every file keeps its own password; the others' do not open it.
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v3.hxz"), with_password(kPasswordA)); },
                         ErrorCode::kWrongPassword, "wrong password"));
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordA)); },
                         ErrorCode::kWrongPassword, "wrong password"));
  auto s2 = hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordB));
  EXPECT_EQ(read_stream(*s2, hexz::Stream::kMemory), v2_mem_);
  // The whole chain keys its digests alike, so that the files' digests compare.
  hexz::OpenOptions ro = with_password(kPasswordC);
  hexz::read::SnapshotReader r3(hexz::io::open_local_file(output("v3.hxz")), ro);
  hexz::read::SnapshotReader r1(hexz::io::open_local_file(output("v1.hxz")),
                                with_password(kPasswordA));
  EXPECT_EQ(r3.cipher()->dedup_key(), r1.cipher()->dedup_key());
  EXPECT_EQ(r3.base_keys().size(), 2u);
}

TEST_F(EncryptedThinTest, FlattenMakesAStandaloneEncryptedSnapshot) {
  pack_v2(kPasswordB);
  auto o = encrypted("", "", "flat.hxz", kPasswordC);
  hexz::flatten(output("v2.hxz"), o, with_password(kPasswordB));
  auto flat = hexz::Snapshot::open(output("flat.hxz"), with_password(kPasswordC));
  EXPECT_TRUE(flat->info().bases.empty());
  EXPECT_TRUE(flat->info().encrypted);
  EXPECT_EQ(read_stream(*flat, hexz::Stream::kDisk), v2_disk_);
  EXPECT_EQ(read_stream(*flat, hexz::Stream::kMemory), v2_mem_);
  std::filesystem::remove(output("v1.hxz"));  // standalone: its old chain is not needed
  EXPECT_TRUE(flat->verify().ok);
}

TEST_F(EncryptedThinTest, NothingSharedStillRecordsTheBase) {
  // Its digests are keyed with the base's dedup key, so it stays a thin snapshot of it.
  auto o =
      encrypted(input("other.img", make_disk_image(256 << 10, 99)), "", "other.hxz", kPasswordA);
  o.base_path = output("v1.hxz");
  hexz::pack(o);
  auto s = hexz::Snapshot::open(output("other.hxz"), with_password(kPasswordA));
  EXPECT_EQ(s->info().bases.size(), 1u);
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), make_disk_image(256 << 10, 99));
  EXPECT_TRUE(s->verify().ok);
}

TEST_F(EncryptedThinTest, AttachmentsOfAnEncryptedThinSnapshotChangeInPlace) {
  pack_v2(kPasswordB);
  hexz::AttachOptions ao;
  ao.open = with_password(kPasswordB);
  const std::string note = "an attached note";
  hexz::add_attachment(output("v2.hxz"), "note", std::as_bytes(std::span(note.data(), note.size())),
                       ao);
  auto s = hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordB));
  const auto got = s->read_attachment("note");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), note);
  EXPECT_EQ(s->info().version_minor, 2u);
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), v2_disk_);
  EXPECT_TRUE(s->verify().ok);
  hexz::remove_attachment(output("v2.hxz"), "note", ao);
  EXPECT_EQ(read_stream(*hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordB)),
                        hexz::Stream::kMemory),
            v2_mem_);
}

TEST_F(EncryptedThinTest, PasswordsAndMixedChainsAreRefusedClearly) {
  // The base's password differs and was not given.
  auto o = encrypted(input("v2.img", v2_disk_), "", "v2.hxz", kPasswordB);
  o.base_path = output("v1.hxz");
  EXPECT_TRUE(
      ThrowsWith([&] { hexz::pack(o); }, ErrorCode::kWrongPassword, "--base-password-file"));
  o.base_password = "not it";
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(o); }, ErrorCode::kWrongPassword, "wrong password"));
  // An encrypted base needs an encrypted thin snapshot.
  auto plain = options(input("v2.img", v2_disk_), "", output("v2.hxz"));
  plain.base_path = output("v1.hxz");
  EXPECT_TRUE(
      ThrowsWith([&] { hexz::pack(plain); }, ErrorCode::kInvalidArgument, "must be encrypted too"));
  // An unencrypted base cannot take an encrypted thin snapshot.
  hexz::pack(options(input("p.img", v1_disk_), "", output("plain.hxz")));
  auto on_plain = encrypted(input("v2.img", v2_disk_), "", "v2.hxz", kPasswordA);
  on_plain.base_path = output("plain.hxz");
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(on_plain); }, ErrorCode::kInvalidArgument,
                         "needs an encrypted base"));
  // A base password without an encrypted thin pack.
  plain.base_password = kPasswordA;
  EXPECT_TRUE(ThrowsWith([&] { hexz::pack(plain); }, ErrorCode::kInvalidArgument, "base password"));
  EXPECT_FALSE(std::filesystem::exists(output("v2.hxz")));
}

TEST_F(EncryptedThinTest, ABaseReplacedByAnotherEncryptedSnapshotIsRefused) {
  pack_v2(kPasswordA);
  // Same name, same password, other keys: the key the thin file holds fails its key check.
  auto other = encrypted(input("v1.img", v1_disk_), input("v1.mem", v1_mem_), "v1.hxz", kPasswordA);
  other.force = true;
  hexz::pack(other);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordA)); },
                         ErrorCode::kCorrupt, "does not match"));
}

TEST_F(EncryptedThinTest, ABaseReplacedByAnUnencryptedSnapshotIsRefused) {
  pack_v2(kPasswordA);
  auto plain = options(input("v1.img", v1_disk_), input("v1.mem", v1_mem_), output("v1.hxz"));
  plain.force = true;
  hexz::pack(plain);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordA)); },
                         ErrorCode::kUnsupported,
                         "not encrypted and cannot be the base of an encrypted thin snapshot"));
}

TEST_F(EncryptedThinTest, AModifiedBaseBlockFailsReadsAndVerify) {
  pack_v2(kPasswordA);
  Bytes base = read_file(output("v1.hxz"));
  for (size_t at = 600; at < 2 * 1024 * 1024 && at < base.size(); at += 4096) base[at] ^= 0x40;
  write_file(output("v1.hxz"), base);
  auto s = hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordA));
  EXPECT_TRUE(ThrowsWith([&] { read_stream(*s, hexz::Stream::kDisk); }, ErrorCode::kCorrupt,
                         "failed authentication"));
  EXPECT_FALSE(s->verify().ok);
}

TEST_F(EncryptedThinTest, TheBaseKeyTableIsCheckedAndSealed) {
  pack_v2(kPasswordB);
  const Bytes good = read_file(output("v2.hxz"));
  const uint64_t at = u64_at(good, 464);
  const uint64_t length = u64_at(good, 472) & 0xffffffffu;
  ASSERT_EQ(length, hexz::format::base_key_table_size(1) + 16);
  ASSERT_GT(at, 512u);
  // A flipped byte anywhere in it: the checksum (which the header MAC covers) catches it.
  for (uint64_t k = 0; k < length; k += 17) {
    Bytes f = good;
    f[at + k] ^= 1;
    write_file(output("v2.hxz"), f);
    EXPECT_TRUE(
        ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordB)); },
                   ErrorCode::kCorrupt, "base key table"))
        << "byte " << k;
  }
  // Its location is MAC-covered header bytes: moving it breaks the header's authentication.
  Bytes f = good;
  f[464] ^= 8;
  L::fix_header_checksum(f);
  write_file(output("v2.hxz"), f);
  EXPECT_TRUE(ThrowsHexz([&] { hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordB)); },
                         {ErrorCode::kCorrupt}));
  // A 1.1 reader never defined encrypted thin files: one that says 1.1 is refused as such.
  f = good;
  f[10] = 1;
  L::fix_header_checksum(f);
  write_file(output("v2.hxz"), f);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(output("v2.hxz"), with_password(kPasswordB)); },
                         ErrorCode::kUnsupported, "format 1.2"));
  // The table never holds a key in the clear: neither v1's master key nor the dedup key shows.
  hexz::read::SnapshotReader r1(hexz::io::open_local_file(output("v1.hxz")),
                                with_password(kPasswordA));
  const auto& master = r1.cipher()->master_key();
  const auto& dedup = r1.cipher()->dedup_key();
  EXPECT_EQ(std::search(good.begin(), good.end(), master.begin(), master.end()), good.end());
  EXPECT_EQ(std::search(good.begin(), good.end(), dedup.begin(), dedup.end()), good.end());
}

}  // namespace
}  // namespace hexz_test
