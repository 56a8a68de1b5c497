#include "hexz/error.hpp"

namespace hexz {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kAlreadyExists:
      return "already_exists";
    case ErrorCode::kNotASnapshot:
      return "not_a_snapshot";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kTruncated:
      return "truncated";
    case ErrorCode::kOutOfRange:
      return "out_of_range";
    case ErrorCode::kAborted:
      return "aborted";
    case ErrorCode::kWrongPassword:
      return "wrong_password";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace hexz
