// The directory of a writable mount (`hexz mount --overlay DIR`): its side files and the small
// overlay.json that says which snapshot they belong to. Header-only, so that `hexz commit` can
// read it also in a build without FUSE.
//
// DIR/overlay.json is one flat JSON object, e.g.
//   {"format":"hexz-overlay","version":1,"snapshot":"/vm/base.hxz","identity":"3f…",
//    "disk_size":17825792,"memory_size":0}
// identity is the snapshot's identity (64 hex digits, SnapshotInfo::identity_hex); disk_size
// and memory_size are the sizes of the side files DIR/disk.overlay and DIR/memory.overlay (0 or
// absent: the snapshot has no such stream). snapshot is informative only (where it was
// mounted from). Unknown keys are ignored.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "hexz/error.hpp"
#include "hexz/types.hpp"

namespace hexz::overlay {

/// Name of the metadata file in an overlay directory.
inline constexpr const char* kMetaName = "overlay.json";
/// Value of its "format" key.
inline constexpr const char* kFormatName = "hexz-overlay";
/// Version of the layout written here; a larger one is refused.
inline constexpr uint64_t kVersion = 1;

/// What overlay.json records.
struct OverlayMeta {
  uint64_t version = kVersion;
  std::string snapshot;  ///< Where the snapshot was mounted from when the directory was made.
  std::string identity;  ///< The snapshot's identity, 64 hex digits.
  uint64_t sizes[kStreamCount] = {};  ///< Side file sizes per stream (0 = no such stream).
};

/// The side file name of `stream`: "disk.overlay" or "memory.overlay".
inline std::string side_file_name(Stream stream) {
  return std::string(stream_name(stream)) + ".overlay";
}

/// `text` as a JSON string literal (quotes included).
inline std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
      out += esc;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

/// The text of overlay.json for `meta` (one line, newline-terminated).
inline std::string format_meta(const OverlayMeta& meta) {
  return std::string("{\"format\":\"") + kFormatName +
         "\",\"version\":" + std::to_string(meta.version) +
         ",\"snapshot\":" + json_quote(meta.snapshot) +
         ",\"identity\":" + json_quote(meta.identity) +
         ",\"disk_size\":" + std::to_string(meta.sizes[static_cast<int>(Stream::kDisk)]) +
         ",\"memory_size\":" + std::to_string(meta.sizes[static_cast<int>(Stream::kMemory)]) +
         "}\n";
}

namespace detail {

/// A reader of the flat JSON objects format_meta() writes (string and unsigned integer values).
class FlatJson {
 public:
  FlatJson(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  /// Calls on_string(key, value) / on_number(key, value) for each member, in order. Throws
  /// kCorrupt for anything else than a flat object of strings and unsigned integers.
  template <class OnString, class OnNumber>
  void parse(OnString on_string, OnNumber on_number) {
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++i_;
    } else {
      for (;;) {
        const std::string key = string_value();
        expect(':');
        skip_space();
        if (peek() == '"') {
          on_string(key, string_value());
        } else {
          on_number(key, number_value());
        }
        skip_space();
        const char c = next();
        if (c == '}') break;
        if (c != ',') fail("',' or '}' expected");
      }
    }
    skip_space();
    if (i_ != s_.size()) fail("text after the object");
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw Error(ErrorCode::kCorrupt,
                what_ + " is not valid: " + why + " at byte " + std::to_string(i_));
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  char next() {
    if (i_ >= s_.size()) fail("unexpected end");
    return s_[i_++];
  }
  void expect(char c) {
    skip_space();
    if (next() != c) fail(std::string("'") + c + "' expected");
  }
  std::string string_value() {
    expect('"');
    std::string out;
    for (;;) {
      char c = next();
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      c = next();
      switch (c) {
        case '"':
        case '\\':
        case '/':
          out.push_back(c);
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          unsigned code = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = next();
            code <<= 4;
            if (h >= '0' && h <= '9') {
              code |= static_cast<unsigned>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
              code |= static_cast<unsigned>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
              code |= static_cast<unsigned>(h - 'A' + 10);
            } else {
              fail("bad \\u escape");
            }
          }
          if (code < 0x80) {
            out.push_back(static_cast<char>(code));
          } else if (code < 0x800) {
            out.push_back(static_cast<char>(0xc0 | (code >> 6)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
          } else {  // surrogates are kept as their own code units (informative text only)
            out.push_back(static_cast<char>(0xe0 | (code >> 12)));
            out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (code & 0x3f)));
          }
          break;
        }
        default:
          fail("bad escape");
      }
    }
  }
  uint64_t number_value() {
    if (peek() < '0' || peek() > '9') fail("a string or an unsigned integer expected");
    uint64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const auto d = static_cast<uint64_t>(next() - '0');
      if (v > (UINT64_MAX - d) / 10) fail("number too large");
      v = v * 10 + d;
    }
    return v;
  }

  const std::string& s_;
  std::string what_;
  size_t i_ = 0;
};

}  // namespace detail

/// Parses the text of an overlay.json (`what` names it in messages). Throws kCorrupt if it is
/// not one (no "format":"hexz-overlay", no identity), kUnsupported for a newer version.
inline OverlayMeta parse_meta(const std::string& text, const std::string& what) {
  OverlayMeta meta;
  std::string format;
  bool have_version = false;
  detail::FlatJson json(text, what);
  json.parse(
      [&](const std::string& key, const std::string& value) {
        if (key == "format") format = value;
        if (key == "snapshot") meta.snapshot = value;
        if (key == "identity") meta.identity = value;
      },
      [&](const std::string& key, uint64_t value) {
        if (key == "version") {
          meta.version = value;
          have_version = true;
        }
        if (key == "disk_size") meta.sizes[static_cast<int>(Stream::kDisk)] = value;
        if (key == "memory_size") meta.sizes[static_cast<int>(Stream::kMemory)] = value;
      });
  if (format != kFormatName || !have_version) {
    throw Error(ErrorCode::kCorrupt, what + " is not a hexz overlay description");
  }
  if (meta.version > kVersion) {
    throw Error(ErrorCode::kUnsupported, what + " has version " + std::to_string(meta.version) +
                                             "; this hexz reads version " +
                                             std::to_string(kVersion));
  }
  if (meta.identity.size() != 64) {
    throw Error(ErrorCode::kCorrupt, what + " names no snapshot identity");
  }
  return meta;
}

/// Reads DIR/overlay.json; nullopt if it does not exist. Throws kIo if it cannot be read, and
/// what parse_meta() throws.
inline std::optional<OverlayMeta> read_meta(const std::string& dir) {
  const std::string path = dir + "/" + kMetaName;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw Error(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo, "cannot read '" + path + "': " + std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 16)) {
      ::close(fd);
      throw Error(ErrorCode::kCorrupt, "'" + path + "' is too large for an overlay description");
    }
  }
  ::close(fd);
  return parse_meta(text, "'" + path + "'");
}

/// How long lock_dir() waits for a conflicting lock to go: a mount that was just unmounted
/// still syncs its side files before its serving process ends and releases the lock.
inline constexpr int kLockWaitMs = 5000;

/// Takes a lock on the overlay directory `dir` (flock of the directory itself), held until the
/// returned descriptor is closed: exclusive for a mount that writes into it, shared for a commit
/// that reads it. Waits up to kLockWaitMs for a conflicting lock to be released; then returns
/// -1 with errno EWOULDBLOCK. Returns -1 with errno set if the directory cannot be opened.
inline int lock_dir(const std::string& dir, bool exclusive) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  for (int waited = 0;; waited += 50) {
    if (::flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0) return fd;
    if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= kLockWaitMs) break;
    ::usleep(50 * 1000);
  }
  const int err = errno;
  ::close(fd);
  errno = err;
  return -1;
}

}  // namespace hexz::overlay
