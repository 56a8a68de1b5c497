// nbdkit-hexz-plugin: serves one stream of a .hxz snapshot read-only over NBD.
//
//   nbdkit hexz snapshot=vm.hxz [stream=disk|memory] [password-file=FILE | password=-|+FILE|-FD]
//               [cache-size=SIZE] [threads=N] [readahead=SIZE] [base-dir=DIR]...
//               [verify-reads=true] [key=PUB]... [record-trace=FILE] [prefetch=false]
//               [stats-file=FILE]
//
// Every connection shares one hexz::Snapshot (thread-safe: block and index caches, sequential
// readahead, parallel decode), so the thread model is parallel and multi-conn is safe. Zero
// chunks are reported by .extents as hole+zero runs, so nbdcopy and qemu-img skip them.
#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <fcntl.h>
#include <nbdkit-plugin.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hexz/error.hpp"
#include "hexz/signing.hpp"
#include "hexz/snapshot.hpp"
#include "hexz/types.hpp"
#include "hexz/version.hpp"

namespace {

/// Largest NBD request nbdkit may send us (we also advertise it as the maximum block size).
constexpr uint32_t kMaxRequest = 64u << 20;
/// Extents reported per .extents call at most (more is allowed to come in the next call).
constexpr size_t kMaxExtentsPerCall = 65536;
/// How far a REQ_ONE extents query looks ahead (one extent is all the client wants).
constexpr uint64_t kReqOneWindow = 64ull << 20;

/// The key=value parameters given on the nbdkit command line.
struct Config {
  std::string snapshot;  ///< Absolute path (nbdkit changes directory when it daemonizes).
  std::optional<hexz::Stream> stream;
  std::optional<std::string> password;
  hexz::OpenOptions options = default_options();
  bool preload = true;
  std::string record_trace;  ///< record-trace=FILE (absolute)
  std::string stats_file;    ///< stats-file=FILE (absolute)

  static hexz::OpenOptions default_options() {
    hexz::OpenOptions o;
    o.page_cache_bytes = 256ull << 20;
    return o;
  }
};

Config g_config;
/// The snapshot every connection reads; opened after nbdkit forked (the reader starts threads).
std::unique_ptr<hexz::Snapshot> g_snapshot;
hexz::Stream g_stream = hexz::Stream::kDisk;
uint64_t g_size = 0;

/// Overwrites a secret before it is released.
void wipe(std::string& secret) {
  volatile char* p = secret.data();
  for (size_t i = 0; i < secret.size(); ++i) p[i] = 0;
  secret.clear();
}

/// Keeps the process out of core dumps and ptrace from other processes of the user: called as
/// soon as a password is configured (the library does it too once keys are derived).
void keep_out_of_core_dumps() {
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/// The first line of `path` (without "\n" or "\r\n") as a password; nullopt (reported through
/// nbdkit) if the file cannot be read or the line is empty.
std::optional<std::string> read_password_file(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    nbdkit_error("hexz: cannot open password-file '%s': %s", path, std::strerror(errno));
    return std::nullopt;
  }
  constexpr size_t kMax = 64 * 1024;
  std::string line;
  char buf[512];
  bool done = false, failed = false;
  while (!done && !failed && line.size() <= kMax) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) failed = true;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && !done; ++i) {
      if (buf[i] == '\n')
        done = true;
      else
        line.push_back(buf[i]);
    }
  }
  ::explicit_bzero(buf, sizeof buf);
  ::close(fd);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (failed || line.empty() || line.size() > kMax) {
    nbdkit_error("hexz: password-file '%s': %s", path,
                 failed         ? "cannot be read"
                 : line.empty() ? "the first line is empty"
                                : "the first line is too long");
    wipe(line);
    return std::nullopt;
  }
  return line;
}

/// Reports `e` through nbdkit and returns -1 (for the callbacks' error returns).
int fail(const std::exception& e, int err = EIO) {
  nbdkit_error("hexz: %s", e.what());
  nbdkit_set_error(err);
  return -1;
}

int errno_for(const hexz::Error& e) {
  switch (e.code()) {
    case hexz::ErrorCode::kOutOfRange:
    case hexz::ErrorCode::kInvalidArgument:
      return EINVAL;
    default:
      return EIO;
  }
}

/// Opens the configured snapshot with `options` (password and base dirs added here).
std::unique_ptr<hexz::Snapshot> open_snapshot(hexz::OpenOptions options) {
  if (g_config.password) options.password = *g_config.password;
  try {
    auto snapshot = hexz::Snapshot::open(g_config.snapshot, options);
    wipe(options.password);
    return snapshot;
  } catch (const hexz::Error& e) {
    const bool had_password = !options.password.empty();
    wipe(options.password);
    if (e.code() == hexz::ErrorCode::kWrongPassword && !had_password) {
      throw hexz::Error(e.code(), "'" + g_config.snapshot +
                                      "' is encrypted: give password-file=FILE (first line of "
                                      "FILE), password=- (prompt) or set HEXZ_PASSWORD");
    }
    throw;
  }
}

// ---- configuration ----------------------------------------------------------------------------

int hexz_config(const char* key, const char* value) {
  try {
    const std::string k = key;
    if (k == "snapshot" || k == "file") {
      if (std::strstr(value, "://") != nullptr) {  // a URL: the library reads it remotely
        g_config.snapshot = value;
        return 0;
      }
      if (::access(value, R_OK) != 0) {
        nbdkit_error("hexz: snapshot '%s': %s", value, std::strerror(errno));
        return -1;
      }
      // Absolute: nbdkit changes to / when it daemonizes.
      char* path = nbdkit_realpath(value);
      if (path == nullptr) return -1;  // nbdkit_realpath reported why.
      g_config.snapshot = path;
      std::free(path);
    } else if (k == "stream") {
      auto s = hexz::parse_stream(value);
      if (!s) {
        nbdkit_error("hexz: unknown stream '%s' (expected disk or memory)", value);
        return -1;
      }
      g_config.stream = *s;
    } else if (k == "password-file") {
      keep_out_of_core_dumps();
      if (g_config.password) wipe(*g_config.password);
      g_config.password = read_password_file(value);
      if (!g_config.password) return -1;
    } else if (k == "password") {
      keep_out_of_core_dumps();
      if (g_config.password) wipe(*g_config.password);
      char* pw = nullptr;
      if (nbdkit_read_password(value, &pw) == -1) return -1;
      g_config.password = std::string(pw != nullptr ? pw : "");
      if (pw != nullptr) {
        std::memset(pw, 0, std::strlen(pw));
        std::free(pw);
      }
    } else if (k == "cache-size") {
      const int64_t n = nbdkit_parse_size(value);
      if (n < 0) return -1;
      g_config.options.block_cache_bytes = static_cast<uint64_t>(n);
    } else if (k == "readahead") {
      const int64_t n = nbdkit_parse_size(value);
      if (n < 0) return -1;
      g_config.options.readahead_bytes = static_cast<uint64_t>(n);
    } else if (k == "index-cache") {
      const int64_t n = nbdkit_parse_size(value);
      if (n < 0) return -1;
      g_config.options.page_cache_bytes = static_cast<uint64_t>(n);
    } else if (k == "preload") {
      const int b = nbdkit_parse_bool(value);
      if (b == -1) return -1;
      g_config.preload = b != 0;
    } else if (k == "record-trace" || k == "stats-file") {
      // Absolute: nbdkit changes to / when it daemonizes. The file need not exist yet.
      std::string path = value;
      if (path.empty()) {
        nbdkit_error("hexz: %s needs a file name", key);
        return -1;
      }
      if (path[0] != '/') {
        char* cwd = ::getcwd(nullptr, 0);
        if (cwd == nullptr) {
          nbdkit_error("hexz: %s: cannot get the current directory: %s", key, std::strerror(errno));
          return -1;
        }
        path = std::string(cwd) + "/" + path;
        std::free(cwd);
      }
      (k == "record-trace" ? g_config.record_trace : g_config.stats_file) = path;
      if (k == "record-trace") g_config.options.record_trace = true;
    } else if (k == "hydrate") {
      const int64_t n = nbdkit_parse_size(value);
      if (n < 0) return -1;
      g_config.options.hydrate_bytes_per_second = static_cast<uint64_t>(n);
    } else if (k == "prefetch") {
      const int b = nbdkit_parse_bool(value);
      if (b == -1) return -1;
      g_config.options.prefetch = b != 0;
    } else if (k == "threads") {
      unsigned n = 0;
      if (nbdkit_parse_unsigned("threads", value, &n) == -1) return -1;
      g_config.options.threads = n;
    } else if (k == "key") {
      g_config.options.trusted_keys.push_back(hexz::read_public_key(value));
    } else if (k == "verify-reads") {
      const int b = nbdkit_parse_bool(value);
      if (b == -1) return -1;
      g_config.options.verify_reads = b != 0;
    } else if (k == "base-dir") {
      g_config.options.base_dirs.emplace_back(value);
    } else {
      nbdkit_error("hexz: unknown parameter '%s' (see nbdkit hexz --help)", key);
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

int hexz_config_complete() {
  if (g_config.snapshot.empty()) {
    nbdkit_error("hexz: the snapshot parameter is required (nbdkit hexz snapshot=FILE.hxz)");
    return -1;
  }
  // $HEXZ_PASSWORD is taken once and removed from the environment, so that nothing nbdkit
  // starts later (--run commands, filters' helpers) inherits it.
  if (const char* env = std::getenv("HEXZ_PASSWORD"); env != nullptr) {
    if (!g_config.password && *env != '\0') {
      keep_out_of_core_dumps();
      g_config.password = std::string(env);
    }
    ::unsetenv("HEXZ_PASSWORD");
  }
  return 0;
}

/// Validates the snapshot and the stream before nbdkit starts serving (and, unless -f, forks).
int hexz_get_ready() {
  try {
    hexz::OpenOptions probe = g_config.options;
    probe.threads = 1;  // No reader threads before the fork.
    probe.readahead_bytes = 0;
    probe.block_cache_bytes = 0;
    probe.prefetch = false;
    probe.preload_index = false;
    probe.record_trace = false;
    auto snapshot = open_snapshot(probe);
    if (g_config.stream) {
      g_stream = *g_config.stream;
      if (!snapshot->has_stream(g_stream)) {
        nbdkit_error("hexz: '%s' has no %s stream", g_config.snapshot.c_str(),
                     hexz::stream_name(g_stream));
        return -1;
      }
    } else if (snapshot->has_stream(hexz::Stream::kDisk)) {
      g_stream = hexz::Stream::kDisk;
    } else if (snapshot->has_stream(hexz::Stream::kMemory)) {
      g_stream = hexz::Stream::kMemory;
    } else {
      nbdkit_error("hexz: '%s' has no streams", g_config.snapshot.c_str());
      return -1;
    }
    g_size = snapshot->size(g_stream);
    nbdkit_debug("hexz: serving the %s stream of %s (%llu bytes)", hexz::stream_name(g_stream),
                 g_config.snapshot.c_str(), static_cast<unsigned long long>(g_size));
    return 0;
  } catch (const hexz::Error& e) {
    nbdkit_error("hexz: %s", e.what());
    return -1;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

/// Opens the snapshot for serving, now that nbdkit has forked.
int hexz_after_fork() {
  try {
    // preload: the index is loaded in the background, several pages at a time, after the boot
    // trace's pages and blocks, so the first connection is accepted at once.
    hexz::OpenOptions options = g_config.options;
    options.preload_index = g_config.preload;
    g_snapshot = open_snapshot(options);
    if (g_config.password) wipe(*g_config.password);
    if (const auto stats = g_snapshot->stats(); !stats.trace_error.empty()) {
      std::fprintf(stderr, "hexz: warning: %s; it is not replayed\n", stats.trace_error.c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    return fail(e);
  }
}

/// Writes `bytes` to `path` through a temporary file renamed into place; reports failures.
void write_file_atomically(const std::string& path, const void* bytes, size_t size) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  const auto* p = static_cast<const char*>(bytes);
  size_t done = 0;
  while (ok && done < size) {
    const ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  if (fd >= 0 && ::close(fd) != 0) ok = false;
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) ok = false;
  if (!ok) {
    nbdkit_error("hexz: cannot write '%s': %s", path.c_str(), std::strerror(errno));
    ::unlink(tmp.c_str());
  }
}

/// Writes the recorded trace and the statistics, if asked to (after each connection, at exit).
void write_outputs() {
  if (!g_snapshot) return;
  // Connections close on their own threads: one writer at a time (they share the temp name).
  static std::mutex mu;
  std::lock_guard lock(mu);
  try {
    if (!g_config.record_trace.empty()) {
      const auto trace = g_snapshot->recorded_trace();
      write_file_atomically(g_config.record_trace, trace.data(), trace.size());
    }
    if (!g_config.stats_file.empty()) {
      const std::string json = hexz::read_stats_json(g_snapshot->stats());
      write_file_atomically(g_config.stats_file, json.data(), json.size());
    }
  } catch (const std::exception& e) {
    nbdkit_error("hexz: %s", e.what());
  }
}

void hexz_close(void* /*handle*/) {
  write_outputs();
}

void hexz_unload() {
  write_outputs();
  g_snapshot.reset();
  if (g_config.password) wipe(*g_config.password);
}

void hexz_dump_plugin() {
  std::printf("hexz_version=%s\n", hexz::kVersionString);
  std::printf("hexz_format=%u.%u\n", hexz::kFormatVersionMajor, hexz::kFormatVersionMinor);
}

// ---- connections ------------------------------------------------------------------------------

/// Every connection uses the shared snapshot; the handle only needs to be non-null.
int g_handle_tag = 0;

void* hexz_open(int /*readonly*/) {
  if (!g_snapshot) {
    nbdkit_error("hexz: the snapshot is not open");
    return nullptr;
  }
  return &g_handle_tag;
}

int64_t hexz_get_size(void* /*handle*/) {
  return static_cast<int64_t>(g_size);
}

int hexz_false(void* /*handle*/) {
  return 0;
}

int hexz_true(void* /*handle*/) {
  return 1;
}

int hexz_can_cache(void* /*handle*/) {
  return NBDKIT_CACHE_NATIVE;
}

int hexz_block_size(void* /*handle*/, uint32_t* minimum, uint32_t* preferred, uint32_t* maximum) {
  *minimum = 1;
  *preferred = 4096;
  *maximum = kMaxRequest;
  return 0;
}

int hexz_pread(void* /*handle*/, void* buf, uint32_t count, uint64_t offset, uint32_t /*flags*/) {
  try {
    g_snapshot->read(g_stream, offset, std::span<std::byte>(static_cast<std::byte*>(buf), count));
    return 0;
  } catch (const hexz::Error& e) {
    return fail(e, errno_for(e));
  } catch (const std::exception& e) {
    return fail(e);
  }
}

/// NBD_CMD_CACHE: decode the range into the reader's block cache (a hint; data is discarded).
int hexz_cache(void* /*handle*/, uint32_t count, uint64_t offset, uint32_t /*flags*/) {
  try {
    constexpr uint32_t kPiece = 4u << 20;
    thread_local std::vector<std::byte> scratch;
    for (uint64_t done = 0; done < count;) {
      const auto n = static_cast<uint32_t>(std::min<uint64_t>(kPiece, count - done));
      if (scratch.size() < n) scratch.resize(n);
      g_snapshot->read(g_stream, offset + done, std::span<std::byte>(scratch.data(), n));
      done += n;
    }
    return 0;
  } catch (const hexz::Error& e) {
    return fail(e, errno_for(e));
  } catch (const std::exception& e) {
    return fail(e);
  }
}

int hexz_extents(void* /*handle*/, uint32_t count, uint64_t offset, uint32_t flags,
                 struct nbdkit_extents* extents) {
  try {
    uint64_t length = std::min<uint64_t>(count, g_size - std::min(offset, g_size));
    if ((flags & NBDKIT_FLAG_REQ_ONE) != 0) length = std::min(length, kReqOneWindow);
    if (length == 0) return 0;
    size_t added = 0;
    bool failed = false;
    g_snapshot->for_each_extent(
        g_stream, offset, length, [&](uint64_t off, uint64_t len, bool is_zero) {
          if (failed || added >= kMaxExtentsPerCall) return;
          const uint32_t type = is_zero ? (NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO) : 0;
          if (nbdkit_add_extent(extents, off, len, type) == -1) {
            failed = true;
            return;
          }
          ++added;
        });
    return failed ? -1 : 0;
  } catch (const hexz::Error& e) {
    return fail(e, errno_for(e));
  } catch (const std::exception& e) {
    return fail(e);
  }
}

struct nbdkit_plugin make_plugin() {
  struct nbdkit_plugin p = {};
  p.name = "hexz";
  p.longname = "hexz snapshot plugin";
  p.version = hexz::kVersionString;
  p.description = "Serves the disk or memory stream of a hexz (.hxz) snapshot, read-only";
  p.unload = hexz_unload;
  p.config = hexz_config;
  p.config_complete = hexz_config_complete;
  p.config_help =
      "snapshot=<FILE>      (required) The .hxz snapshot to serve.\n"
      "stream=disk|memory   The stream to export (default: disk, else memory).\n"
      "password-file=<FILE> The password of an encrypted snapshot: the first line of FILE.\n"
      "password=-|+FILE|-FD Likewise: '-' prompts, '+FILE' reads FILE, '-FD' reads a file\n"
      "                     descriptor (default: $HEXZ_PASSWORD). A literal password=SECRET\n"
      "                     also works but is visible to every user in ps: avoid it. With a\n"
      "                     password the snapshot must be encrypted (an unencrypted file is\n"
      "                     refused), and the process is made non-dumpable.\n"
      "cache-size=<SIZE>    Memory for decoded blocks (default 64M).\n"
      "readahead=<SIZE>     Decode this far ahead of sequential readers (default 8M).\n"
      "index-cache=<SIZE>   Memory for decoded index pages (default 256M).\n"
      "preload=false        Do not load the index in the background (by default as much of\n"
      "                     it as index-cache holds is, several pages at a time).\n"
      "threads=<N>          Decode threads (default: one per core).\n"
      "base-dir=<DIR>       Where to look for the bases of a thin snapshot (repeatable).\n"
      "verify-reads=true    Check every chunk served against its BLAKE3 digest first\n"
      "                     (a mismatch fails the NBD read with EIO).\n"
      "key=<PUB>            Require a signature by this public key (hexz keygen/sign;\n"
      "                     repeatable: any one of them).\n"
      "record-trace=<FILE>  Record the order in which index pages and blocks are first\n"
      "                     read; written to FILE after each connection and at exit\n"
      "                     (store it with: hexz trace add SNAP FILE).\n"
      "prefetch=false       Do not replay the snapshot's boot trace (by default its blocks\n"
      "                     are fetched ahead of the reads when it has one).\n"
      "hydrate=<RATE>       After the trace, fetch the rest of a remote snapshot into the\n"
      "                     disk cache ($HEXZ_CACHE_DIR) at most RATE bytes per second.\n"
      "stats-file=<FILE>    Write the reader's statistics (JSON: demand misses, prefetched\n"
      "                     and never-used bytes, requests) after each connection and at exit.";
  p.magic_config_key = "snapshot";
  p.get_ready = hexz_get_ready;
  p.after_fork = hexz_after_fork;
  p.dump_plugin = hexz_dump_plugin;
  p.open = hexz_open;
  p.close = hexz_close;
  p.get_size = hexz_get_size;
  p.can_write = hexz_false;
  p.can_flush = hexz_false;
  p.is_rotational = hexz_false;
  p.can_trim = hexz_false;
  p.can_zero = hexz_false;
  p.can_fast_zero = hexz_false;
  p.can_multi_conn = hexz_true;
  p.can_extents = hexz_true;
  p.can_cache = hexz_can_cache;
  p.block_size = hexz_block_size;
  p.pread = hexz_pread;
  p.cache = hexz_cache;
  p.extents = hexz_extents;
  p.errno_is_preserved = 0;
  return p;
}

struct nbdkit_plugin plugin = make_plugin();

}  // namespace

NBDKIT_REGISTER_PLUGIN(plugin)
