// Packing raw disk and memory images into a .hxz snapshot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hexz/types.hpp"

namespace hexz {

/// Limits enforced by pack(); see docs/FORMAT.md.
inline constexpr uint32_t kMinChunkSize = 512;
inline constexpr uint32_t kMaxChunkSize = 1u << 20;
inline constexpr uint32_t kMinBlockSize = 1024;
inline constexpr uint32_t kMaxBlockSize = 16u << 20;
inline constexpr uint32_t kDefaultChunkSize = 4096;
inline constexpr uint32_t kDefaultBlockSize = 64 * 1024;
/// FastCDC defaults (README.md "Choosing chunking" and docs/benchmarks.md give the measurements
/// behind them).
inline constexpr uint32_t kDefaultMinChunk = 2 * 1024;
inline constexpr uint32_t kDefaultAvgChunk = 8 * 1024;
inline constexpr uint32_t kDefaultMaxChunk = 64 * 1024;
inline constexpr uint32_t kMaxCdcChunk = 16u << 20;
/// Argon2id cost of a new encrypted snapshot unless PackOptions says otherwise: t = 3 passes over
/// m = 64 MiB with p = 4 lanes (the same as borg 2 and RFC 9106's second recommended option).
inline constexpr uint32_t kDefaultKdfIterations = 3;
inline constexpr uint32_t kDefaultKdfMemoryKib = 64 * 1024;
inline constexpr uint32_t kDefaultKdfParallelism = 4;
/// Bounds of the Argon2id cost a snapshot may ask for (docs/FORMAT.md, section 12.2).
inline constexpr uint32_t kMinKdfMemoryKib = 8 * 1024;
inline constexpr uint32_t kMaxKdfMemoryKib = 1024 * 1024;
inline constexpr uint32_t kMaxKdfIterations = 64;
inline constexpr uint32_t kMaxKdfParallelism = 64;

/// A named attachment to store in a snapshot (docs/FORMAT.md section 10.6): a small opaque
/// blob, such as a VM's device state. Its content is `bytes`, or the file at `path` when `path`
/// is not empty. Names are 1 to 64 bytes of letters, digits, '.', '_' and '-', starting with a
/// letter or digit; a snapshot holds at most 64 attachments of at most 64 MiB each.
struct AttachmentSource {
  std::string name;
  std::string path;
  std::vector<std::byte> bytes;
};

/// Everything pack() needs. At least one of disk_path / memory_path is set.
struct PackOptions {
  /// Raw disk image; empty = no disk stream; "-" = standard input, read once as a stream (no
  /// dictionary training then; progress reports a total of 0, i.e. unknown).
  std::string disk_path;
  /// Raw memory image; empty = no memory stream; "-" as for disk_path (not both).
  std::string memory_path;
  /// Pack an input holding a disk image container (qcow2, VMDK, VHD, VHDX, VDI, LUKS: known by
  /// its magic) as its bytes. Unset, such an input is refused (kUnsupported, naming the format).
  bool raw = false;
  std::string output_path;  ///< Destination .hxz; written atomically.
  Codec codec = Codec::kZstd;
  /// Compression level; 0 = the codec's default (LZ4: 1 = fast mode; >1 = LZ4-HC level;
  /// Zstd: 1..22).
  int level = 0;
  uint32_t chunk_size = kDefaultChunkSize;  ///< Fixed dedup/index unit, power of two, 512 B..1 MiB.
  /// Content-defined chunking (FastCDC) instead of fixed-size chunks. Requires
  /// 64 <= min_chunk < avg_chunk < max_chunk <= 16 MiB.
  bool cdc = false;
  uint32_t min_chunk = kDefaultMinChunk;
  uint32_t avg_chunk = kDefaultAvgChunk;
  uint32_t max_chunk = kDefaultMaxChunk;
  uint32_t block_size =
      kDefaultBlockSize;  ///< Compression unit target, 1 KiB..16 MiB, >= chunk_size.
  bool force = false;     ///< Replace an existing output file.
  /// Worker threads for hashing and compression; 0 = all hardware threads. The output is
  /// byte-identical for any value.
  unsigned threads = 0;
  /// Train a Zstd dictionary on a stratified sample of the input and compress every block with
  /// it (Zstd only). If no useful dictionary can be trained the pack goes on without one and
  /// PackResult::warnings says so.
  bool train_dictionary = false;
  /// Thin snapshot: chunks whose content is stored in this base snapshot (or in the snapshots
  /// it depends on) are referenced, not stored. Dedup uses the base's index only. For useful
  /// dedup the chunking options must match the base's.
  std::string base_path;
  /// Diff snapshots (Firecracker diff memory files): every hole of an input (SEEK_HOLE /
  /// SEEK_DATA) means "unchanged since the base", not zeros: it takes the base's content of
  /// the same stream at the same offsets (zeros past the end of the base's stream), and those
  /// chunks reference the base's. The stream's size is the input's. Requires base_path, and
  /// the base must hold each stream packed (kInvalidArgument otherwise).
  bool holes_inherit = false;
  /// Extra directories searched for the base's own bases (see OpenOptions::base_dirs).
  std::vector<std::string> base_dirs;
  /// S3 endpoint for an s3:// base_path ("http://127.0.0.1:7480"); empty = AWS_ENDPOINT_URL.
  /// base_path may be a local file, an http(s):// URL or s3://bucket/key.
  std::string endpoint;
  /// Encrypt with AES-256-GCM under keys derived from `password` (Argon2id, random salt).
  /// Dedup still works (keyed BLAKE3 of the plaintext). With base_path the base must be
  /// encrypted too (and an encrypted base needs encrypt): the result is an encrypted thin
  /// snapshot (format 1.2) that holds its bases' keys, so `password` alone reads the chain,
  /// and dedups against the base under the chain's dedup key.
  bool encrypt = false;
  std::string password;  ///< Required (non-empty) when encrypt is set.
  /// The encrypted base's password, if it is not `password` (only with encrypt and base_path).
  /// The base's own bases need none: the base holds their keys.
  std::string base_password;
  /// Argon2id cost of the key derivation (with encrypt; stored in the header): passes t
  /// (1..64), memory m in KiB (8 MiB..1 GiB) and lanes p (1..64, m >= 8 p KiB). Every guess at
  /// the password costs an attacker this much; every open costs a reader this much too, and a
  /// reader refuses costs above its cap (OpenOptions::max_kdf_memory_kib, max_kdf_iterations).
  uint32_t kdf_iterations = kDefaultKdfIterations;
  uint32_t kdf_memory_kib = kDefaultKdfMemoryKib;
  uint32_t kdf_parallelism = kDefaultKdfParallelism;
  /// Named attachments stored in the snapshot's tail (compressed with `codec`, encrypted with
  /// the snapshot). Distinct names; flatten() keeps the snapshot's own unless this is set.
  std::vector<AttachmentSource> attachments;
  /// Bytes the dedup table may take (16 bytes per slot, 21-43 bytes per unique chunk); 0 = a
  /// quarter of the machine's RAM. Once the table is full at this limit, pack goes on with
  /// bounded memory: new unique chunks are no longer recorded, so later copies of them are
  /// stored again, and PackResult says how many were left out.
  uint64_t memory_limit = 0;
};

/// Called with (bytes_done, bytes_total) of logical input; bytes_done only grows and the last
/// call has bytes_done == bytes_total. An exception thrown from it aborts the pack (no output
/// is left behind) and propagates out of pack().
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

/// Counters describing one stream of a finished pack (also stored in the header).
struct StreamStats {
  bool present = false;
  uint64_t logical_size = 0;  ///< Bytes in the stream.
  uint64_t chunks = 0;        ///< Index entries.
  uint64_t zero_chunks = 0;   ///< All-zero chunks (no data stored).
  uint64_t dup_chunks = 0;    ///< Chunks whose content was already stored.
  uint64_t blocks = 0;        ///< Compressed blocks written for this stream.
  uint64_t stored_bytes = 0;  ///< Bytes of those blocks on disk.
  /// Input bytes actually read for this stream: holes (SEEK_HOLE) and ranges an NBD server
  /// reports as zeros are skipped, never read. Not stored in the file.
  uint64_t bytes_read = 0;
};

/// What pack() produced.
struct PackResult {
  StreamStats streams[kStreamCount];
  uint64_t file_size = 0;             ///< Size of the output file.
  uint64_t dictionary_bytes = 0;      ///< Size of the stored dictionary (0 if none).
  std::vector<std::string> warnings;  ///< Non-fatal conditions worth telling the user.
  uint64_t memory_limit = 0;          ///< The dedup table's memory limit in force (bytes).
  uint64_t dedup_table_bytes = 0;     ///< Memory the dedup table took at the end.
  /// Unique chunks of the inputs (and their bytes) the full dedup table did not record: later
  /// copies of them were stored again instead of deduplicated. Zero unless memory_limit was
  /// reached (a warning then says so, and how many chunks of a base it could not take in).
  uint64_t dedup_unrecorded_chunks = 0;
  uint64_t dedup_unrecorded_bytes = 0;
  double seconds = 0;  ///< Wall time of the pack.
};

/// Packs the inputs into options.output_path. Throws hexz::Error on any failure, in which case
/// no output file exists afterwards and a pre-existing destination is untouched.
/// Deterministic: the same inputs and options give a byte-identical file, whatever the thread
/// count (except with encryption, which draws a fresh random salt and snapshot id).
PackResult pack(const PackOptions& options, const ProgressFn& progress = {});

/// Removes the temporary files that killed writers of output `path` left next to it: files named
/// `<name of path>.tmp-<pid>-<6 characters>` whose process no longer exists and that nothing
/// holds locked (pack does this itself before it writes). Returns how many; never throws.
size_t remove_stale_temp_files(const std::string& path);

}  // namespace hexz
