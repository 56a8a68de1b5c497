// Small vocabulary types shared by the pack and read APIs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hexz {

/// The two logical byte streams a snapshot can hold.
enum class Stream : uint8_t { kDisk = 0, kMemory = 1 };
inline constexpr int kStreamCount = 2;

/// "disk" or "memory".
const char* stream_name(Stream s);
/// Parses "disk"/"memory"; std::nullopt for anything else.
std::optional<Stream> parse_stream(std::string_view name);

/// Block compression codecs. Values are the on-disk codec ids.
enum class Codec : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };

/// "none", "lz4" or "zstd".
const char* codec_name(Codec c);
/// Parses "lz4"/"zstd"/"none"; std::nullopt for anything else.
std::optional<Codec> parse_codec(std::string_view name);

/// Parses a size such as "4096", "64K", "16M", "1G" (binary multiples, an
/// optional trailing "B"/"iB"). Returns std::nullopt on malformed input or overflow.
std::optional<uint64_t> parse_size(std::string_view text);

/// Formats a byte count for humans, e.g. "1.50 GiB".
std::string format_bytes(uint64_t bytes);

}  // namespace hexz
