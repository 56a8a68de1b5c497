// Small vocabulary functions of the public API: names, parsers, formatting.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "hexz/hexz.hpp"
#include "support/fixture.hpp"

namespace {

using hexz::Codec;
using hexz::ErrorCode;
using hexz::Stream;

TEST(Types, StreamNamesRoundTrip) {
  EXPECT_STREQ(hexz::stream_name(Stream::kDisk), "disk");
  EXPECT_STREQ(hexz::stream_name(Stream::kMemory), "memory");
  EXPECT_EQ(hexz::parse_stream("disk"), Stream::kDisk);
  EXPECT_EQ(hexz::parse_stream("memory"), Stream::kMemory);
  EXPECT_FALSE(hexz::parse_stream("").has_value());
  EXPECT_FALSE(hexz::parse_stream("disks").has_value());
}

TEST(Types, CodecNamesRoundTrip) {
  for (Codec c : {Codec::kNone, Codec::kLz4, Codec::kZstd}) {
    auto parsed = hexz::parse_codec(hexz::codec_name(c));
    ASSERT_TRUE(parsed.has_value()) << hexz::codec_name(c);
    EXPECT_EQ(*parsed, c);
  }
  EXPECT_STREQ(hexz::codec_name(Codec::kLz4), "lz4");
  EXPECT_STREQ(hexz::codec_name(Codec::kZstd), "zstd");
  EXPECT_STREQ(hexz::codec_name(Codec::kNone), "none");
  EXPECT_FALSE(hexz::parse_codec("gzip").has_value());
  EXPECT_FALSE(hexz::parse_codec("").has_value());
  EXPECT_FALSE(hexz::parse_codec("lz4x").has_value());
  // On-disk ids are part of the format.
  EXPECT_EQ(static_cast<int>(Codec::kNone), 0);
  EXPECT_EQ(static_cast<int>(Codec::kLz4), 1);
  EXPECT_EQ(static_cast<int>(Codec::kZstd), 2);
}

TEST(Types, ParseSizeAcceptsSuffixes) {
  EXPECT_EQ(hexz::parse_size("0"), 0u);
  EXPECT_EQ(hexz::parse_size("4096"), 4096u);
  EXPECT_EQ(hexz::parse_size("1K"), 1024u);
  EXPECT_EQ(hexz::parse_size("64K"), 65536u);
  EXPECT_EQ(hexz::parse_size("16M"), 16ull << 20);
  EXPECT_EQ(hexz::parse_size("1G"), 1ull << 30);
  EXPECT_EQ(hexz::parse_size("64KB"), 65536u);
  EXPECT_EQ(hexz::parse_size("64KiB"), 65536u);
  EXPECT_EQ(hexz::parse_size("2MiB"), 2ull << 20);
  EXPECT_EQ(hexz::parse_size("512B"), 512u);
  EXPECT_EQ(hexz::parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(Types, ParseSizeRejectsMalformedAndOverflow) {
  for (const char* bad :
       {"", "K", "-1", "1.5M", "12Q", "abc", "4096 ", " 4096", "0x10", "1KK",
        "18446744073709551616", "99999999999999999999", "20000000000G", "17179869184G"}) {
    EXPECT_FALSE(hexz::parse_size(bad).has_value()) << "'" << bad << "' was accepted";
  }
}

TEST(Types, FormatBytes) {
  EXPECT_EQ(hexz::format_bytes(1536ull << 20), "1.50 GiB");
  std::string small = hexz::format_bytes(0);
  EXPECT_NE(small.find('0'), std::string::npos) << small;
  EXPECT_NE(hexz::format_bytes(2048).find("KiB"), std::string::npos) << hexz::format_bytes(2048);
}

TEST(Types, ErrorCodeNamesAreDistinctAndNonEmpty) {
  const ErrorCode all[] = {
      ErrorCode::kInvalidArgument, ErrorCode::kIo,           ErrorCode::kNotFound,
      ErrorCode::kAlreadyExists,   ErrorCode::kNotASnapshot, ErrorCode::kUnsupported,
      ErrorCode::kCorrupt,         ErrorCode::kTruncated,    ErrorCode::kOutOfRange,
      ErrorCode::kAborted,         ErrorCode::kInternal};
  for (size_t i = 0; i < std::size(all); ++i) {
    const char* a = hexz::error_code_name(all[i]);
    ASSERT_NE(a, nullptr);
    EXPECT_GT(std::strlen(a), 0u);
    for (size_t j = 0; j < i; ++j) {
      EXPECT_STRNE(a, hexz::error_code_name(all[j]));
    }
  }
  EXPECT_STREQ(hexz::error_code_name(ErrorCode::kCorrupt), "corrupt");
  EXPECT_STREQ(hexz::error_code_name(ErrorCode::kIo), "io");
  hexz::Error e(ErrorCode::kTruncated, "short file");
  EXPECT_EQ(e.code(), ErrorCode::kTruncated);
  EXPECT_STREQ(e.what(), "short file");
}

}  // namespace
