// The handshake a VMM (Firecracker's protocol) starts a memory server with: one JSON message
// describing the guest memory regions, with the userfaultfd passed as SCM_RIGHTS.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "hexz/memory.hpp"

namespace hexz::uffd {

/// Parses the region list, compact or not:
/// `[{"base_host_virt_addr":A,"size":S,"offset":O,"page_size":P,"page_size_kib":P},...]`.
/// Unknown members are ignored; `page_size` (else the older `page_size_kib`, which also holds
/// bytes) gives the page size. Throws hexz::Error (kInvalidArgument) naming what is wrong: not
/// JSON, a missing member, a page size that is not a power of two of at least 4096, a region
/// that is empty, not page-aligned, wraps, or overlaps another.
std::vector<MemoryRegion> parse_regions(std::string_view json);

/// What the VMM sent on the socket.
struct Handshake {
  std::vector<MemoryRegion> regions;
  int uffd = -1;  ///< The userfaultfd (owned by the caller from now on).
};

/// Reads the handshake from connected socket `sock`: the JSON (which may arrive in several
/// pieces) and exactly one descriptor. Waits at most `timeout_ms`. Throws hexz::Error
/// (kInvalidArgument for a bad message, no descriptor or several, kIo for socket errors or EOF).
Handshake receive_handshake(int sock, int timeout_ms);

}  // namespace hexz::uffd
