// hexz::pack(): reads each input in segments, splits them into chunks, dedups, groups new
// chunks into blocks, compresses and writes them, and builds the index. Stages are separate
// functions over plain data (Segment -> chunks -> BlockBuilder -> writer) so that they can be
// spread over threads; dedup decisions are made in stream order, which keeps output
// deterministic.
#include <sys/stat.h>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "chunk/zero.hpp"
#include "codec/codec.hpp"
#include "format/records.hpp"
#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "hexz/pack.hpp"
#include "io/input_file.hpp"
#include "io/output_file.hpp"
#include "pack/dedup_table.hpp"
#include "pack/index_writer.hpp"

namespace hexz {

namespace {

/// Input is read in segments of this many bytes (a multiple of every valid chunk size).
constexpr uint64_t kSegmentSize = 4u << 20;

void validate(const PackOptions& o) {
  const auto bad = [](const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); };
  if (o.disk_path.empty() && o.memory_path.empty()) {
    bad("no input given: pass a disk image, a memory image, or both");
  }
  if (o.output_path.empty()) bad("no output path given");
  if (o.chunk_size < kMinChunkSize || o.chunk_size > kMaxChunkSize ||
      (o.chunk_size & (o.chunk_size - 1)) != 0) {
    bad("chunk size " + std::to_string(o.chunk_size) +
        " is invalid: it must be a power of two from 512 bytes to 1 MiB");
  }
  if (o.block_size < kMinBlockSize || o.block_size > kMaxBlockSize) {
    bad("block size " + std::to_string(o.block_size) + " is out of range: it must be 1 KiB to 16 MiB");
  }
  if (o.block_size < o.chunk_size) {
    bad("block size (" + std::to_string(o.block_size) + ") must not be smaller than the chunk size (" +
        std::to_string(o.chunk_size) + ")");
  }
  if (o.level < -128 || o.level > 127) bad("compression level " + std::to_string(o.level) + " is out of range");
}

/// True if `path` names the same file as `input` (so packing would overwrite an input).
bool same_file(const std::string& path, const io::InputFile& input) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return st.st_dev == input.device() && st.st_ino == input.inode();
}

/// A new chunk waiting in the open block, or an index entry waiting for a block to be written.
struct PendingEntry {
  format::IndexEntry entry;
  std::optional<uint32_t> block_seq;  ///< Set if the entry's block location is not yet filled in.
};

class Packer {
 public:
  Packer(const PackOptions& options, const ProgressFn& progress)
      : options_(options),
        progress_(progress),
        compressor_(options.codec, options.level) {}

  PackResult run() {
    const auto start = std::chrono::steady_clock::now();
    validate(options_);
    std::unique_ptr<io::InputFile> inputs[kStreamCount];
    if (!options_.disk_path.empty()) inputs[0] = std::make_unique<io::InputFile>(options_.disk_path, "disk image");
    if (!options_.memory_path.empty()) {
      inputs[1] = std::make_unique<io::InputFile>(options_.memory_path, "memory image");
    }
    for (const auto& in : inputs) {
      if (in && same_file(options_.output_path, *in)) {
        throw Error(ErrorCode::kInvalidArgument,
                    "output '" + options_.output_path + "' is the same file as input '" + in->path() + "'");
      }
    }
    for (const auto& in : inputs) total_ += in ? in->size() : 0;

    io::AtomicOutputFile out(options_.output_path, options_.force);
    out_ = &out;
    const std::vector<std::byte> header_space(format::kHeaderSize);
    out.append(header_space);

    packing::IndexWriter index(Codec::kZstd, [&out](std::span<const std::byte> bytes) {
      const uint64_t at = out.position();
      out.append(bytes);
      return at;
    });
    index_ = &index;

    format::Header header;
    header.codec = options_.codec;
    header.level = static_cast<int8_t>(options_.level == 0 ? codec::default_level(options_.codec) : options_.level);
    header.index_codec = Codec::kZstd;
    header.chunk_size = options_.chunk_size;
    header.block_size = options_.block_size;

    report_progress();
    for (int s = 0; s < kStreamCount; ++s) {
      if (!inputs[s]) continue;
      const Stream stream = static_cast<Stream>(s);
      stats_ = &result_.streams[s];
      stats_->present = true;
      stats_->logical_size = inputs[s]->size();
      index.begin_stream(stream);
      pack_stream(*inputs[s]);
      close_block();
      const auto [first, count] = index.end_stream();
      auto& rec = header.streams[s];
      rec.present = 1;
      rec.logical_size = stats_->logical_size;
      rec.chunks = stats_->chunks;
      rec.zero_chunks = stats_->zero_chunks;
      rec.dup_chunks = stats_->dup_chunks;
      rec.blocks = stats_->blocks;
      rec.stored_bytes = stats_->stored_bytes;
      rec.first_page = first;
      rec.page_count = count;
    }

    // Metadata tail: the master index.
    header.tail_offset = out.position();
    std::vector<unsigned char> master(index.master().size() * format::kMasterEntrySize);
    for (size_t i = 0; i < index.master().size(); ++i) {
      format::encode_master_entry(index.master()[i], master.data() + i * format::kMasterEntrySize);
    }
    header.master_offset = out.position();
    header.master_length = master.size();
    header.master_checksum = hash::checksum64(master.data(), master.size());
    header.page_count = static_cast<uint32_t>(index.master().size());
    out.append(std::as_bytes(std::span(master)));
    header.tail_length = out.position() - header.tail_offset;
    header.file_size = out.position();

    auto& id = index.identity_hasher();
    format::absorb_identity_trailer(id, header.streams);
    header.identity = id.finish();

    std::array<unsigned char, format::kHeaderSize> hbytes{};
    format::encode_header(header, hbytes);
    out.write_at(0, std::as_bytes(std::span(hbytes)));
    out.commit();

    result_.file_size = header.file_size;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result_;
  }

 private:
  /// Splits one input into chunks, reading only its data extents.
  void pack_stream(const io::InputFile& in) {
    const uint64_t size = in.size();
    std::vector<std::byte> segment(kSegmentSize);
    io::Extent data = in.next_data(0);
    for (uint64_t pos = 0; pos < size; pos += kSegmentSize) {
      const uint64_t len = std::min<uint64_t>(kSegmentSize, size - pos);
      const uint64_t end = pos + len;
      // Advance to the first data extent that ends after pos.
      while (data.length != 0 && data.offset + data.length <= pos) data = in.next_data(data.offset + data.length);
      const bool all_hole = data.length == 0 || data.offset >= end;
      if (all_hole) {
        for (uint64_t c = pos; c < end; c += options_.chunk_size) {
          add_zero_chunk(static_cast<uint32_t>(std::min<uint64_t>(options_.chunk_size, end - c)));
        }
      } else {
        std::span<std::byte> buf(segment.data(), len);
        // Fill from data extents; holes between them stay zero.
        uint64_t cursor = pos;
        io::Extent ext = data;
        while (cursor < end) {
          if (ext.length == 0 || ext.offset >= end) {
            std::fill(buf.begin() + static_cast<ptrdiff_t>(cursor - pos), buf.end(), std::byte{0});
            break;
          }
          const uint64_t ds = std::max(ext.offset, cursor);
          const uint64_t de = std::min(ext.offset + ext.length, end);
          if (ds > cursor) {
            std::fill(buf.begin() + static_cast<ptrdiff_t>(cursor - pos),
                      buf.begin() + static_cast<ptrdiff_t>(ds - pos), std::byte{0});
          }
          in.read_at(ds, buf.subspan(ds - pos, de - ds));
          cursor = de;
          if (de == ext.offset + ext.length) ext = in.next_data(de);
        }
        data = ext;
        for (uint64_t c = 0; c < len; c += options_.chunk_size) {
          const size_t n = static_cast<size_t>(std::min<uint64_t>(options_.chunk_size, len - c));
          add_chunk(buf.subspan(c, n));
        }
      }
      done_ += len;
      report_progress();
    }
  }

  void report_progress() {
    if (progress_) progress_(done_, total_);
  }

  void add_zero_chunk(uint32_t length) {
    format::IndexEntry e;
    e.kind = format::ChunkKind::kZero;
    e.length = length;
    ++stats_->chunks;
    ++stats_->zero_chunks;
    emit(e, std::nullopt);
  }

  void add_chunk(std::span<const std::byte> chunk) {
    if (chunk::is_all_zero(chunk.data(), chunk.size())) {
      add_zero_chunk(static_cast<uint32_t>(chunk.size()));
      return;
    }
    format::IndexEntry e;
    e.kind = format::ChunkKind::kData;
    e.length = static_cast<uint32_t>(chunk.size());
    e.digest = hash::chunk_digest(chunk.data(), chunk.size());
    ++stats_->chunks;
    if (const packing::ChunkLocation* loc = dedup_.find(e.digest)) {
      ++stats_->dup_chunks;
      e.offset_in_block = loc->offset_in_block;
      emit(e, loc->block_seq);
      return;
    }
    const auto seq = static_cast<uint32_t>(blocks_.size());
    e.offset_in_block = static_cast<uint32_t>(open_block_.size());
    dedup_.insert(e.digest, {seq, e.offset_in_block});
    open_block_.insert(open_block_.end(), chunk.begin(), chunk.end());
    emit(e, seq);
    if (open_block_.size() >= options_.block_size) close_block();
  }

  /// Queues an entry; entries leave the queue in order once their block location is known.
  void emit(const format::IndexEntry& e, std::optional<uint32_t> block_seq) {
    if (block_seq && *block_seq < blocks_.size() && pending_.empty()) {
      format::IndexEntry done = e;
      done.block = blocks_[*block_seq];
      index_->add(done);
      return;
    }
    if (!block_seq && pending_.empty()) {
      index_->add(e);
      return;
    }
    pending_.push_back({e, block_seq});
  }

  void drain() {
    while (!pending_.empty()) {
      PendingEntry& p = pending_.front();
      if (p.block_seq) {
        if (*p.block_seq >= blocks_.size()) break;
        p.entry.block = blocks_[*p.block_seq];
      }
      index_->add(p.entry);
      pending_.pop_front();
    }
  }

  /// Compresses and writes the open block (if any), then releases entries waiting for it.
  void close_block() {
    if (open_block_.empty()) return;
    const std::span<const std::byte> raw(open_block_);
    packed_.resize(compressor_.bound(raw.size()));
    const size_t n = compressor_.compress(raw, packed_);
    const std::span<const std::byte> stored = n == 0 ? raw : std::span<const std::byte>(packed_.data(), n);
    format::BlockRef ref;
    ref.offset = out_->position();
    ref.stored_length = static_cast<uint32_t>(stored.size());
    ref.raw_length = static_cast<uint32_t>(raw.size());
    ref.codec = n == 0 ? Codec::kNone : compressor_.codec();
    ref.checksum = hash::checksum64(stored.data(), stored.size());
    out_->append(stored);
    blocks_.push_back(ref);
    ++stats_->blocks;
    stats_->stored_bytes += stored.size();
    open_block_.clear();
    drain();
  }

  const PackOptions& options_;
  const ProgressFn& progress_;
  codec::Compressor compressor_;
  packing::DedupTable dedup_;
  std::vector<format::BlockRef> blocks_;  ///< Written blocks by sequence number.
  std::vector<std::byte> open_block_;
  std::vector<std::byte> packed_;
  std::deque<PendingEntry> pending_;
  io::AtomicOutputFile* out_ = nullptr;
  packing::IndexWriter* index_ = nullptr;
  StreamStats* stats_ = nullptr;
  PackResult result_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
};

}  // namespace

PackResult pack(const PackOptions& options, const ProgressFn& progress) {
  validate(options);
  Packer packer(options, progress);
  return packer.run();
}

}  // namespace hexz
