// Error type used by every public hexz API.
#pragma once

#include <stdexcept>
#include <string>

namespace hexz {

/// What kind of failure an Error reports. Front ends map these to exit codes
/// and (in Python) to exception classes.
enum class ErrorCode {
  kInvalidArgument,  ///< A bad option or argument supplied by the caller.
  kIo,               ///< The operating system refused an I/O operation.
  kNotFound,         ///< An input or snapshot does not exist.
  kAlreadyExists,    ///< The output exists and overwriting was not allowed.
  kNotASnapshot,     ///< The file does not start with the hexz magic.
  kUnsupported,      ///< A newer format version or unknown required feature.
  kCorrupt,          ///< A checksum or structural check failed.
  kTruncated,        ///< The file is shorter than its header says.
  kOutOfRange,       ///< A read past the end of a stream, or a missing stream.
  kAborted,          ///< The caller aborted (e.g. a progress callback threw).
  kWrongPassword,    ///< An encrypted snapshot needs a password, or the one given is wrong.
  kInternal,         ///< A bug in hexz.
};

/// Returns a short stable name for `code` ("corrupt", "io", ...).
const char* error_code_name(ErrorCode code);

/// The one exception type thrown by the library. `what()` is a complete,
/// human-readable, single-line message naming the problem.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  /// The failure category.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace hexz
