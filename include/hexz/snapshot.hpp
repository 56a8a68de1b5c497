// Reading a .hxz snapshot at any byte offset.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hexz/pack.hpp"
#include "hexz/types.hpp"

namespace hexz {

/// Tuning knobs for Snapshot::open().
struct OpenOptions {
  uint64_t block_cache_bytes = 64ull << 20;  ///< Budget for decoded data blocks.
  uint64_t page_cache_bytes = 32ull << 20;   ///< Budget for decoded index pages.
  /// Threads that decode blocks of multi-block reads and read ahead; 0 = all hardware threads,
  /// 1 = decode on the calling thread only (no readahead).
  unsigned threads = 0;
  /// Bytes read ahead of a sequential reader (0 disables readahead).
  uint64_t readahead_bytes = 8ull << 20;
  /// Directories searched, after the snapshot's own directory, for the base snapshots a thin
  /// snapshot depends on; the HEXZ_BASE_PATH environment variable (':'-separated) is searched last.
  std::vector<std::string> base_dirs;
  /// Password of an encrypted snapshot. A non-empty password also means "this snapshot must be
  /// encrypted" (as require_encryption): an unencrypted one is refused with kWrongPassword, so
  /// that a replaced file cannot pass for the encrypted original. The reader keeps no copy of
  /// it once the keys are derived.
  std::string password;
  /// Refuse (kWrongPassword) a snapshot that is not encrypted, or whose bases are not (a thin
  /// snapshot's bases are checked too); implied by a non-empty password.
  bool require_encryption = false;
  /// Most Argon2id memory (KiB) an encrypted snapshot may ask for before the key derivation runs;
  /// a file asking for more is refused (kUnsupported) without running it. 0 = the size in
  /// HEXZ_KDF_MAX_MEMORY (e.g. 256M, 1G) if set, else kDefaultMaxKdfMemoryKib.
  uint32_t max_kdf_memory_kib = 0;
  /// Most Argon2id passes (t) an encrypted snapshot may ask for, likewise. 0 =
  /// HEXZ_KDF_MAX_ITERATIONS if set, else kDefaultMaxKdfIterations.
  uint32_t max_kdf_iterations = 0;
  /// S3 endpoint for s3:// locations ("http://127.0.0.1:7480"); empty = AWS_ENDPOINT_URL.
  std::string endpoint;
  /// On-disk cache of remote bytes shared by processes; empty = HEXZ_CACHE_DIR (or none).
  std::string cache_dir;
  /// Verified reads: every chunk a read returns is first checked against the BLAKE3 digest
  /// its index records (keyed when encrypted; a base's chunk against the base's digest), and
  /// read() throws kCorrupt naming the chunk if it does not match. Each chunk of a decoded,
  /// cached block is hashed once. For a thin snapshot, open() then also reads the bases'
  /// indexes and checks them against the bases' identities. Unset: on for a signed snapshot
  /// (one with a signature trailer), off otherwise.
  std::optional<bool> verify_reads;
  /// Ed25519 public keys (raw 32 bytes, see read_public_key()). If not empty, open() requires a
  /// valid signature of the snapshot's identity by one of them (else kCorrupt), and checks the
  /// whole index against the identity (each index page is re-checked whenever it is read again).
  std::vector<std::array<unsigned char, 32>> trusted_keys;
  /// Record a boot trace: the order in which reads first need each index page and data block
  /// (Snapshot::recorded_trace()). Costs a set lookup per block read.
  bool record_trace = false;
  /// Replay the snapshot's boot trace (its "hexz.trace" attachment, include/hexz/trace.hpp), if
  /// it has one: background threads fetch the traced pages and blocks in trace order, coalesced
  /// into range requests with several in flight, and decode them into the caches, never more
  /// than half the block cache ahead of the reads. Reads never wait for a prefetch except for a
  /// block already being fetched. A damaged trace is ignored (ReadStats::trace_error says why).
  bool prefetch = true;
  /// Load every index page of the snapshot in the background after open (after the trace's
  /// pages and blocks), several at a time: for a remote snapshot, start-up then costs a
  /// constant number of requests and the index still arrives ahead of most reads.
  bool preload_index = false;
  /// After the trace, fetch the rest of the snapshot's data region into the disk cache
  /// (cache_dir) at most this many bytes per second (0 = do not hydrate). Needs a disk cache.
  uint64_t hydrate_bytes_per_second = 0;
};

/// What a reader did, for users and tests (Snapshot::stats()).
struct ReadStats {
  uint64_t demand_block_misses = 0;  ///< Reads that had to fetch and decode a block themselves.
  uint64_t demand_page_misses = 0;   ///< Reads that had to fetch an index page themselves.
  uint64_t demand_waits = 0;         ///< Reads that waited for a block another thread fetched.
  uint64_t prefetched_pages = 0;     ///< Index pages the prefetcher loaded.
  uint64_t prefetched_blocks = 0;    ///< Blocks the prefetcher decoded into the block cache.
  uint64_t prefetched_bytes = 0;     ///< Stored bytes of those blocks.
  /// Stored bytes of prefetched blocks no read has used (yet, or before they were evicted).
  uint64_t prefetched_unused_bytes = 0;
  uint64_t trace_events = 0;     ///< Events of the trace being replayed (0 if none).
  bool prefetch_done = false;    ///< The prefetcher has finished (or there was nothing to do).
  std::string trace_error;       ///< Why the snapshot's trace was not replayed, if it was not.
  uint64_t remote_requests = 0;  ///< Range requests sent for this snapshot (remote only).
  uint64_t remote_bytes = 0;     ///< Bytes those requests fetched.
};

/// `stats` as one line of JSON (keys as the field names; trace_error only when set), ending in a
/// newline: what the serving commands write to their --stats-file.
std::string read_stats_json(const ReadStats& stats);

/// Default cap on the Argon2id cost a reader spends before it knows whether the password is
/// right: m <= 1 GiB (the format's largest memory cost) and t <= 16 passes. It leaves room for any
/// raised pack cost a user would choose (the default is 3 passes over 64 MiB; LUKS2-like is 4
/// passes over 1 GiB) but refuses a hostile file's 64 passes over 1 GiB (minutes of CPU) unless
/// the caller raises it.
inline constexpr uint32_t kDefaultMaxKdfMemoryKib = 1024 * 1024;
inline constexpr uint32_t kDefaultMaxKdfIterations = 16;

/// A snapshot a thin snapshot depends on.
struct BaseInfo {
  std::string name;                              ///< File name recorded at pack time.
  std::string path;                              ///< Where it was found (empty if not opened).
  std::string identity_hex;                      ///< Identity it must have.
  uint64_t bytes_referenced[kStreamCount] = {};  ///< Logical bytes of each stream stored there.
};

/// One named attachment of a snapshot (docs/FORMAT.md section 10.6).
struct AttachmentInfo {
  std::string name;
  uint64_t size = 0;         ///< Decoded size in bytes.
  uint64_t stored_size = 0;  ///< Bytes it takes in the file.
};

/// Header-level facts about a snapshot (what `hexz info` prints).
struct SnapshotInfo {
  uint16_t version_major = 0;
  uint16_t version_minor = 0;
  uint64_t required_features = 0;
  uint64_t optional_features = 0;
  Codec codec = Codec::kNone;
  int level = 0;
  bool cdc = false;         ///< Content-defined chunking (FastCDC v1).
  uint32_t chunk_size = 0;  ///< Fixed chunk size, or the CDC average.
  uint32_t min_chunk = 0;   ///< CDC only.
  uint32_t max_chunk = 0;   ///< CDC only.
  uint32_t block_size = 0;
  uint64_t file_size = 0;
  uint64_t index_pages = 0;
  uint64_t index_bytes = 0;       ///< Stored bytes of all index pages plus the master index.
  uint64_t dictionary_bytes = 0;  ///< Size of the Zstd dictionary (0 if none).
  bool encrypted = false;         ///< AES-256-GCM; the KDF parameters follow.
  uint32_t kdf_iterations = 0, kdf_memory_kib = 0, kdf_parallelism = 0;
  std::string identity_hex;  ///< 64 hex digits: the snapshot's content identity.
  StreamStats streams[kStreamCount];
  /// Snapshots this one depends on (empty for a standalone snapshot).
  std::vector<BaseInfo> bases;
  /// Chunk-size histogram: chunk_histogram[k] counts chunks with 2^k <= length < 2^(k+1).
  /// Filled by Snapshot::info() (walks the index, reads no data).
  uint64_t chunk_histogram[32] = {};
  /// True if only the header was read (Snapshot::peek): index sizes, the histogram and the
  /// bases are not filled in, and an encrypted file's stream counters are zero (its encrypted
  /// index holds them).
  bool header_only = false;
  /// The snapshot's attachments in table order (with header_only: those of an unencrypted file;
  /// an encrypted file's table is sealed).
  std::vector<AttachmentInfo> attachments;
  /// Public keys (64 hex digits each) of the signatures in the file's signature trailer, in
  /// order. Listed, not checked: OpenOptions::trusted_keys checks them.
  std::vector<std::string> signature_keys_hex;
};

/// One problem Snapshot::verify() found.
struct VerifyProblem {
  /// kCorrupt: bytes were read but are wrong (checksum, tag, digest, structure);
  /// kUnreadable: bytes could not be read at all (I/O error, network, a missing base).
  enum class Kind { kCorrupt, kUnreadable };
  Kind kind = Kind::kCorrupt;
  std::string message;  ///< One line naming the section, block or chunk at fault.
};

/// Outcome of Snapshot::verify().
struct VerifyReport {
  bool ok = true;
  uint64_t blocks_checked = 0;
  uint64_t chunks_checked = 0;
  std::string first_error;  ///< Empty when ok; otherwise names the first bad section/block.
  /// Every problem found, in stream and file order (at most kMaxVerifyProblems are kept; the
  /// count of all of them is problem_count). Empty when ok.
  std::vector<VerifyProblem> problems;
  uint64_t problem_count = 0;
};

/// Most problems a VerifyReport lists one by one.
inline constexpr size_t kMaxVerifyProblems = 1000;

/// Where a byte of a stream is stored (Snapshot::locate): its chunk, and the run of chunks
/// around it that one block decode provides.
struct ChunkPlacement {
  uint64_t chunk_offset = 0;  ///< Logical offset where the byte's chunk starts.
  uint64_t chunk_length = 0;  ///< Logical length of that chunk.
  bool zero = false;          ///< The chunk is all zeros (no data stored, no I/O to read it).
  /// The widest run of consecutive chunks around the byte's chunk (on one index page) that are
  /// all zero chunks (if `zero`) or all stored in the same data block of the same file (else):
  /// reading any of it after the chunk costs no further fetch or decode.
  uint64_t run_offset = 0;
  uint64_t run_length = 0;
};

/// An open snapshot. All const member functions are thread-safe.
class Snapshot {
 public:
  virtual ~Snapshot() = default;

  /// Opens and validates `path`: a local file, an http(s):// URL or s3://bucket/key (magic,
  /// version, feature flags, header and master index checksums, file length). Throws hexz::Error
  /// (kNotFound, kNotASnapshot, kUnsupported, kCorrupt, kTruncated, kIo; kWrongPassword for a
  /// missing or wrong password, or an unencrypted snapshot when encryption is required;
  /// kUnsupported for a key derivation cost above the caps of `options`). Opening an encrypted
  /// snapshot marks the process non-dumpable (no core dumps, no ptrace by other users), since
  /// its memory then holds keys.
  static std::unique_ptr<Snapshot> open(const std::string& path, const OpenOptions& options = {});

  /// What the header of `path` says, without a password and without reading the index: the
  /// settings, file size, identity, encryption and KDF cost, stream sizes, an unencrypted
  /// file's counters and attachments, and the signatures' keys (SnapshotInfo::header_only is
  /// set). Only `endpoint` and `cache_dir` of `options` are used. Throws hexz::Error for a file
  /// whose header, attachment table or signature trailer is not valid.
  static SnapshotInfo peek(const std::string& path, const OpenOptions& options = {});

  /// True if the snapshot holds `stream`.
  virtual bool has_stream(Stream stream) const = 0;
  /// Logical size of `stream` in bytes (0 if absent).
  virtual uint64_t size(Stream stream) const = 0;
  /// Fills `out` with the bytes at [offset, offset + out.size()) of `stream`.
  /// REQUIRES: the range lies within the stream, else throws kOutOfRange.
  /// Throws kCorrupt if a block or index page fails its checksum.
  virtual void read(Stream stream, uint64_t offset, std::span<std::byte> out) const = 0;
  /// Calls `fn(offset, length, is_zero)` for consecutive runs of the stream covering
  /// [offset, offset+length), merging adjacent runs of the same kind. Reads index only.
  virtual void for_each_extent(Stream stream, uint64_t offset, uint64_t length,
                               const std::function<void(uint64_t, uint64_t, bool)>& fn) const = 0;
  /// Where the byte at `offset` of `stream` is stored (reads one index page, no data).
  /// REQUIRES: offset < size(stream), else throws kOutOfRange.
  virtual ChunkPlacement locate(Stream stream, uint64_t offset) const = 0;
  /// Header facts and per-stream statistics.
  virtual SnapshotInfo info() const = 0;
  /// Reads and checks every section, block and chunk digest, applying every rule a read
  /// applies (through the same code) plus the digest, counter and identity checks, and goes on
  /// past a bad page or block to report every problem. Contract: if the report is ok, every
  /// read() of this snapshot succeeds and returns the verified bytes, whatever the caches hold
  /// (as long as the file and its bases do not change). Never throws for corruption or I/O
  /// errors; only an exception of kind kAborted from `progress` propagates. `progress` gets
  /// (bytes_done, bytes_total).
  virtual VerifyReport verify(const ProgressFn& progress = {}) const = 0;
  /// The snapshot's named attachments (names and sizes), in table order. Reads nothing.
  virtual std::vector<AttachmentInfo> attachments() const = 0;
  /// The content of attachment `name`, checked against its checksum, its seal when encrypted
  /// and its digest (which the identity covers). Throws kNotFound (no such attachment, the
  /// message lists the names), kCorrupt naming the attachment, kIo.
  virtual std::vector<std::byte> read_attachment(const std::string& name) const = 0;
  /// Counters of what reads and the prefetcher did so far (remote counters cover this file
  /// and its bases).
  virtual ReadStats stats() const = 0;
  /// The trace recorded so far, encoded (include/hexz/trace.hpp; store it with add_trace()).
  /// Throws kInvalidArgument unless the snapshot was opened with OpenOptions::record_trace.
  virtual std::vector<std::byte> recorded_trace() const = 0;
  /// Blocks until the prefetcher (trace replay, index preload) has finished; returns at once if
  /// there is none. For tests and tools that measure a replay.
  virtual void wait_for_prefetch() const = 0;
};

}  // namespace hexz
