// Packs a small generated image with the installed libhexz, reads it back and compares.
// Usage: consumer WORKDIR. Exit 0 when the bytes round-trip.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "hexz/hexz.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  std::vector<char> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919) >> 9);
  std::ofstream(dir + "/disk.img", std::ios::binary).write(data.data(), data.size());
  try {
    hexz::PackOptions options;
    options.disk_path = dir + "/disk.img";
    options.output_path = dir + "/disk.hxz";
    options.force = true;
    hexz::pack(options);
    const auto snapshot = hexz::Snapshot::open(options.output_path);
    std::vector<std::byte> back(snapshot->size(hexz::Stream::kDisk));
    snapshot->read(hexz::Stream::kDisk, 0, back);
    if (back.size() != data.size() || std::memcmp(back.data(), data.data(), data.size()) != 0) {
      std::fprintf(stderr, "consumer: the snapshot does not read back as packed\n");
      return 1;
    }
  } catch (const hexz::Error& e) {
    std::fprintf(stderr, "consumer: %s\n", e.what());
    return 1;
  }
  std::printf("consumer: round trip of %zu bytes ok\n", data.size());
  return 0;
}
