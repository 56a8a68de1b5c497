#include "pack/options_check.hpp"

#include <string>

#include "chunk/fastcdc.hpp"
#include "hexz/error.hpp"

namespace hexz::packing {

void validate_options(const PackOptions& o, bool needs_input_paths) {
  const auto bad = [](const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); };
  if (needs_input_paths && o.disk_path.empty() && o.memory_path.empty()) {
    bad("no input given: pass a disk image, a memory image, or both");
  }
  if (o.output_path.empty()) bad("no output path given");
  if (o.block_size < kMinBlockSize || o.block_size > kMaxBlockSize) {
    bad("block size " + std::to_string(o.block_size) +
        " is out of range: it must be 1 KiB to 16 MiB");
  }
  if (o.cdc) {
    const std::string err = chunk::validate_cdc_params(o.min_chunk, o.avg_chunk, o.max_chunk);
    if (!err.empty()) {
      bad("invalid CDC chunk sizes (min " + std::to_string(o.min_chunk) + ", avg " +
          std::to_string(o.avg_chunk) + ", max " + std::to_string(o.max_chunk) + "): " + err);
    }
  } else {
    if (o.chunk_size < kMinChunkSize || o.chunk_size > kMaxChunkSize ||
        (o.chunk_size & (o.chunk_size - 1)) != 0) {
      bad("chunk size " + std::to_string(o.chunk_size) +
          " is invalid: it must be a power of two from 512 bytes to 1 MiB");
    }
    if (o.block_size < o.chunk_size) {
      bad("block size (" + std::to_string(o.block_size) +
          ") must not be smaller than the chunk size (" + std::to_string(o.chunk_size) + ")");
    }
  }
  if (o.codec != Codec::kNone && o.codec != Codec::kLz4 && o.codec != Codec::kZstd) {
    bad("unknown codec id " + std::to_string(static_cast<int>(o.codec)));
  }
  if (o.level < -128 || o.level > 127)
    bad("compression level " + std::to_string(o.level) + " is out of range");
  if (o.train_dictionary && o.codec != Codec::kZstd) {
    bad("a trained dictionary needs zstd compression (--compression zstd)");
  }
  if (o.encrypt && o.password.empty()) bad("encryption needs a non-empty password");
  if (!o.encrypt && !o.password.empty())
    bad("a password was given but encryption was not asked for");
  if (o.encrypt && (o.kdf_iterations < 1 || o.kdf_iterations > kMaxKdfIterations)) {
    bad("Argon2id iterations " + std::to_string(o.kdf_iterations) +
        " is out of range: it must be 1 to " + std::to_string(kMaxKdfIterations));
  }
  if (o.encrypt && (o.kdf_memory_kib < kMinKdfMemoryKib || o.kdf_memory_kib > kMaxKdfMemoryKib)) {
    bad("Argon2id memory " + std::to_string(o.kdf_memory_kib) +
        " KiB is out of range: it must be 8 MiB to 1 GiB");
  }
  if (o.encrypt && (o.kdf_parallelism < 1 || o.kdf_parallelism > kMaxKdfParallelism ||
                    o.kdf_memory_kib < 8 * o.kdf_parallelism)) {
    bad("Argon2id parallelism " + std::to_string(o.kdf_parallelism) +
        " is out of range: it must be 1 to " + std::to_string(kMaxKdfParallelism));
  }
  if (o.holes_inherit && o.base_path.empty())
    bad("--holes-inherit needs --base: the holes of the input inherit the base's content");
  if (!o.base_password.empty() && (!o.encrypt || o.base_path.empty()))
    bad("a base password is only used by an encrypted pack against a base (--encrypt --base)");
  if (o.threads > 1024)
    bad("thread count " + std::to_string(o.threads) + " is out of range (at most 1024)");
}

ChunkingParams chunking_of(const PackOptions& o) {
  ChunkingParams c;
  c.cdc = o.cdc;
  c.chunk_size = o.chunk_size;
  c.min = o.min_chunk;
  c.avg = o.avg_chunk;
  c.max = o.max_chunk;
  return c;
}

}  // namespace hexz::packing
