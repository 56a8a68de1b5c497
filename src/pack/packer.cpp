// hexz::pack(): the pack pipeline.
//
//   producer thread        worker pool               calling thread (ordered)
//   SegmentReader  ──▶  hash_segment (zero, BLAKE3) ──▶ dedup, block building
//                                                        │ sealed blocks
//                       compress_block (+checksum)  ◀───┘
//                                                   ──▶ write blocks in order, index entries,
//                                                       index pages, master index, header
//
// Dedup decisions and block numbering happen on the calling thread in stream order, and
// blocks are written in sequence order, so the output is byte-identical for any thread count.
// Queues and windows are bounded, so memory does not grow with the input (beyond the dedup
// table).
#include <sys/stat.h>

#include <chrono>
#include <deque>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "codec/codec.hpp"
#include "format/records.hpp"
#include "hash/checksum.hpp"
#include "hexz/error.hpp"
#include "hexz/pack.hpp"
#include "io/input_file.hpp"
#include "io/output_file.hpp"
#include "pack/block_compress.hpp"
#include "codec/dictionary_trainer.hpp"
#include "pack/dedup_table.hpp"
#include "pack/dictionary_sampler.hpp"
#include "pack/index_writer.hpp"
#include "pack/segment.hpp"
#include "pack/segment_reader.hpp"
#include "util/thread_pool.hpp"

namespace hexz {

namespace {

/// Inputs are read in segments of this many bytes (a multiple of every valid chunk size).
constexpr uint64_t kSegmentSize = 2u << 20;

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
  if (o.train_dictionary && o.codec != Codec::kZstd) {
    bad("a trained dictionary needs zstd compression (--compression zstd)");
  }
  if (o.threads > 1024) bad("thread count " + std::to_string(o.threads) + " is out of range (at most 1024)");
}

/// True if `path` names the same file as `input` (so packing would overwrite an input).
bool same_file(const std::string& path, const io::InputFile& input) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return st.st_dev == input.device() && st.st_ino == input.inode();
}

/// An index entry waiting for the block it points into to be written.
struct PendingEntry {
  format::IndexEntry entry;
  std::optional<uint32_t> block_seq;  ///< Set if entry.block is still to be filled in.
};

/// Runs a SegmentReader on its own thread, feeding a bounded queue. The destructor stops and
/// joins it, so an exception on the consuming side never leaves it running.
class SegmentProducer {
 public:
  SegmentProducer(const io::InputFile& input, Stream stream, uint32_t chunk_size, size_t depth)
      : reader_(input, stream, chunk_size, kSegmentSize), queue_(depth) {
    thread_ = std::thread([this] {
      try {
        while (auto seg = reader_.next()) {
          if (!queue_.push(std::move(*seg))) break;
        }
      } catch (...) {
        error_ = std::current_exception();
      }
      queue_.close();
    });
  }
  ~SegmentProducer() {
    queue_.close();
    thread_.join();
  }
  SegmentProducer(const SegmentProducer&) = delete;
  SegmentProducer& operator=(const SegmentProducer&) = delete;

  /// The next segment; nullopt at the end. Rethrows a read error from the producer.
  std::optional<packing::Segment> next() {
    auto seg = queue_.pop();
    if (!seg && error_) std::rethrow_exception(error_);
    return seg;
  }

 private:
  packing::SegmentReader reader_;
  util::BoundedQueue<packing::Segment> queue_;
  std::exception_ptr error_;
  std::thread thread_;
};

class Packer {
 public:
  Packer(const PackOptions& options, const ProgressFn& progress)
      : options_(options),
        progress_(progress),
        threads_(options.threads == 0 ? util::hardware_threads() : options.threads) {
    // Fail on a bad level before touching any file.
    codec::Compressor probe(options.codec, options.level);
  }

  PackResult run() {
    const auto start = std::chrono::steady_clock::now();
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
      if (in) total_ += in->size();
    }

    if (options_.train_dictionary) train_dictionary(inputs);
    for (size_t i = 0; i < threads_; ++i) {
      compressors_.push_back(std::make_unique<codec::Compressor>(options_.codec, options_.level, dictionary_.get()));
    }
    pool_ = std::make_unique<util::ThreadPool>(threads_);

    io::AtomicOutputFile out(options_.output_path, options_.force);
    out_ = &out;
    out.append(std::vector<std::byte>(format::kHeaderSize));
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
      stats_ = &result_.streams[s];
      stats_->present = true;
      stats_->logical_size = inputs[s]->size();
      index.begin_stream(static_cast<Stream>(s));
      pack_stream(*inputs[s], static_cast<Stream>(s));
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
    write_tail_and_header(header);
    out.commit();

    result_.file_size = header.file_size;
    result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result_;
  }

 private:
  /// Trains the Zstd dictionary from a stratified sample of all inputs (design notes §1).
  void train_dictionary(const std::unique_ptr<io::InputFile> (&inputs)[kStreamCount]) {
    std::vector<const io::InputFile*> list;
    for (const auto& in : inputs) {
      if (in) list.push_back(in.get());
    }
    constexpr size_t kSampleChunks = 4000;
    constexpr double kMaxSampleEntropy = 6.0;
    const packing::Samples samples = packing::sample_chunks(list, options_.chunk_size, kSampleChunks, kMaxSampleEntropy);
    auto dict = codec::train_dictionary(samples.bytes, samples.sizes, codec::kMaxDictionarySize, options_.level);
    if (dict.empty()) {
      result_.warnings.push_back("no dictionary trained: the input has too little compressible, non-zero data (" +
                                 std::to_string(samples.sizes.size()) + " usable sample chunks); packing without one");
      return;
    }
    dictionary_ = std::make_unique<codec::Dictionary>(std::move(dict), options_.level);
    result_.dictionary_bytes = dictionary_->bytes().size();
  }

  void write_tail_and_header(format::Header& header) {
    header.tail_offset = out_->position();
    if (dictionary_) {
      const auto& d = dictionary_->bytes();
      header.required_features |= format::kFeatureDictionary;
      header.dict_offset = out_->position();
      header.dict_length = static_cast<uint32_t>(d.size());
      header.dict_checksum = hash::checksum64(d.data(), d.size());
      out_->append(d);
    }
    const auto& entries = index_->master();
    std::vector<unsigned char> master(entries.size() * format::kMasterEntrySize);
    for (size_t i = 0; i < entries.size(); ++i) {
      format::encode_master_entry(entries[i], master.data() + i * format::kMasterEntrySize);
    }
    header.master_offset = out_->position();
    header.master_length = master.size();
    header.master_checksum = hash::checksum64(master.data(), master.size());
    header.page_count = static_cast<uint32_t>(entries.size());
    out_->append(std::as_bytes(std::span(master)));
    header.tail_length = out_->position() - header.tail_offset;
    header.file_size = out_->position();
    format::absorb_identity_trailer(index_->identity_hasher(), header.streams);
    header.identity = index_->identity_hasher().finish();
    std::array<unsigned char, format::kHeaderSize> bytes{};
    format::encode_header(header, bytes);
    out_->write_at(0, std::as_bytes(std::span(bytes)));
  }

  /// Streams one input through the pipeline; returns once all its blocks and entries are out.
  void pack_stream(const io::InputFile& in, Stream stream) {
    SegmentProducer producer(in, stream, options_.chunk_size, 2);
    std::deque<std::future<packing::HashedSegment>> hashing;
    const size_t window = 2 * threads_;
    bool exhausted = false;
    for (;;) {
      while (!exhausted && hashing.size() < window) {
        auto seg = producer.next();
        if (!seg) {
          exhausted = true;
          break;
        }
        hashing.push_back(pool_->submit(
            [s = std::move(*seg)](size_t) mutable { return packing::hash_segment(std::move(s)); }));
      }
      if (hashing.empty()) break;
      packing::HashedSegment hs = hashing.front().get();
      hashing.pop_front();
      add_segment(hs);
      done_ += hs.segment.length;
      report_progress();
    }
    seal_block();
    while (!compressing_.empty()) write_next_block();
  }

  void report_progress() {
    if (progress_) progress_(done_, total_);
  }

  /// Dedups the chunks of a hashed segment in order and adds new ones to blocks.
  void add_segment(const packing::HashedSegment& hs) {
    uint64_t at = 0;
    for (const auto& c : hs.chunks) {
      format::IndexEntry e;
      e.length = c.length;
      ++stats_->chunks;
      if (c.zero) {
        e.kind = format::ChunkKind::kZero;
        ++stats_->zero_chunks;
        emit(e, std::nullopt);
      } else {
        e.kind = format::ChunkKind::kData;
        e.digest = c.digest;
        if (const packing::ChunkLocation* loc = dedup_.find(c.digest)) {
          ++stats_->dup_chunks;
          e.offset_in_block = loc->offset_in_block;
          emit(e, loc->block_seq);
        } else {
          e.offset_in_block = static_cast<uint32_t>(open_block_.size());
          dedup_.insert(c.digest, {next_block_seq_, e.offset_in_block});
          const std::byte* p = hs.segment.data.data() + at;
          open_block_.insert(open_block_.end(), p, p + c.length);
          emit(e, next_block_seq_);
          if (open_block_.size() >= options_.block_size) seal_block();
        }
      }
      at += c.length;
    }
  }

  /// Queues an entry; entries reach the index in order once their block has been written.
  void emit(const format::IndexEntry& e, std::optional<uint32_t> block_seq) {
    if (pending_.empty() && (!block_seq || *block_seq < written_.size())) {
      format::IndexEntry ready = e;
      if (block_seq) ready.block = written_[*block_seq];
      index_->add(ready);
      return;
    }
    pending_.push_back({e, block_seq});
  }

  void drain_pending() {
    while (!pending_.empty()) {
      PendingEntry& p = pending_.front();
      if (p.block_seq) {
        if (*p.block_seq >= written_.size()) break;
        p.entry.block = written_[*p.block_seq];
      }
      index_->add(p.entry);
      pending_.pop_front();
    }
  }

  /// Hands the open block to the pool for compression.
  void seal_block() {
    if (open_block_.empty()) return;
    std::vector<std::byte> raw;
    raw.reserve(options_.block_size + options_.chunk_size);
    raw.swap(open_block_);
    compressing_.push_back(pool_->submit([this, r = std::move(raw)](size_t worker) mutable {
      return packing::compress_block(*compressors_[worker], std::move(r));
    }));
    ++next_block_seq_;
    while (compressing_.size() > 2 * threads_) write_next_block();
  }

  /// Waits for the oldest block being compressed and appends it to the file.
  void write_next_block() {
    packing::StoredBlock b = compressing_.front().get();
    compressing_.pop_front();
    format::BlockRef ref;
    ref.offset = out_->position();
    ref.stored_length = static_cast<uint32_t>(b.bytes.size());
    ref.raw_length = b.raw_length;
    ref.codec = b.codec;
    ref.checksum = b.checksum;
    out_->append(b.bytes);
    written_.push_back(ref);
    ++stats_->blocks;
    stats_->stored_bytes += b.bytes.size();
    drain_pending();
  }

  const PackOptions& options_;
  const ProgressFn& progress_;
  size_t threads_;
  std::unique_ptr<codec::Dictionary> dictionary_;
  std::vector<std::unique_ptr<codec::Compressor>> compressors_;  ///< One per worker.
  packing::DedupTable dedup_;
  std::vector<format::BlockRef> written_;  ///< Written blocks by sequence number.
  uint32_t next_block_seq_ = 0;
  std::vector<std::byte> open_block_;
  std::deque<PendingEntry> pending_;
  std::deque<std::future<packing::StoredBlock>> compressing_;
  io::AtomicOutputFile* out_ = nullptr;
  packing::IndexWriter* index_ = nullptr;
  StreamStats* stats_ = nullptr;
  PackResult result_;
  uint64_t total_ = 0;
  uint64_t done_ = 0;
  // Declared last: destroyed first, so no task outlives the state it uses.
  std::unique_ptr<util::ThreadPool> pool_;
};

}  // namespace

PackResult pack(const PackOptions& options, const ProgressFn& progress) {
  validate(options);
  Packer packer(options, progress);
  return packer.run();
}

}  // namespace hexz
