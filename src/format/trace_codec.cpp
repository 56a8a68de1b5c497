// Encoding and checking boot traces (FORMAT.md section 10.7).
#include <algorithm>
#include <cstring>

#include "hash/checksum.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "hexz/trace.hpp"
#include "util/endian.hpp"

namespace hexz {

namespace {

constexpr unsigned char kMagic[8] = {'H', 'X', 'Z', 'T', 'R', 'A', 'C', 'E'};
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kEventBytes = 40;
constexpr size_t kTrailerBytes = 8;
/// Largest raw block (FORMAT.md rule E5) and the most a stored form may add to it (the tag).
constexpr uint32_t kMaxBlockRaw = 16u << 20;
constexpr uint32_t kMaxSealOverhead = 16;

using util::load_le;
using util::store_le;

}  // namespace

std::vector<std::byte> encode_trace(const Trace& trace) {
  if (trace.events.size() > kMaxTraceEvents) {
    throw Error(ErrorCode::kInvalidArgument, "a trace holds at most " +
                                                 std::to_string(kMaxTraceEvents) + " events, not " +
                                                 std::to_string(trace.events.size()));
  }
  std::vector<unsigned char> out(kHeaderBytes + trace.events.size() * kEventBytes + kTrailerBytes);
  unsigned char* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  store_le<uint16_t>(p + 8, kVersion);
  store_le<uint16_t>(p + 10, 0);
  store_le<uint32_t>(p + 12, static_cast<uint32_t>(trace.events.size()));
  std::memcpy(p + 16, trace.index_digest.data(), 32);
  // bytes 48..63 stay zero (reserved)
  p += kHeaderBytes;
  for (const TraceEvent& e : trace.events) {
    store_le<uint32_t>(p, e.time_ms);
    p[4] = static_cast<unsigned char>(e.kind);
    p[5] = static_cast<unsigned char>(e.stream);
    const bool block = e.kind == TraceEvent::Kind::kBlock;
    p[6] = block ? e.source : 0;
    p[7] = block ? static_cast<unsigned char>(e.codec) : 0;
    store_le<uint64_t>(p + 8, e.logical_offset);
    store_le<uint64_t>(p + 16, block ? e.file_offset : e.page);
    store_le<uint32_t>(p + 24, block ? e.stored_length : 0);
    store_le<uint32_t>(p + 28, block ? e.raw_length : 0);
    store_le<uint64_t>(p + 32, block ? e.checksum : 0);
    p += kEventBytes;
  }
  store_le<uint64_t>(p, hash::checksum64(out.data(), out.size() - kTrailerBytes));
  std::vector<std::byte> bytes(out.size());
  std::memcpy(bytes.data(), out.data(), out.size());
  return bytes;
}

Trace decode_trace(std::span<const std::byte> bytes, const std::string& what) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kCorrupt, what + " is not a valid boot trace: " + why);
  };
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kHeaderBytes + kTrailerBytes || std::memcmp(p, kMagic, sizeof kMagic) != 0) {
    throw bad("it does not start with the trace magic (HXZTRACE)");
  }
  const uint16_t version = load_le<uint16_t>(p + 8);
  if (version != kVersion) {
    throw Error(ErrorCode::kUnsupported, what + " is a boot trace of version " +
                                             std::to_string(version) +
                                             ", which this hexz cannot read (it reads version 1)");
  }
  const uint32_t count = load_le<uint32_t>(p + 12);
  if (load_le<uint16_t>(p + 10) != 0) throw bad("unknown flags are set");
  if (count > kMaxTraceEvents) throw bad("it claims " + std::to_string(count) + " events");
  if (bytes.size() != kHeaderBytes + uint64_t{count} * kEventBytes + kTrailerBytes) {
    throw bad("its size (" + std::to_string(bytes.size()) + " bytes) does not match its " +
              std::to_string(count) + " events (truncated or damaged)");
  }
  if (load_le<uint64_t>(p + bytes.size() - kTrailerBytes) !=
      hash::checksum64(p, bytes.size() - kTrailerBytes)) {
    throw bad("its checksum does not match (damaged)");
  }
  for (size_t i = 48; i < kHeaderBytes; ++i) {
    if (p[i] != 0) throw bad("reserved header bytes are not zero");
  }
  Trace t;
  std::memcpy(t.index_digest.data(), p + 16, 32);
  t.events.reserve(count);
  const unsigned char* e = p + kHeaderBytes;
  uint32_t last_time = 0;
  for (uint32_t i = 0; i < count; ++i, e += kEventBytes) {
    TraceEvent ev;
    ev.time_ms = load_le<uint32_t>(e);
    const std::string where = "event " + std::to_string(i);
    if (e[4] != 1 && e[4] != 2) throw bad(where + " has unknown kind " + std::to_string(e[4]));
    ev.kind = static_cast<TraceEvent::Kind>(e[4]);
    if (e[5] >= kStreamCount) throw bad(where + " names unknown stream " + std::to_string(e[5]));
    ev.stream = static_cast<Stream>(e[5]);
    if (ev.time_ms < last_time) throw bad(where + " is earlier than the one before it");
    last_time = ev.time_ms;
    ev.logical_offset = load_le<uint64_t>(e + 8);
    if (ev.kind == TraceEvent::Kind::kIndexPage) {
      const uint64_t page = load_le<uint64_t>(e + 16);
      if (e[6] != 0 || e[7] != 0 || page > UINT32_MAX || load_le<uint32_t>(e + 24) != 0 ||
          load_le<uint32_t>(e + 28) != 0 || load_le<uint64_t>(e + 32) != 0) {
        throw bad(where + " (an index page) has fields that must be zero set");
      }
      ev.page = static_cast<uint32_t>(page);
    } else {
      if (e[7] > 2) throw bad(where + " names unknown codec " + std::to_string(e[7]));
      ev.source = e[6];
      ev.codec = static_cast<Codec>(e[7]);
      ev.file_offset = load_le<uint64_t>(e + 16);
      ev.stored_length = load_le<uint32_t>(e + 24);
      ev.raw_length = load_le<uint32_t>(e + 28);
      ev.checksum = load_le<uint64_t>(e + 32);
      if (ev.stored_length == 0 || ev.raw_length == 0 || ev.raw_length > kMaxBlockRaw ||
          ev.stored_length > kMaxBlockRaw + kMaxSealOverhead) {
        throw bad(where + " (a block) has an invalid length");
      }
    }
    t.events.push_back(ev);
  }
  return t;
}

TraceSummary summarize_trace(const Trace& trace) {
  TraceSummary s;
  s.events = trace.events.size();
  for (const TraceEvent& e : trace.events) {
    if (e.kind == TraceEvent::Kind::kIndexPage) {
      ++s.index_pages;
    } else {
      ++s.blocks;
      ++s.blocks_per_stream[static_cast<int>(e.stream)];
      s.stored_bytes += e.stored_length;
      s.raw_bytes += e.raw_length;
    }
    s.duration_ms = std::max(s.duration_ms, e.time_ms);
  }
  s.index_digest_hex = hash::to_hex(trace.index_digest.data(), trace.index_digest.size());
  return s;
}

}  // namespace hexz
