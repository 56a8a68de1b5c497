#include "pack/dictionary_sampler.hpp"

#include <algorithm>

#include "chunk/entropy.hpp"
#include "chunk/zero.hpp"

namespace hexz::packing {

Samples sample_chunks(const std::vector<const io::InputSource*>& inputs, uint32_t chunk_size,
                      size_t target, double max_entropy) {
  Samples out;
  uint64_t total_chunks = 0;
  for (const auto* in : inputs) total_chunks += (in->size() + chunk_size - 1) / chunk_size;
  if (total_chunks == 0 || target == 0) return out;
  const uint64_t stride = std::max<uint64_t>(1, total_chunks / target);
  std::vector<std::byte> buf(chunk_size);
  uint64_t base = 0;  // global chunk number of the current input's first chunk
  for (const auto* in : inputs) {
    const uint64_t chunks = (in->size() + chunk_size - 1) / chunk_size;
    // First sampled global chunk number at or after `base`.
    uint64_t k = (base + stride - 1) / stride * stride;
    for (; k < base + chunks; k += stride) {
      const uint64_t offset = (k - base) * chunk_size;
      const size_t len = static_cast<size_t>(std::min<uint64_t>(chunk_size, in->size() - offset));
      const io::Extent data = in->next_data(offset);
      if (data.length == 0 || data.offset > offset) continue;  // in a hole: zeros
      std::span<std::byte> sample(buf.data(), len);
      in->read_at(offset, sample);
      if (chunk::is_all_zero(sample.data(), len)) continue;
      if (chunk::shannon_entropy(sample.data(), len) > max_entropy) continue;
      out.bytes.insert(out.bytes.end(), sample.begin(), sample.end());
      out.sizes.push_back(len);
    }
    base += chunks;
  }
  return out;
}

}  // namespace hexz::packing
