#include "codec/dictionary_trainer.hpp"

#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>

namespace hexz::codec {

std::vector<std::byte> train_dictionary(const std::vector<std::byte>& samples,
                                        const std::vector<size_t>& sizes, size_t capacity,
                                        int level) {
  // Zstd's trainer needs a reasonable number of samples; below this it fails or overfits.
  if (sizes.size() < 16 || samples.size() < 8 * capacity / 10) return {};
  std::vector<std::byte> dict(capacity);
  ZDICT_fastCover_params_t params{};
  params.d = 8;
  params.k = 0;      // optimise k ...
  params.steps = 4;  // ... over a few candidates (fast, single-threaded: deterministic)
  params.nbThreads = 1;
  params.splitPoint = 0.75;
  params.accel = 1;
  params.zParams.compressionLevel = level;
  params.zParams.notificationLevel = 0;
  params.zParams.dictID = 1;  // fixed id: output stays deterministic
  const size_t n = ZDICT_optimizeTrainFromBuffer_fastCover(
      dict.data(), dict.size(), samples.data(), sizes.data(), static_cast<unsigned>(sizes.size()),
      &params);
  if (ZDICT_isError(n) || n == 0) return {};
  dict.resize(n);
  return dict;
}

}  // namespace hexz::codec
