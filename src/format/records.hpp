// On-disk records of the .hxz format, version 1. This file is the only code that knows byte
// layouts; docs/FORMAT.md is the normative description. All integers are little-endian.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "crypto/snapshot_cipher.hpp"
#include "hash/digest.hpp"
#include "hexz/types.hpp"

namespace hexz::format {

/// File magic: 0x89 'H' 'X' 'Z' '\r' '\n' 0x1A '\n' (binary-safe, detects text-mode damage).
inline constexpr std::array<unsigned char, 8> kMagic = {0x89, 'H',  'X',  'Z',
                                                        '\r', '\n', 0x1A, '\n'};
inline constexpr uint16_t kVersionMajor = 1;
inline constexpr uint16_t kVersionMinor = 0;
inline constexpr size_t kHeaderSize = 512;
/// Offset of the header checksum (XXH3-64 over bytes [0, kHeaderChecksumOffset)).
inline constexpr size_t kHeaderChecksumOffset = 504;
inline constexpr size_t kStreamRecordSize = 64;
inline constexpr size_t kStreamTableOffset = 192;
inline constexpr size_t kMasterEntrySize = 40;
/// Bytes every entry takes in a raw index page, digest not included (FORMAT.md section 9.1).
inline constexpr size_t kEntryFixedBytes = 35;
/// Bytes of a stored chunk digest; only data entries of source 0 store one.
inline constexpr size_t kEntryDigestBytes = 16;
/// Maximum entries in one index page.
inline constexpr uint32_t kMaxPageEntries = 4096;

/// Required feature bits: a reader must refuse a file with a required bit it does not know.
enum RequiredFeature : uint64_t {
  kFeatureCdc = 1ull << 0,          ///< Content-defined chunking (FastCDC v1).
  kFeatureDictionary = 1ull << 1,   ///< Zstd blocks use the trained dictionary in the tail.
  kFeatureEncrypted = 1ull << 2,    ///< Blocks, index, dictionary encrypted; header authenticated.
  kFeatureBases = 1ull << 3,        ///< Entries may reference base snapshots (thin snapshot).
  kFeatureAttachments = 1ull << 4,  ///< The tail holds named attachments (format 1.1).
};
/// Required features this reader implements.
inline constexpr uint64_t kKnownRequiredFeatures =
    kFeatureCdc | kFeatureDictionary | kFeatureEncrypted | kFeatureBases | kFeatureAttachments;
/// The minor version a file with kFeatureAttachments is written as (1.0 without it).
inline constexpr uint16_t kVersionMinorAttachments = 1;
/// The minor version an encrypted thin snapshot (kFeatureEncrypted and kFeatureBases) is
/// written as: 1.2 defines the base key table that makes the two combinable.
inline constexpr uint16_t kVersionMinorEncryptedThin = 2;
/// The minor version a file with these required features is written as (FORMAT.md 17.1).
uint16_t minor_version_for(uint64_t required_features);
/// Plain bytes of an encrypted thin snapshot's base key table (FORMAT.md section 10.8): the
/// chain's dedup key, then one master key per base record.
inline constexpr size_t base_key_table_size(uint32_t base_count) {
  return 32 * (static_cast<size_t>(base_count) + 1);
}
/// Encryption fields in the header: KDF parameters and salt [320, 352), snapshot id, key check
/// tag, and the header MAC at kHeaderMacOffset over bytes [0, kHeaderMacOffset).
inline constexpr size_t kKdfFieldsOffset = 320;
inline constexpr size_t kKdfFieldsSize = 32;
inline constexpr size_t kHeaderMacOffset = 384;
/// Offset of the 32-byte index digest (FORMAT.md section 14), inside the header MAC's range.
inline constexpr size_t kIndexDigestOffset = 400;

/// Chunking modes (header byte 40).
enum class Chunking : uint8_t { kFixed = 0, kFastCdcV1 = 1 };
/// Most base snapshots one snapshot can reference (source ids 1..255).
inline constexpr size_t kMaxBases = 255;

/// Per-stream record in the header's stream table.
struct StreamRecord {
  uint64_t logical_size = 0;
  uint64_t chunks = 0;
  uint64_t zero_chunks = 0;
  uint64_t dup_chunks = 0;
  uint64_t blocks = 0;
  uint64_t stored_bytes = 0;
  uint32_t first_page = 0;  ///< Index of the stream's first master entry.
  uint32_t page_count = 0;  ///< Number of consecutive master entries for this stream.
  uint8_t present = 0;      ///< 1 if the snapshot holds this stream.
};

/// The fixed 512-byte header at offset 0.
struct Header {
  uint16_t version_major = kVersionMajor;
  uint16_t version_minor = kVersionMinor;
  uint64_t required_features = 0;
  uint64_t optional_features = 0;
  uint64_t file_size = 0;
  Chunking chunking = Chunking::kFixed;
  Codec codec = Codec::kLz4;
  int8_t level = 0;
  Codec index_codec = Codec::kZstd;
  uint32_t chunk_size = 0;
  uint32_t min_chunk = 0;
  uint32_t max_chunk = 0;
  uint32_t block_size = 0;
  std::array<unsigned char, 32> identity{};  ///< BLAKE3-256 content identity (FORMAT.md §identity).
  /// BLAKE3-256 of the decoded index pages and stream sizes; the identity covers it.
  std::array<unsigned char, 32> index_digest{};
  uint64_t tail_offset = 0;  ///< Start of the metadata tail (ends at file_size).
  uint64_t tail_length = 0;
  uint64_t master_offset = 0;  ///< Master index location.
  uint64_t master_length = 0;
  uint64_t master_checksum = 0;  ///< XXH3-64 of the master index bytes.
  uint32_t page_count = 0;       ///< Master index entries.
  uint64_t dict_offset = 0;      ///< Zstd dictionary location (kFeatureDictionary), in the tail.
  uint32_t dict_length = 0;
  uint64_t dict_checksum = 0;  ///< XXH3-64 of the dictionary bytes.
  uint64_t bases_offset = 0;   ///< Base table location (kFeatureBases), in the tail.
  uint32_t bases_length = 0;
  uint32_t base_count = 0;
  uint64_t bases_checksum = 0;  ///< XXH3-64 of the base table bytes.
  /// Attachment table (kFeatureAttachments): where the stored table starts (its attachments
  /// follow it, at offsets relative to it), its stored length, record count, XXH3-64 of the
  /// stored table, and (encrypted) the table seal's random nonce counter.
  uint64_t attach_offset = 0;
  uint32_t attach_length = 0;
  uint32_t attach_count = 0;
  uint64_t attach_checksum = 0;
  uint64_t attach_nonce = 0;
  /// Base key table (kFeatureEncrypted with kFeatureBases, format 1.2): location in the tail,
  /// stored (sealed) length, XXH3-64 of the stored bytes.
  uint64_t base_keys_offset = 0;
  uint32_t base_keys_length = 0;
  uint64_t base_keys_checksum = 0;
  /// True for an encrypted thin snapshot, which has a base key table.
  bool has_base_keys() const {
    return (required_features & kFeatureEncrypted) != 0 && (required_features & kFeatureBases) != 0;
  }
  crypto::EncryptionHeader encryption;  ///< Meaningful only with kFeatureEncrypted.
  bool encrypted() const { return (required_features & kFeatureEncrypted) != 0; }
  StreamRecord streams[kStreamCount];
};

/// Serialises `h` into exactly kHeaderSize bytes, including its checksum.
void encode_header(const Header& h, std::span<unsigned char, kHeaderSize> out);
/// The bytes the header MAC authenticates: [0, kHeaderMacOffset) followed by
/// [kHeaderMacOffset + 16, kHeaderChecksumOffset), i.e. everything but the MAC and the checksum.
std::vector<unsigned char> header_mac_input(std::span<const unsigned char, kHeaderSize> bytes);

/// Recomputes the checksum of an encoded header (after patching, e.g., the MAC field).
void reseal_header_checksum(std::span<unsigned char, kHeaderSize> bytes);

/// Parses and validates a header: magic (kNotASnapshot), version (kUnsupported), checksum
/// (kCorrupt), required features (kUnsupported), internal consistency (kCorrupt).
/// `name` is used in messages.
Header decode_header(std::span<const unsigned char, kHeaderSize> in, const std::string& name);

/// A snapshot this one depends on (entry source id = position in the table + 1).
struct BaseRecord {
  std::array<unsigned char, 32> identity{};  ///< The base header's identity.
  uint64_t file_size = 0;                    ///< The base's size in bytes.
  std::string name;                          ///< The base's file name (no directory), 1..255 bytes.
  bool operator==(const BaseRecord&) const = default;
};

/// Serialises the base table (records back to back).
std::vector<unsigned char> encode_bases(const std::vector<BaseRecord>& bases);
/// Parses `count` records filling exactly `in`; throws kCorrupt otherwise.
std::vector<BaseRecord> decode_bases(std::span<const unsigned char> in, uint32_t count);

/// Feeds the index digest's trailer (per stream: u8 present, u64 logical size) into `hasher`,
/// after every decoded index page. The finished digest is Header::index_digest (FORMAT.md,
/// "Identity").
void absorb_identity_trailer(hash::Blake3& hasher, const StreamRecord (&streams)[kStreamCount]);

/// The snapshot identity (FORMAT.md section 14): BLAKE3-256 of the index digest, the BLAKE3-256
/// of the (decrypted) dictionary and the BLAKE3-256 of the base table bytes, each of the last
/// two replaced by 32 zero bytes when the file has no such section (`has_*` false), and, only
/// when `attachment_table` is given (feature bit 4), the BLAKE3-256 of the decrypted table.
std::array<unsigned char, 32> compose_identity(
    const std::array<unsigned char, 32>& index_digest, bool has_dictionary,
    std::span<const std::byte> dictionary, bool has_bases,
    std::span<const unsigned char> base_table,
    const std::vector<unsigned char>* attachment_table = nullptr);

/// One master index entry: where an index page is and what it covers.
struct MasterEntry {
  uint64_t offset = 0;         ///< File offset of the stored page.
  uint32_t stored_length = 0;  ///< Stored (possibly compressed) length.
  uint32_t raw_length = 0;     ///< Decoded length: 35 per entry + 16 per stored digest.
  uint64_t first_logical = 0;  ///< Stream offset of the page's first chunk.
  uint32_t entry_count = 0;
  Stream stream = Stream::kDisk;
  Codec codec = Codec::kNone;  ///< How the page is stored.
  uint64_t checksum = 0;       ///< XXH3-64 of the stored page bytes.
};

void encode_master_entry(const MasterEntry& e, unsigned char* out);
/// Associated data binding an encrypted index page to its master entry: u8 stream,
/// u64 first_logical, u32 entry_count, u32 raw_length.
std::array<unsigned char, 17> page_aead_context(const MasterEntry& e);
/// Decodes one entry; throws kCorrupt on an invalid stream or codec id.
MasterEntry decode_master_entry(const unsigned char* in);

/// Chunk kinds.
enum class ChunkKind : uint8_t { kZero = 0, kData = 1 };

/// Where a stored block lives and how to decode it.
struct BlockRef {
  uint64_t offset = 0;    ///< File offset of the stored block.
  uint64_t checksum = 0;  ///< XXH3-64 of the stored bytes.
  uint32_t stored_length = 0;
  uint32_t raw_length = 0;
  Codec codec = Codec::kNone;  ///< kNone = stored raw.
  bool operator==(const BlockRef&) const = default;
};

/// One index entry: a chunk of a stream.
struct IndexEntry {
  BlockRef block;                ///< Unused (zero) for zero chunks.
  uint32_t offset_in_block = 0;  ///< Where the chunk's bytes start in the decoded block.
  uint32_t length = 0;           ///< Logical length of the chunk.
  ChunkKind kind = ChunkKind::kZero;
  uint8_t source = 0;  ///< 0 = this file; k = base table record k-1.
  /// Truncated BLAKE3 of the chunk's bytes. Stored only for data chunks of this file (source
  /// 0); zero for zero chunks and for chunks of a base (whose own index records it).
  hash::ChunkDigest digest;
  /// True if the page stores this entry's digest: a data chunk held by this file.
  bool has_digest() const { return kind == ChunkKind::kData && source == 0; }
};

/// Raw (decoded) size of an index page of `entries` entries, `digests` of which store a digest.
inline constexpr size_t index_page_raw_size(size_t entries, size_t digests) {
  return entries * kEntryFixedBytes + digests * kEntryDigestBytes;
}

/// Serialises entries into the raw, column-by-column page form of FORMAT.md section 9.1. The
/// digests of entries without has_digest() are not written.
std::vector<unsigned char> encode_index_page(std::span<const IndexEntry> entries);
/// Parses a raw page of `count` entries that must fill `raw` exactly; throws kCorrupt on an
/// invalid kind/codec, a source above `base_count`, inconsistent lengths or a size mismatch.
/// `stored_overhead` is what encryption adds to a stored block (its tag).
std::vector<IndexEntry> decode_index_page(std::span<const unsigned char> raw, uint32_t count,
                                          uint32_t base_count, uint32_t stored_overhead = 0);

}  // namespace hexz::format
