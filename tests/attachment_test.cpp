// Named attachments (FORMAT.md section 10.6): round trips with both codecs and encryption,
// damage and tampering refused, the identity covering them, and in-place add / replace / remove
// that leaves every byte of the data region as it was.
#include <gtest/gtest.h>
#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "format/attachments.hpp"
#include "format/records.hpp"
#include "hexz/attachments.hpp"
#include "hexz/flatten.hpp"
#include "hexz/hexz.hpp"
#include "hexz/signing.hpp"
#include "read/snapshot_reader.hpp"
#include "support/fixture.hpp"
#include "support/layout.hpp"

namespace hexz_test {
namespace {

using hexz::ErrorCode;
namespace fs = std::filesystem;

constexpr const char* kPassword = "attachment test password";

std::vector<std::byte> as_std(const Bytes& b) {
  const auto* p = reinterpret_cast<const std::byte*>(b.data());
  return {p, p + b.size()};
}

Bytes as_bytes(const std::vector<std::byte>& b) {
  const auto* p = reinterpret_cast<const uint8_t*>(b.data());
  return {p, p + b.size()};
}

hexz::AttachmentSource bytes_attachment(const std::string& name, const Bytes& content) {
  return {name, "", as_std(content)};
}

class AttachmentTest : public HexzTest {
 protected:
  void SetUp() override {
    disk_ = make_disk_image(3 << 20, 5);
    vmstate_ = text_bytes(300000, 6);
    config_ = Bytes{'{', '"', 'v', 'c', 'p', 'u', 's', '"', ':', '2', '}'};
  }
  /// Packs disk_ into out/NAME with `attachments` (one thread, so files are comparable).
  hexz::PackOptions pack_options(const std::string& name,
                                 std::vector<hexz::AttachmentSource> attachments,
                                 hexz::Codec codec = hexz::Codec::kZstd, bool encrypt = false) {
    auto o = options(input("disk.img", disk_), "", output(name));
    o.codec = codec;
    o.threads = 1;
    o.force = true;
    o.attachments = std::move(attachments);
    if (encrypt) {
      o.encrypt = true;
      o.password = kPassword;
      o.kdf_iterations = 1;
      o.kdf_memory_kib = hexz::kMinKdfMemoryKib;
      o.kdf_parallelism = 1;
    }
    return o;
  }
  std::string pack(const std::string& name, std::vector<hexz::AttachmentSource> attachments,
                   hexz::Codec codec = hexz::Codec::kZstd, bool encrypt = false) {
    hexz::pack(pack_options(name, std::move(attachments), codec, encrypt));
    return output(name);
  }
  static hexz::OpenOptions with_password() {
    hexz::OpenOptions o;
    o.password = kPassword;
    return o;
  }
  /// The header of the file at `path`.
  static hexz::format::Header header_of(const std::string& path) {
    const Bytes f = read_file(path);
    return hexz::format::decode_header(std::span<const unsigned char, hexz::format::kHeaderSize>(
                                           f.data(), hexz::format::kHeaderSize),
                                       path);
  }
  /// The file offset of attachment `index`'s stored bytes.
  static uint64_t stored_offset(const std::string& path, size_t index,
                                const hexz::OpenOptions& o = {}) {
    hexz::read::SnapshotReader r(hexz::io::open_local_file(path), o, false);
    return r.header().attach_offset + r.attachment_table().records.at(index).offset;
  }
  Bytes disk_, vmstate_, config_;
};

TEST_F(AttachmentTest, SeveralAttachmentsRoundTripWithBothCodecs) {
  const std::string from_file = input("vm.json", config_);
  for (const auto codec : {hexz::Codec::kLz4, hexz::Codec::kZstd}) {
    SCOPED_TRACE(static_cast<int>(codec));
    const std::string snap = pack("a.hxz",
                                  {bytes_attachment("vmstate", vmstate_),
                                   {"config", from_file, {}},
                                   bytes_attachment("empty", {}),
                                   bytes_attachment("noise", random_bytes(5000, 9))},
                                  codec);
    const auto s = hexz::Snapshot::open(snap);
    const auto list = s->attachments();
    ASSERT_EQ(list.size(), 4u);
    EXPECT_EQ(list[0].name, "vmstate");
    EXPECT_EQ(list[0].size, vmstate_.size());
    EXPECT_LT(list[0].stored_size, vmstate_.size());  // compressed with the snapshot's codec
    EXPECT_EQ(list[1].name, "config");
    EXPECT_EQ(list[2].name, "empty");
    EXPECT_EQ(list[2].size, 0u);
    EXPECT_EQ(list[3].size, 5000u);
    EXPECT_EQ(as_bytes(s->read_attachment("vmstate")), vmstate_);
    EXPECT_EQ(as_bytes(s->read_attachment("config")), config_);
    EXPECT_TRUE(s->read_attachment("empty").empty());
    EXPECT_EQ(as_bytes(s->read_attachment("noise")), random_bytes(5000, 9));
    EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk_);
    EXPECT_TRUE(s->verify().ok);
    const auto info = s->info();
    ASSERT_EQ(info.attachments.size(), 4u);
    EXPECT_EQ(info.version_minor, 1);
    EXPECT_EQ(info.required_features & hexz::format::kFeatureAttachments,
              hexz::format::kFeatureAttachments);
    EXPECT_TRUE(ThrowsWith([&] { s->read_attachment("nope"); }, ErrorCode::kNotFound,
                           "has no attachment 'nope' (it has: vmstate, config, empty, noise)"));
  }
}

TEST_F(AttachmentTest, WithoutAttachmentsTheFileIsFormat10AsBefore) {
  const std::string snap = pack("plain.hxz", {});
  const auto h = header_of(snap);
  EXPECT_EQ(h.version_minor, 0);
  EXPECT_EQ(h.required_features & hexz::format::kFeatureAttachments, 0u);
  EXPECT_TRUE(hexz::Snapshot::open(snap)->attachments().empty());
}

TEST_F(AttachmentTest, EncryptedAttachmentsRoundTripAndAreUnreadableWithoutThePassword) {
  const std::string snap =
      pack("e.hxz", {bytes_attachment("vmstate", vmstate_), bytes_attachment("config", config_)},
           hexz::Codec::kLz4, true);
  const auto s = hexz::Snapshot::open(snap, with_password());
  EXPECT_EQ(as_bytes(s->read_attachment("vmstate")), vmstate_);
  EXPECT_EQ(as_bytes(s->read_attachment("config")), config_);
  EXPECT_TRUE(s->verify().ok);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap); }, ErrorCode::kWrongPassword,
                         "a password is needed"));
  hexz::OpenOptions wrong;
  wrong.password = "not it";
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap, wrong); }, ErrorCode::kWrongPassword,
                         "wrong password"));
  // Neither the content nor the names are in the file in clear.
  const Bytes file = read_file(snap);
  const auto contains = [&](const Bytes& needle) {
    return std::search(file.begin(), file.end(), needle.begin(), needle.end()) != file.end();
  };
  EXPECT_FALSE(contains(config_));
  EXPECT_FALSE(contains(Bytes(vmstate_.begin(), vmstate_.begin() + 64)));
  EXPECT_FALSE(contains(Bytes{'v', 'm', 's', 't', 'a', 't', 'e'}));
}

TEST_F(AttachmentTest, AFlippedByteInAnAttachmentIsRefusedAndTheStreamsStillRead) {
  for (const bool encrypt : {false, true}) {
    SCOPED_TRACE(encrypt);
    const std::string snap =
        pack("f.hxz", {bytes_attachment("config", config_), bytes_attachment("vmstate", vmstate_)},
             hexz::Codec::kZstd, encrypt);
    const hexz::OpenOptions o = encrypt ? with_password() : hexz::OpenOptions{};
    Bytes file = read_file(snap);
    file[stored_offset(snap, 1, o) + 10] ^= 0x40;
    write_file(snap, file);
    const auto s = hexz::Snapshot::open(snap, o);  // the table is intact: open succeeds
    EXPECT_TRUE(ThrowsWith([&] { s->read_attachment("vmstate"); }, ErrorCode::kCorrupt,
                           "attachment 'vmstate' of '" + snap + "' is corrupt (checksum"));
    EXPECT_EQ(as_bytes(s->read_attachment("config")), config_);
    EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk_);
    const auto report = s->verify();
    EXPECT_FALSE(report.ok);
    EXPECT_NE(report.first_error.find("attachment 'vmstate'"), std::string::npos)
        << report.first_error;
  }
}

TEST_F(AttachmentTest, ADamagedOrSwappedAttachmentTableIsRefusedOnOpen) {
  const std::string snap = pack("t.hxz", {bytes_attachment("config", config_)});
  const auto h = header_of(snap);
  Bytes file = read_file(snap);
  Bytes damaged = file;
  damaged[h.attach_offset + hexz::format::kAttachmentRecordFixed] ^= 1;  // the name
  write_file(snap, damaged);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap); }, ErrorCode::kCorrupt,
                         "attachment table checksum mismatch"));
  // A consistent checksum does not help: the identity covers the table.
  hexz::read::AttachmentTable t;
  {
    write_file(snap, file);
    hexz::read::SnapshotReader r(hexz::io::open_local_file(snap), {}, false);
    t = r.attachment_table();
  }
  t.records[0].digest[0] ^= 1;  // claims other content
  const auto table = hexz::format::encode_attachment_table(t.records);
  std::copy(table.begin(), table.end(), file.begin() + static_cast<long>(h.attach_offset));
  layout::put_u64(file, 448, XXH3_64bits(table.data(), table.size()));
  layout::fix_header_checksum(file);
  write_file(snap, file);
  EXPECT_TRUE(ThrowsWith([&] { hexz::Snapshot::open(snap); }, ErrorCode::kCorrupt,
                         "identity does not match"));
}

TEST_F(AttachmentTest, TheIdentityChangesWithAnAttachment) {
  const auto id = [&](std::vector<hexz::AttachmentSource> a) {
    return hexz::Snapshot::open(pack("i.hxz", std::move(a)))->info().identity_hex;
  };
  const std::string none = id({});
  const std::string one = id({bytes_attachment("config", config_)});
  Bytes other = config_;
  other[3] ^= 1;
  const std::string changed = id({bytes_attachment("config", other)});
  const std::string renamed = id({bytes_attachment("config2", config_)});
  EXPECT_NE(none, one);
  EXPECT_NE(one, changed);
  EXPECT_NE(one, renamed);
  EXPECT_EQ(one, id({bytes_attachment("config", config_)}));  // deterministic
}

TEST_F(AttachmentTest, AddReplaceRemoveInPlaceKeepsTheDataRegionByteIdentical) {
  const std::string snap = pack("u.hxz", {});
  const Bytes original = read_file(snap);
  const auto h0 = header_of(snap);
  const auto data_region = [&](const Bytes& f) {
    return Bytes(f.begin() + 512, f.begin() + static_cast<long>(h0.tail_offset + h0.tail_length));
  };
  const std::string id0 = hexz::Snapshot::open(snap)->info().identity_hex;

  auto r = hexz::add_attachment(snap, "vmstate", as_std(vmstate_));
  EXPECT_EQ(r.attachments, 1u);
  EXPECT_NE(r.identity_hex, id0);
  Bytes now = read_file(snap);
  EXPECT_EQ(data_region(now), data_region(original));
  {
    const auto s = hexz::Snapshot::open(snap);
    EXPECT_EQ(s->info().identity_hex, r.identity_hex);
    EXPECT_EQ(as_bytes(s->read_attachment("vmstate")), vmstate_);
    EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk_);
    EXPECT_TRUE(s->verify().ok);
  }
  // The same file as packing with the attachment in the first place.
  EXPECT_EQ(now, read_file(pack("same.hxz", {bytes_attachment("vmstate", vmstate_)})));

  hexz::AttachmentSource cfg{"config", input("cfg.json", config_), {}};
  r = hexz::update_attachments(snap, {cfg, bytes_attachment("vmstate", config_)}, {});
  EXPECT_EQ(r.attachments, 2u);
  {
    const auto s = hexz::Snapshot::open(snap);
    const auto list = s->attachments();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0].name, "vmstate");  // replaced in its place
    EXPECT_EQ(as_bytes(s->read_attachment("vmstate")), config_);
    EXPECT_EQ(as_bytes(s->read_attachment("config")), config_);
    EXPECT_TRUE(s->verify().ok);
  }
  EXPECT_EQ(data_region(read_file(snap)), data_region(original));

  // A region larger than the space it frees stays past the old one; the file still verifies.
  r = hexz::add_attachment(snap, "big", as_std(random_bytes(200000, 3)));
  EXPECT_TRUE(hexz::Snapshot::open(snap)->verify().ok);
  r = hexz::update_attachments(snap, {}, {"config", "big"});
  EXPECT_EQ(r.attachments, 1u);
  EXPECT_TRUE(ThrowsWith([&] { hexz::remove_attachment(snap, "config"); }, ErrorCode::kNotFound,
                         "has no attachment 'config' to remove"));
  r = hexz::remove_attachment(snap, "vmstate");
  EXPECT_EQ(r.attachments, 0u);
  EXPECT_EQ(r.identity_hex, id0);
  EXPECT_EQ(read_file(snap), original);  // back to the 1.0 file, byte for byte
}

TEST_F(AttachmentTest, EncryptedSnapshotsNeedThePasswordToChangeAttachments) {
  const std::string snap =
      pack("ue.hxz", {bytes_attachment("config", config_)}, hexz::Codec::kLz4, true);
  const Bytes before = read_file(snap);
  EXPECT_TRUE(ThrowsWith([&] { hexz::add_attachment(snap, "vmstate", as_std(vmstate_)); },
                         ErrorCode::kWrongPassword, "a password is needed"));
  EXPECT_EQ(read_file(snap), before);
  hexz::AttachOptions o;
  o.open.password = kPassword;
  hexz::add_attachment(snap, "vmstate", as_std(vmstate_), o);
  const auto s = hexz::Snapshot::open(snap, with_password());
  EXPECT_EQ(as_bytes(s->read_attachment("vmstate")), vmstate_);
  EXPECT_EQ(as_bytes(s->read_attachment("config")), config_);
  EXPECT_EQ(read_stream(*s, hexz::Stream::kDisk), disk_);
  EXPECT_TRUE(s->verify().ok);
}

TEST_F(AttachmentTest, ASignedSnapshotIsRefusedUnlessItsSignaturesAreDropped) {
  const std::string snap = pack("s.hxz", {bytes_attachment("config", config_)});
  const std::string key = output("key");
  hexz::generate_signing_key(key);
  hexz::sign_snapshot(snap, key);
  const Bytes signed_file = read_file(snap);
  EXPECT_TRUE(ThrowsWith([&] { hexz::add_attachment(snap, "vmstate", as_std(vmstate_)); },
                         ErrorCode::kInvalidArgument, "is signed"));
  EXPECT_EQ(read_file(snap), signed_file);
  hexz::AttachOptions o;
  o.drop_signatures = true;
  const auto r = hexz::add_attachment(snap, "vmstate", as_std(vmstate_), o);
  EXPECT_EQ(r.signatures_dropped, 1u);
  hexz::read::SnapshotReader reader(hexz::io::open_local_file(snap), {}, false);
  EXPECT_TRUE(reader.signatures().empty());
  EXPECT_EQ(as_bytes(reader.read_attachment("vmstate")), vmstate_);
  hexz::OpenOptions trusting;
  trusting.trusted_keys.push_back(hexz::read_public_key(key + ".pub"));
  EXPECT_TRUE(ThrowsHexz([&] { hexz::Snapshot::open(snap, trusting); }, {ErrorCode::kCorrupt}));
  hexz::sign_snapshot(snap, key);  // signing again covers the new identity
  EXPECT_EQ(as_bytes(hexz::Snapshot::open(snap, trusting)->read_attachment("config")), config_);
}

TEST_F(AttachmentTest, BadNamesDuplicatesAndOversizedAttachmentsAreRefused) {
  const auto refused = [&](std::vector<hexz::AttachmentSource> a, const std::string& phrase) {
    const bool ok = ThrowsWith([&] { pack("bad.hxz", a); }, ErrorCode::kInvalidArgument, phrase);
    EXPECT_FALSE(fs::exists(output("bad.hxz")));
    return ok;
  };
  EXPECT_TRUE(refused({bytes_attachment("", config_)}, "cannot be empty"));
  EXPECT_TRUE(refused({bytes_attachment(".hidden", config_)}, "is not valid"));
  EXPECT_TRUE(refused({bytes_attachment("a/b", config_)}, "is not valid"));
  EXPECT_TRUE(refused({bytes_attachment("sp ace", config_)}, "is not valid"));
  EXPECT_TRUE(refused({bytes_attachment(std::string(65, 'x'), config_)}, "longer than 64"));
  EXPECT_TRUE(refused({bytes_attachment("a", config_), bytes_attachment("a", vmstate_)},
                      "attachment 'a' is given twice"));
  std::vector<hexz::AttachmentSource> many;
  for (int i = 0; i < 65; ++i) many.push_back(bytes_attachment("n" + std::to_string(i), {}));
  EXPECT_TRUE(refused(many, "at most 64"));
  EXPECT_TRUE(refused({bytes_attachment("huge", Bytes((64u << 20) + 1))}, "at most 64 MiB"));
  EXPECT_TRUE(ThrowsWith(
      [&] {
        pack("bad.hxz", {{"x", input("missing", {}) + ".no", {}}});
      },
      ErrorCode::kNotFound, "no such file"));
  // The same checks guard an in-place change, which then leaves the file alone.
  const std::string snap = pack("ok.hxz", {bytes_attachment("a", config_)});
  const Bytes before = read_file(snap);
  EXPECT_TRUE(ThrowsWith([&] { hexz::add_attachment(snap, "-x", as_std(config_)); },
                         ErrorCode::kInvalidArgument, "is not valid"));
  EXPECT_TRUE(
      ThrowsWith([&] { hexz::update_attachments(snap, {bytes_attachment("a", {})}, {"a"}); },
                 ErrorCode::kInvalidArgument, "both set and removed"));
  EXPECT_EQ(read_file(snap), before);
}

TEST_F(AttachmentTest, FlattenKeepsTheAttachments) {
  const std::string base = pack("b.hxz", {});
  auto o = pack_options("thin.hxz", {bytes_attachment("config", config_)});
  o.base_path = base;
  hexz::pack(o);
  auto f = hexz::options_like(hexz::Snapshot::open(output("thin.hxz"))->info());
  f.output_path = output("flat.hxz");
  hexz::flatten(output("thin.hxz"), f);
  EXPECT_EQ(as_bytes(hexz::Snapshot::open(output("flat.hxz"))->read_attachment("config")), config_);
}

}  // namespace
}  // namespace hexz_test
