#include "codec/codec.hpp"

#include <lz4.h>
#include <lz4hc.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "hexz/error.hpp"

namespace hexz::codec {

int default_level(Codec codec) {
  switch (codec) {
    case Codec::kLz4:
      return 1;
    case Codec::kZstd:
      return 3;
    case Codec::kNone:
      return 0;
  }
  return 0;
}

Dictionary::Dictionary(std::vector<std::byte> bytes, int level) : bytes_(std::move(bytes)) {
  cdict_ = ZSTD_createCDict(bytes_.data(), bytes_.size(),
                            level == 0 ? default_level(Codec::kZstd) : level);
  ddict_ = ZSTD_createDDict(bytes_.data(), bytes_.size());
  if (cdict_ == nullptr || ddict_ == nullptr) {
    ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
    ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
    throw Error(ErrorCode::kCorrupt, "the compression dictionary is invalid");
  }
}

Dictionary::~Dictionary() {
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
}

struct Compressor::State {
  ZSTD_CCtx* zstd = nullptr;
  std::vector<char> lz4_state;
  ~State() { ZSTD_freeCCtx(zstd); }
};

Compressor::Compressor(Codec codec, int level, const Dictionary* dictionary)
    : codec_(codec),
      level_(level == 0 ? default_level(codec) : level),
      state_(std::make_unique<State>()) {
  switch (codec_) {
    case Codec::kNone:
      break;
    case Codec::kLz4:
      if (level_ < 1 || level_ > LZ4HC_CLEVEL_MAX) {
        throw Error(ErrorCode::kInvalidArgument,
                    "lz4 level must be 1 (fast) to " + std::to_string(LZ4HC_CLEVEL_MAX) + " (HC)");
      }
      state_->lz4_state.resize(level_ == 1 ? static_cast<size_t>(LZ4_sizeofState())
                                           : static_cast<size_t>(LZ4_sizeofStateHC()));
      break;
    case Codec::kZstd:
      if (level_ < ZSTD_minCLevel() || level_ > ZSTD_maxCLevel()) {
        throw Error(ErrorCode::kInvalidArgument, "zstd level must be between " +
                                                     std::to_string(ZSTD_minCLevel()) + " and " +
                                                     std::to_string(ZSTD_maxCLevel()));
      }
      state_->zstd = ZSTD_createCCtx();
      if (state_->zstd == nullptr) throw Error(ErrorCode::kInternal, "out of memory (zstd)");
      ZSTD_CCtx_setParameter(state_->zstd, ZSTD_c_compressionLevel, level_);
      ZSTD_CCtx_setParameter(state_->zstd, ZSTD_c_checksumFlag, 0);
      ZSTD_CCtx_setParameter(state_->zstd, ZSTD_c_contentSizeFlag, 0);
      ZSTD_CCtx_setParameter(state_->zstd, ZSTD_c_dictIDFlag, 0);
      if (dictionary != nullptr) {
        ZSTD_CCtx_refCDict(state_->zstd, static_cast<const ZSTD_CDict*>(dictionary->cdict()));
      }
      break;
  }
}

Compressor::~Compressor() = default;

size_t Compressor::bound(size_t raw_size) const {
  switch (codec_) {
    case Codec::kLz4:
      return static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw_size)));
    case Codec::kZstd:
      return ZSTD_compressBound(raw_size);
    case Codec::kNone:
      return raw_size;
  }
  return raw_size;
}

size_t Compressor::compress(std::span<const std::byte> in, std::span<std::byte> out) {
  const auto* src = reinterpret_cast<const char*>(in.data());
  auto* dst = reinterpret_cast<char*>(out.data());
  // Only a strictly smaller result is worth storing compressed.
  const size_t limit = in.size() == 0 ? 0 : std::min(out.size(), in.size() - 1);
  size_t n = 0;
  switch (codec_) {
    case Codec::kNone:
      return 0;
    case Codec::kLz4: {
      int r;
      if (level_ == 1) {
        r = LZ4_compress_fast_extState(state_->lz4_state.data(), src, dst,
                                       static_cast<int>(in.size()), static_cast<int>(limit), 1);
      } else {
        r = LZ4_compress_HC_extStateHC(state_->lz4_state.data(), src, dst,
                                       static_cast<int>(in.size()), static_cast<int>(limit),
                                       level_);
      }
      n = r > 0 ? static_cast<size_t>(r) : 0;
      break;
    }
    case Codec::kZstd: {
      const size_t r = ZSTD_compress2(state_->zstd, dst, limit, src, in.size());
      n = ZSTD_isError(r) ? 0 : r;
      break;
    }
  }
  return n;
}

struct Decompressor::State {
  ZSTD_DCtx* zstd = nullptr;
  ~State() { ZSTD_freeDCtx(zstd); }
};

Decompressor::Decompressor() : state_(std::make_unique<State>()) {}
Decompressor::~Decompressor() = default;

void Decompressor::decompress(Codec codec, std::span<const std::byte> in, std::span<std::byte> out,
                              const Dictionary* dictionary) {
  const auto* src = reinterpret_cast<const char*>(in.data());
  auto* dst = reinterpret_cast<char*>(out.data());
  switch (codec) {
    case Codec::kNone:
      if (in.size() != out.size()) throw Error(ErrorCode::kCorrupt, "raw block has the wrong size");
      std::memcpy(dst, src, in.size());
      return;
    case Codec::kLz4: {
      const int r =
          LZ4_decompress_safe(src, dst, static_cast<int>(in.size()), static_cast<int>(out.size()));
      if (r < 0 || static_cast<size_t>(r) != out.size()) {
        throw Error(ErrorCode::kCorrupt, "lz4 block does not decode to its recorded size");
      }
      return;
    }
    case Codec::kZstd: {
      if (state_->zstd == nullptr) {
        state_->zstd = ZSTD_createDCtx();
        if (state_->zstd == nullptr) throw Error(ErrorCode::kInternal, "out of memory (zstd)");
      }
      const size_t r =
          dictionary == nullptr
              ? ZSTD_decompressDCtx(state_->zstd, dst, out.size(), src, in.size())
              : ZSTD_decompress_usingDDict(state_->zstd, dst, out.size(), src, in.size(),
                                           static_cast<const ZSTD_DDict*>(dictionary->ddict()));
      if (ZSTD_isError(r) || r != out.size()) {
        throw Error(ErrorCode::kCorrupt, "zstd block does not decode to its recorded size");
      }
      return;
    }
  }
  throw Error(ErrorCode::kCorrupt,
              "unknown block codec id " + std::to_string(static_cast<int>(codec)));
}

size_t Decompressor::decompress_prefix(Codec codec, std::span<const std::byte> in,
                                       std::span<std::byte> out, size_t want,
                                       const Dictionary* dictionary) {
  if (codec != Codec::kLz4 || want >= out.size()) {
    decompress(codec, in, out, dictionary);
    return out.size();
  }
  const int r = LZ4_decompress_safe_partial(
      reinterpret_cast<const char*>(in.data()), reinterpret_cast<char*>(out.data()),
      static_cast<int>(in.size()), static_cast<int>(want), static_cast<int>(out.size()));
  if (r < 0 || static_cast<size_t>(r) < want) {
    throw Error(ErrorCode::kCorrupt, "lz4 block does not decode to its recorded size");
  }
  return static_cast<size_t>(r);
}

}  // namespace hexz::codec
