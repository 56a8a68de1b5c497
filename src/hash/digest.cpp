#include "hash/digest.hpp"

#include <blake3.h>

namespace hexz::hash {

ChunkDigest chunk_digest(const void* data, size_t size) {
  blake3_hasher hasher;
  blake3_hasher_init(&hasher);
  blake3_hasher_update(&hasher, data, size);
  ChunkDigest d;
  blake3_hasher_finalize(&hasher, d.bytes.data(), d.bytes.size());
  return d;
}

struct Blake3::State {
  blake3_hasher hasher;
};

Blake3::Blake3() : state_(std::make_unique<State>()) {
  blake3_hasher_init(&state_->hasher);
}
Blake3::~Blake3() = default;

void Blake3::update(const void* data, size_t size) {
  blake3_hasher_update(&state_->hasher, data, size);
}

std::array<unsigned char, 32> Blake3::finish() const {
  std::array<unsigned char, 32> out{};
  blake3_hasher_finalize(&state_->hasher, out.data(), out.size());
  return out;
}

std::string to_hex(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    s[2 * i] = kDigits[data[i] >> 4];
    s[2 * i + 1] = kDigits[data[i] & 15];
  }
  return s;
}

}  // namespace hexz::hash
