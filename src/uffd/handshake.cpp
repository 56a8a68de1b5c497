#include "uffd/handshake.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "hexz/error.hpp"

namespace hexz::uffd {
namespace {

[[noreturn]] void bad(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, "bad memory region message: " + what);
}

/// A strict reader of the small JSON subset the handshake uses (objects of numbers), which skips
/// any other value.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : text_(text) {}

  void skip_space() {
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\n' || text_[at_] == '\r' || text_[at_] == '\t'))
      ++at_;
  }
  bool peek(char c) {
    skip_space();
    return at_ < text_.size() && text_[at_] == c;
  }
  void expect(char c) {
    if (!peek(c)) bad(std::string("expected '") + c + "' at byte " + std::to_string(at_));
    ++at_;
  }
  bool at_end() {
    skip_space();
    return at_ == text_.size();
  }
  std::string string() {
    expect('"');
    std::string out;
    while (at_ < text_.size() && text_[at_] != '"') {
      if (text_[at_] == '\\') {
        if (++at_ >= text_.size()) break;
      }
      out += text_[at_++];
    }
    if (at_ >= text_.size()) bad("unterminated string");
    ++at_;
    return out;
  }
  /// A non-negative integer, or nullopt if the value is of another kind (then skipped).
  std::optional<uint64_t> number_or_skip() {
    skip_space();
    if (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
      uint64_t v = 0;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') {
        const uint64_t digit = static_cast<uint64_t>(text_[at_] - '0');
        if (v > (UINT64_MAX - digit) / 10) bad("number out of range");
        v = v * 10 + digit;
        ++at_;
      }
      if (at_ < text_.size() && (text_[at_] == '.' || text_[at_] == 'e' || text_[at_] == 'E'))
        bad("number is not an integer");
      return v;
    }
    skip_value(0);
    return std::nullopt;
  }

 private:
  void skip_value(int depth) {
    if (depth > 32) bad("nested too deeply");
    skip_space();
    if (at_ >= text_.size()) bad("truncated");
    const char c = text_[at_];
    if (c == '"') {
      string();
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++at_;
      if (peek(close)) {
        ++at_;
        return;
      }
      for (;;) {
        if (c == '{') {
          string();
          expect(':');
        }
        skip_value(depth + 1);
        if (peek(',')) {
          ++at_;
          continue;
        }
        expect(close);
        return;
      }
    } else {
      // A number, true, false or null.
      const size_t start = at_;
      while (at_ < text_.size() && std::strchr(",}] \n\r\t", text_[at_]) == nullptr) ++at_;
      if (at_ == start) bad("unexpected character at byte " + std::to_string(at_));
    }
  }

  std::string_view text_;
  size_t at_ = 0;
};

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

}  // namespace

std::vector<MemoryRegion> parse_regions(std::string_view json) {
  JsonCursor c(json);
  std::vector<MemoryRegion> regions;
  c.expect('[');
  if (c.peek(']')) bad("no regions");
  for (;;) {
    c.expect('{');
    std::optional<uint64_t> addr, size, offset, page, page_kib;
    if (!c.peek('}')) {
      for (;;) {
        const std::string key = c.string();
        c.expect(':');
        std::optional<uint64_t> v = c.number_or_skip();
        if (key == "base_host_virt_addr") addr = v;
        if (key == "size") size = v;
        if (key == "offset") offset = v;
        if (key == "page_size") page = v;
        if (key == "page_size_kib") page_kib = v;
        if (c.peek(',')) {
          c.expect(',');
          continue;
        }
        break;
      }
    }
    c.expect('}');
    const std::string which = "region " + std::to_string(regions.size());
    if (!addr || !size || !offset) {
      bad(which + " lacks base_host_virt_addr, size or offset (as integers)");
    }
    MemoryRegion r;
    r.host_address = *addr;
    r.size = *size;
    r.offset = *offset;
    r.page_size = page ? *page : page_kib.value_or(0);
    if (!is_power_of_two(r.page_size) || r.page_size < 4096) {
      bad(which + " has page size " + std::to_string(r.page_size) +
          " (a power of two of at least 4096 is needed)");
    }
    if (r.size == 0) bad(which + " is empty");
    if (r.host_address % r.page_size != 0 || r.size % r.page_size != 0 ||
        r.offset % r.page_size != 0) {
      bad(which + " is not aligned to its page size");
    }
    if (r.host_address + r.size < r.host_address || r.offset + r.size < r.offset) {
      bad(which + " wraps around");
    }
    for (const MemoryRegion& o : regions) {
      if (r.host_address < o.host_address + o.size && o.host_address < r.host_address + r.size) {
        bad(which + " overlaps another region");
      }
    }
    regions.push_back(r);
    if (c.peek(',')) {
      c.expect(',');
      continue;
    }
    break;
  }
  c.expect(']');
  if (!c.at_end()) bad("trailing bytes after the region list");
  return regions;
}

Handshake receive_handshake(int sock, int timeout_ms) {
  Handshake h;
  std::string text;
  int depth = 0;
  bool started = false;
  bool in_string = false;
  try {
    for (;;) {
      pollfd p{sock, POLLIN, 0};
      const int ready = ::poll(&p, 1, timeout_ms);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) bad("none arrived within " + std::to_string(timeout_ms / 1000) + " s");
      char buf[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
      iovec iov{buf, sizeof buf};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        throw Error(ErrorCode::kIo,
                    std::string("cannot read the handshake: ") + std::strerror(errno));
      }
      int fds_here = 0;
      for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
          if (h.uffd < 0 && fds_here == 0) {
            h.uffd = fd;
          } else {
            ::close(fd);
          }
          ++fds_here;
        }
      }
      if (fds_here > 1) {
        bad("it carries " + std::to_string(fds_here) +
            " descriptors; only a userfaultfd is supported (not guest_memfd mode)");
      }
      if ((msg.msg_flags & MSG_CTRUNC) != 0) bad("its descriptors were truncated");
      if (n == 0) throw Error(ErrorCode::kIo, "the VMM closed the socket during the handshake");
      for (ssize_t i = 0; i < n; ++i) {
        const char ch = buf[i];
        text += ch;
        if (text.size() > (1u << 20)) bad("longer than 1 MiB");
        if (in_string) {
          if (ch == '"') in_string = false;
          continue;
        }
        if (ch == '"') in_string = true;
        if (ch == '[' || ch == '{') {
          ++depth;
          started = true;
        }
        if (ch == ']' || ch == '}') --depth;
      }
      if (started && depth <= 0) break;
      // Not a JSON array or object at all: no use waiting for more.
      if (!started && text.find_first_not_of(" \t\r\n") != std::string::npos) break;
    }
    h.regions = parse_regions(text);
    if (h.uffd < 0) bad("no userfaultfd came with it (SCM_RIGHTS)");
  } catch (...) {
    if (h.uffd >= 0) ::close(h.uffd);
    throw;
  }
  return h;
}

}  // namespace hexz::uffd
