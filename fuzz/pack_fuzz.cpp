// Fuzz target: pack options and pack inputs. Input: an options record (codec, level, chunking,
// sizes, dictionary training, threads, where the disk image ends and the memory image starts),
// then the image bytes. Oracle: pack either throws hexz::Error (invalid options) or writes a
// snapshot that verifies and reads back byte for byte; it never crashes.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_input.hpp"
#include "hexz/hexz.hpp"

namespace {

/// A private directory for this process's inputs and outputs, removed at exit. Never
/// destroyed itself: the exit handler that removes the directory still needs its name.
const std::string& work_dir() {
  static const std::string* const dir = [] {
    std::string t = (std::filesystem::temp_directory_path() / "hexz-pack-fuzz-XXXXXX").string();
    if (::mkdtemp(t.data()) == nullptr) std::abort();
    auto* name = new std::string(t);
    std::atexit([] { std::filesystem::remove_all(work_dir()); });
    return name;
  }();
  return *dir;
}

void write(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

std::vector<std::byte> read_stream(const hexz::Snapshot& s, hexz::Stream stream) {
  std::vector<std::byte> out(s.size(stream));
  s.read(stream, 0, out);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hexz_fuzz::Input in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const int8_t level = in.take<int8_t>();
  const uint8_t chunk_shift = in.take<uint8_t>();
  const uint8_t block_shift = in.take<uint8_t>();
  const uint16_t min = in.take<uint16_t>();
  const uint16_t avg = in.take<uint16_t>();
  const uint32_t max = in.take<uint32_t>() % (1u << 18);
  const uint32_t split = in.take<uint32_t>();
  const auto image = in.rest();
  const size_t disk_len = image.empty() ? 0 : split % (image.size() + 1);

  const std::string& dir = work_dir();
  hexz::PackOptions o;
  o.output_path = dir + "/out.hxz";
  o.force = true;
  o.threads = 1 + (flags >> 7);
  o.codec = static_cast<hexz::Codec>(flags % 3);
  o.level = level;
  o.chunk_size = 1u << (chunk_shift % 24);  // invalid sizes included
  o.block_size = 1u << (block_shift % 26);
  o.cdc = (flags & 4) != 0;
  o.min_chunk = min;
  o.avg_chunk = avg;
  o.max_chunk = max;
  o.train_dictionary = (flags & 8) != 0;
  if (disk_len > 0 || !(flags & 16)) {
    o.disk_path = dir + "/disk.img";
    write(o.disk_path, image.data(), disk_len);
  }
  if (disk_len < image.size() || (flags & 16)) {
    o.memory_path = dir + "/mem.img";
    write(o.memory_path, image.data() + disk_len, image.size() - disk_len);
  }
  try {
    hexz::pack(o);
  } catch (const hexz::Error&) {
    if (std::filesystem::exists(o.output_path)) hexz_fuzz::finding("a failed pack left output");
    return 0;
  }
  try {
    hexz::OpenOptions ro;
    ro.threads = 1;
    const auto snap = hexz::Snapshot::open(o.output_path, ro);
    if (!snap->verify({}).ok) hexz_fuzz::finding("a packed snapshot does not verify");
    const auto as_bytes = [](std::span<const uint8_t> s) {
      return std::vector<std::byte>(reinterpret_cast<const std::byte*>(s.data()),
                                    reinterpret_cast<const std::byte*>(s.data() + s.size()));
    };
    if (!o.disk_path.empty() &&
        read_stream(*snap, hexz::Stream::kDisk) != as_bytes(image.first(disk_len))) {
      hexz_fuzz::finding("disk stream does not read back");
    }
    if (!o.memory_path.empty() &&
        read_stream(*snap, hexz::Stream::kMemory) != as_bytes(image.subspan(disk_len))) {
      hexz_fuzz::finding("memory stream does not read back");
    }
  } catch (const hexz::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    hexz_fuzz::finding("a packed snapshot does not open or read");
  }
  std::filesystem::remove(o.output_path);
  return 0;
}
