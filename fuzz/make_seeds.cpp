// Writes the seed corpus of every fuzz target: small snapshots packed with each feature (index
// pages re-stored raw so that the reader target's repair mode can reach every field), their
// headers and pages, chunker and pack inputs, and HTTP responses. Usage: make_seeds OUTDIR
// (creates OUTDIR/<target>/ for each target). Deterministic.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "format/records.hpp"
#include "hexz/hexz.hpp"
#include "support/craft.hpp"

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path g_out;
fs::path g_tmp;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream f(g_out / target / name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void write(const fs::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// A small image: text-like runs, a zero run, a repeat of an earlier chunk, some noise.
Bytes image(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  static const char* words[] = {"kernel ", "page ", "cache ", "inode ", "root ", "vm ", "\n"};
  Bytes b;
  while (b.size() < size) {
    const std::string w = words[rng() % 7];
    b.insert(b.end(), w.begin(), w.end());
  }
  b.resize(size);
  for (size_t i = size / 4; i < size / 4 + 8192 && i < size; ++i) b[i] = 0;
  if (size >= 24576) std::copy_n(b.begin(), 4096, b.begin() + 16384);
  for (size_t i = size - size / 8; i < size; ++i) b[i] = static_cast<uint8_t>(rng());
  return b;
}

Bytes prefixed(uint8_t mode, const Bytes& file) {
  Bytes out{mode};
  out.insert(out.end(), file.begin(), file.end());
  return out;
}

Bytes pack(const std::string& name, hexz::PackOptions o, const Bytes& disk, const Bytes& mem) {
  if (!disk.empty()) {
    o.disk_path = (g_tmp / (name + ".disk")).string();
    write(o.disk_path, disk);
  }
  if (!mem.empty()) {
    o.memory_path = (g_tmp / (name + ".mem")).string();
    write(o.memory_path, mem);
  }
  o.output_path = (g_tmp / (name + ".hxz")).string();
  o.threads = 1;
  o.force = true;
  hexz::pack(o);
  return read(o.output_path);
}

void snapshot_seeds(const std::string& name, const Bytes& file, bool thin) {
  hexz_test::craft::Model m = hexz_test::craft::take_apart(file);
  const Bytes raw_pages = hexz_test::craft::rebuild(m, !thin);
  for (int mode : {0x00, 0x01, 0x03, 0x07, 0x2b}) {
    put("reader", name + "-" + std::to_string(mode),
        prefixed(static_cast<uint8_t>(mode), raw_pages));
  }
  put("reader", name + "-packed", prefixed(0x00, file));
  // The header target: flags, header, then the master index and the base table.
  Bytes h{0x01};
  h.insert(h.end(), raw_pages.begin(), raw_pages.begin() + hexz::format::kHeaderSize);
  h.insert(h.end(), m.bases.size() > 0 ? uint8_t(m.header.base_count) : uint8_t(0));
  h.insert(h.end(), m.bases.begin(), m.bases.end());
  put("header", name, h);
  // The index-page target: count, base count, flags, raw page.
  for (size_t p = 0; p < m.pages.size() && p < 2; ++p) {
    const Bytes raw = hexz::format::encode_index_page(m.pages[p]);
    const uint16_t n = static_cast<uint16_t>(m.pages[p].size());
    Bytes s{static_cast<uint8_t>(n & 0xff), static_cast<uint8_t>(n >> 8),
            static_cast<uint8_t>(m.header.base_count), 0};
    s.insert(s.end(), raw.begin(), raw.end());
    put("index_page", name + "-" + std::to_string(p), s);
  }
}

void le32(Bytes& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUTDIR\n");
    return 2;
  }
  g_out = argv[1];
  g_tmp = g_out / "tmp";
  fs::create_directories(g_tmp);
  try {
    const Bytes disk = image(48 * 1024, 1);
    const Bytes mem = image(24 * 1024, 2);
    hexz::PackOptions o;
    snapshot_seeds("zstd", pack("zstd", o, disk, mem), false);
    o.codec = hexz::Codec::kLz4;
    snapshot_seeds("lz4", pack("lz4", o, disk, {}), false);
    o.codec = hexz::Codec::kNone;
    snapshot_seeds("raw", pack("raw", o, {}, mem), false);
    o = {};
    o.cdc = true;
    o.min_chunk = 256;
    o.avg_chunk = 1024;
    o.max_chunk = 4096;
    o.block_size = 8192;
    snapshot_seeds("cdc", pack("cdc", o, disk, mem), false);
    o = {};
    o.train_dictionary = true;
    snapshot_seeds("dict", pack("dict", o, image(512 * 1024, 3), {}), false);
    o = {};
    o.chunk_size = 512;
    o.block_size = 1024;
    snapshot_seeds("small-chunks", pack("small", o, image(8 * 1024, 4), {}), false);
    // Named attachments (format 1.1): the table is parsed on open, the content on reads.
    o = {};
    o.attachments.push_back({"vmstate", "", std::vector<std::byte>(3000, std::byte{0x5a})});
    o.attachments.push_back({"config", "", {std::byte{'{'}, std::byte{'}'}}});
    snapshot_seeds("attach", pack("attach", o, disk, {}), false);
    // A boot trace (the attachment hexz.trace): decoded and replayed into the caches on open.
    {
      o = {};
      pack("trace", o, disk, mem);
      const std::string path = (g_tmp / "trace.hxz").string();
      hexz::OpenOptions ro;
      ro.record_trace = true;
      ro.threads = 1;
      std::vector<std::byte> trace;
      {
        const auto s = hexz::Snapshot::open(path, ro);
        std::vector<std::byte> buf(512);
        for (uint64_t at : {40000, 3000, 20000}) s->read(hexz::Stream::kDisk, at, buf);
        s->read(hexz::Stream::kMemory, 10000, buf);
        trace = s->recorded_trace();
      }
      hexz::add_trace(path, trace);
      snapshot_seeds("trace", read(path), false);
    }
    // A thin snapshot (its base is not resolved by the in-memory reader).
    o = {};
    pack("base", o, disk, {});
    Bytes v2 = disk;
    v2[5000] ^= 1;
    o.base_path = (g_tmp / "base.hxz").string();
    snapshot_seeds("thin", pack("thin", o, v2, {}), true);
    // Encrypted snapshots for the encrypted reader target.
    o = {};
    o.encrypt = true;
    o.password = "fuzz-password";
    o.kdf_memory_kib = 8 * 1024;  // the cheapest cost a reader accepts: fast fuzzing iterations
    o.kdf_iterations = 1;
    o.kdf_parallelism = 1;
    const Bytes enc = pack("enc", o, disk, mem);
    put("encrypted_reader", "enc-0", prefixed(0x00, enc));
    put("encrypted_reader", "enc-4", prefixed(0x04, enc));
    o.codec = hexz::Codec::kLz4;
    put("encrypted_reader", "enc-lz4", prefixed(0x08, pack("enc-lz4", o, image(20000, 5), {})));
    // An encrypted thin snapshot (format 1.2): its sealed base key table is read on open (the
    // base itself is not resolved by the in-memory reader).
    o.codec = hexz::Codec::kZstd;
    pack("ebase", o, disk, {});
    o.base_path = (g_tmp / "ebase.hxz").string();
    put("encrypted_reader", "enc-thin", prefixed(0x00, pack("ethin", o, v2, mem)));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seeds: %s\n", e.what());
    return 1;
  }
  // FastCDC: parameters, then data.
  for (const auto& [mn, av, mx] : {std::tuple{2048u, 8192u, 65536u}, std::tuple{64u, 256u, 1024u},
                                   std::tuple{1000u, 1001u, 1002u}}) {
    Bytes s;
    le32(s, mn);
    le32(s, av);
    le32(s, mx);
    const Bytes data = image(mx > 10000 ? 200000 : 6000, mn);
    s.insert(s.end(), data.begin(), data.end());
    put("fastcdc", "cdc-" + std::to_string(mn), s);
  }
  // Pack: flags, level, chunk shift, block shift, u16 min, u16 avg, u32 max, u32 split, image.
  for (const auto& [flags, level, cs, bs] :
       {std::tuple{1, 3, 12, 16}, std::tuple{2, 1, 9, 10}, std::tuple{6, 0, 12, 14},
        std::tuple{8 | 2, 3, 12, 16}, std::tuple{0x80 | 16 | 1, 9, 10, 12}}) {
    Bytes s{static_cast<uint8_t>(flags), static_cast<uint8_t>(level), static_cast<uint8_t>(cs),
            static_cast<uint8_t>(bs)};
    for (int b : {0x00, 0x01, 0x00, 0x04})
      s.push_back(static_cast<uint8_t>(b));  // min 256, avg 1024
    le32(s, 4096);
    le32(s, 20000);
    const Bytes data = image(flags & 8 ? 40000 : 30000, static_cast<uint32_t>(flags));
    s.insert(s.end(), data.begin(), data.end());
    put("pack", "pack-" + std::to_string(flags), s);
  }
  // HTTP responses as libcurl hands their header lines over.
  const std::string responses[] = {
      "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-65535/2147483648\r\n"
      "ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\nContent-Length: 65536\r\n\r\n",
      "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\nHTTP/1.1 206 Partial Content\r\n"
      "content-range: bytes 100-199/1000\r\netag: W/\"abc\"\r\n\r\n",
      "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"};
  int i = 0;
  for (const auto& r : responses)
    put("http_response", "r" + std::to_string(i++), Bytes(r.begin(), r.end()));
  fs::remove_all(g_tmp);
  return 0;
}
