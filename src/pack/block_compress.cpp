#include "pack/block_compress.hpp"

#include "hash/checksum.hpp"

namespace hexz::packing {

StoredBlock compress_block(codec::Compressor& compressor, util::Buffer raw,
                           const crypto::SnapshotCipher* cipher, uint32_t seq) {
  StoredBlock b;
  b.raw_length = static_cast<uint32_t>(raw.size());
  util::Buffer packed(compressor.bound(raw.size()));
  const size_t n = compressor.compress(raw, packed);
  if (n == 0) {
    b.bytes = std::move(raw);
    b.codec = Codec::kNone;
  } else {
    packed.resize(n);
    b.bytes = std::move(packed);
    b.codec = compressor.codec();
  }
  if (cipher != nullptr) {
    const auto sealed = cipher->seal_block(seq, b.raw_length, b.codec, b.bytes);
    b.bytes.assign(sealed.begin(), sealed.end());
    b.checksum = seq;
  } else {
    b.checksum = hash::checksum64(b.bytes.data(), b.bytes.size());
  }
  return b;
}

}  // namespace hexz::packing
