#include "support/test_data.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string_view>

namespace hexz_test {

// ---------------------------------------------------------------------------
// TempDir

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "hexz-test-XXXXXX").string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
  }
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  // Make everything removable again (tests chmod files and directories).
  for (auto it = fs::recursive_directory_iterator(
           path_, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ignore;
    if (!it->is_symlink(ignore)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ignore);
    }
  }
  fs::remove_all(path_, ec);
}

// ---------------------------------------------------------------------------
// Files

void write_file(const std::string& path, const Bytes& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot create " + path);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

Bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  f.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(f.tellg());
  f.seekg(0);
  Bytes data(size);
  f.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size));
  if (!f) throw std::runtime_error("cannot read " + path);
  return data;
}

bool files_equal(const std::string& a, const std::string& b) {
  return read_file(a) == read_file(b);
}

std::vector<std::string> list_dir(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void make_sparse_file(const std::string& path, uint64_t size,
                      const std::vector<std::pair<uint64_t, Bytes>>& pieces) {
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    ::close(fd);
    throw std::runtime_error("ftruncate failed on " + path);
  }
  for (const auto& [offset, bytes] : pieces) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n =
          ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
      if (n <= 0) {
        ::close(fd);
        throw std::runtime_error("pwrite failed on " + path);
      }
      done += static_cast<size_t>(n);
    }
  }
  ::close(fd);
}

uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("stat failed on " + path);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

bool filesystem_supports_holes(const fs::path& dir) {
  std::string probe = (dir / ".hole-probe").string();
  make_sparse_file(probe, 16u << 20, {{8u << 20, Bytes(4096, 0xAB)}});
  bool ok = allocated_bytes(probe) < (1u << 20);
  std::error_code ec;
  fs::remove(probe, ec);
  return ok;
}

// ---------------------------------------------------------------------------
// Generators

namespace {

constexpr std::array<std::string_view, 72> kWords = {
    "the",     "kernel",    "module",  "config",    "device",  "error",   "warning", "info",
    "debug",   "user",      "root",    "home",      "var",     "log",     "etc",     "usr",
    "lib",     "bin",       "system",  "service",   "network", "address", "port",    "socket",
    "file",    "directory", "mount",   "partition", "disk",    "memory",  "page",    "cache",
    "buffer",  "process",   "thread",  "signal",    "timeout", "connect", "started", "stopped",
    "enabled", "disabled",  "version", "package",   "install", "update",  "return",  "static",
    "const",   "int",       "char",    "void",      "struct",  "include", "define",  "if",
    "else",    "for",       "while",   "nginx",     "ssh",     "cron",    "journal", "boot",
    "grub",    "linux",     "x86_64",  "amd64",     "0x7f",    "=",       "true",    "false"};

constexpr std::array<char, 8> kPunct = {' ', ' ', ' ', ' ', '.', ',', ':', '/'};

uint64_t uniform(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {  // inclusive
  return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
}

void put_le(Bytes& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

void append_text(Bytes& out, size_t n, std::mt19937_64& rng) {
  size_t end = out.size() + n;
  while (out.size() < end) {
    std::string_view w = kWords[uniform(rng, 0, kWords.size() - 1)];
    for (char c : w) out.push_back(static_cast<uint8_t>(c));
    uint64_t r = uniform(rng, 0, 15);
    if (r == 0) {
      out.push_back('\n');
    } else if (r == 1) {
      // A number, as in log timestamps and config values.
      std::string num = std::to_string(uniform(rng, 0, 99999));
      out.push_back(' ');
      for (char c : num) out.push_back(static_cast<uint8_t>(c));
      out.push_back('\n');
    } else {
      out.push_back(static_cast<uint8_t>(kPunct[uniform(rng, 0, kPunct.size() - 1)]));
    }
  }
  out.resize(end);
}

void append_small_alphabet(Bytes& out, size_t n, std::mt19937_64& rng) {
  static constexpr std::array<uint8_t, 6> kAlphabet = {0x00, 0x01, 0x0f, 0x55, 0xaa, 0xff};
  uint64_t size = uniform(rng, 2, kAlphabet.size());
  for (size_t i = 0; i < n; ++i) out.push_back(kAlphabet[uniform(rng, 0, size - 1)]);
}

void append_x86ish(Bytes& out, size_t n, std::mt19937_64& rng) {
  static const std::vector<std::vector<uint8_t>> kInsns = {
      {0x55},                          // push rbp
      {0x48, 0x89, 0xe5},              // mov rbp, rsp
      {0x48, 0x83, 0xec},              // sub rsp, imm8 (imm follows)
      {0xc3},                          // ret
      {0x90},                          // nop
      {0x0f, 0x1f, 0x44, 0x00, 0x00},  // nopl
      {0x48, 0x8b, 0x45},              // mov rax, [rbp+imm8]
      {0x89, 0x7d},                    // mov [rbp+imm8], edi
      {0x5d},                          // pop rbp
      {0xe8},                          // call rel32 (imm follows)
      {0x48, 0x8d, 0x3d},              // lea rdi, [rip+rel32]
      {0x31, 0xc0},                    // xor eax, eax
      {0x74},                          // je rel8
      {0x0f, 0x85},                    // jne rel32
      {0xcc},                          // int3 padding
  };
  size_t end = out.size() + n;
  while (out.size() < end) {
    size_t k = uniform(rng, 0, kInsns.size() - 1);
    out.insert(out.end(), kInsns[k].begin(), kInsns[k].end());
    switch (k) {
      case 2:
      case 6:
      case 7:
      case 12:
        out.push_back(static_cast<uint8_t>(uniform(rng, 0, 0x7f) & 0xf8));
        break;
      case 9:
      case 10:
      case 13:
        put_le(out, uniform(rng, 0, 0xffff) - 0x8000, 4);
        break;
      default:
        break;
    }
  }
  out.resize(end);
}

void append_structs(Bytes& out, size_t n, std::mt19937_64& rng) {
  size_t end = out.size() + n;
  uint64_t counter = uniform(rng, 0, 1u << 20);
  uint64_t base = 0x00007f0000000000ull + (uniform(rng, 0, 0xffffff) << 12);
  while (out.size() < end) {
    put_le(out, counter++, 4);                         // inode / sequence number
    put_le(out, uniform(rng, 0, 3), 2);                // type
    put_le(out, 0x1ed, 2);                             // mode 0755
    put_le(out, base + uniform(rng, 0, 255) * 64, 8);  // pointer
    put_le(out, uniform(rng, 0, 4096), 4);             // size
    put_le(out, 0, 4);                                 // padding
  }
  out.resize(end);
}

void append_random(Bytes& out, size_t n, std::mt19937_64& rng) {
  size_t start = out.size();
  out.resize(start + n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + start + i, &v, 8);
  }
  if (i < n) {
    uint64_t v = rng();
    std::memcpy(out.data() + start + i, &v, n - i);
  }
}

void append_zeros(Bytes& out, size_t n) {
  out.insert(out.end(), n, 0);
}

Bytes random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out;
  out.reserve(n);
  append_random(out, n, rng);
  return out;
}

Bytes text_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + 1);
  Bytes out;
  out.reserve(n);
  // A seed-specific prefix keeps different seeds apart even if the words repeat.
  std::string prefix = "seed=" + std::to_string(seed) + "\n";
  out.insert(out.end(), prefix.begin(), prefix.end());
  if (out.size() > n) out.resize(n);
  if (out.size() < n) append_text(out, n - out.size(), rng);
  return out;
}

Bytes make_disk_image(size_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out;
  out.reserve(size + (256u << 10));
  constexpr size_t kPage = 4096;
  auto align_with_text = [&] {
    size_t pad = (kPage - out.size() % kPage) % kPage;
    append_text(out, pad, rng);
  };
  while (out.size() < size) {
    switch (uniform(rng, 0, 9)) {
      case 0:
      case 1:
        append_text(out, uniform(rng, 1000, 40000), rng);
        break;
      case 2:
        append_x86ish(out, uniform(rng, 2000, 30000), rng);
        break;
      case 3:
        append_structs(out, uniform(rng, 500, 20000), rng);
        break;
      case 4:
        append_small_alphabet(out, uniform(rng, 300, 9000), rng);
        break;
      case 5:
        append_random(out, uniform(rng, 3000, 50000), rng);
        break;
      case 6: {  // whole zero chunks (and the partial zeros that align to them)
        size_t pad = (kPage - out.size() % kPage) % kPage;
        append_zeros(out, pad + kPage * uniform(rng, 1, 24));
        break;
      }
      case 7:
        append_zeros(out, uniform(rng, 1, 3000));
        break;  // partial zero run
      case 8:
      case 9: {  // repeat an earlier 4 KiB-aligned extent at an aligned offset
        align_with_text();
        size_t pages = uniform(rng, 1, 6);
        if (out.size() >= pages * kPage) {
          size_t src = kPage * uniform(rng, 0, out.size() / kPage - pages);
          for (size_t i = 0; i < pages * kPage; ++i) out.push_back(out[src + i]);
        }
        break;
      }
    }
  }
  out.resize(size);
  return out;
}

Bytes make_memory_image(size_t size, const Bytes& disk, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out;
  out.reserve(size + (256u << 10));
  constexpr size_t kPage = 4096;
  while (out.size() < size) {
    switch (uniform(rng, 0, 8)) {
      case 0:
      case 1:
        append_zeros(out, kPage * uniform(rng, 1, 32));
        break;
      case 2:
      case 3: {  // page-cache copies of disk chunks
        size_t pages = uniform(rng, 1, 8);
        if (disk.size() >= pages * kPage) {
          size_t src = kPage * uniform(rng, 0, disk.size() / kPage - pages);
          out.insert(out.end(), disk.begin() + static_cast<long>(src),
                     disk.begin() + static_cast<long>(src + pages * kPage));
        } else {
          append_structs(out, kPage, rng);
        }
        break;
      }
      case 4:
        append_x86ish(out, kPage * uniform(rng, 1, 6), rng);
        break;
      case 5:
        append_structs(out, kPage * uniform(rng, 1, 6), rng);
        break;
      case 6:
        append_random(out, kPage * uniform(rng, 1, 4), rng);
        break;
      case 7:
        append_text(out, kPage * uniform(rng, 1, 3), rng);
        break;
      case 8: {  // a partly used page: data then zeros
        size_t used = uniform(rng, 16, kPage - 16);
        append_structs(out, used, rng);
        append_zeros(out, kPage - used);
        break;
      }
    }
  }
  out.resize(size);
  return out;
}

// ---------------------------------------------------------------------------
// Model

void model_stats(const Bytes* disk, const Bytes* memory, uint32_t chunk, ExpectedStats out[2]) {
  std::set<std::string> seen;
  const Bytes* streams[2] = {disk, memory};
  for (int s = 0; s < 2; ++s) {
    out[s] = ExpectedStats{};
    if (streams[s] == nullptr) continue;
    const Bytes& data = *streams[s];
    for (size_t off = 0; off < data.size(); off += chunk) {
      size_t len = std::min<size_t>(chunk, data.size() - off);
      const uint8_t* p = data.data() + off;
      ++out[s].chunks;
      if (std::all_of(p, p + len, [](uint8_t b) { return b == 0; })) {
        ++out[s].zero_chunks;
      } else if (!seen.insert(std::string(reinterpret_cast<const char*>(p), len)).second) {
        ++out[s].dup_chunks;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Snapshot helpers

Bytes read_range(const hexz::Snapshot& snap, hexz::Stream s, uint64_t offset, size_t len) {
  Bytes out(len, 0xCD);  // poison: a read that leaves bytes unwritten shows up
  snap.read(s, offset, std::as_writable_bytes(std::span<uint8_t>(out)));
  return out;
}

Bytes read_stream(const hexz::Snapshot& snap, hexz::Stream s, size_t piece) {
  uint64_t size = snap.size(s);
  Bytes out(static_cast<size_t>(size), 0xCD);
  for (uint64_t off = 0; off < size; off += piece) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(piece, size - off));
    snap.read(s, off, std::as_writable_bytes(std::span<uint8_t>(out.data() + off, len)));
  }
  return out;
}

long long first_difference(const Bytes& a, const Bytes& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return static_cast<long long>(i);
  }
  if (a.size() != b.size()) return static_cast<long long>(n);
  return -1;
}

}  // namespace hexz_test
