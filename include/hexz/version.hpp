// Library and format version numbers.
#pragma once

namespace hexz {

/// The library's release version.
inline constexpr const char* kVersionString = "0.1.0";
/// The newest on-disk format this library writes and reads.
inline constexpr unsigned kFormatVersionMajor = 1;
inline constexpr unsigned kFormatVersionMinor = 2;  // 1.1: attachments; 1.2: encrypted thin

}  // namespace hexz
