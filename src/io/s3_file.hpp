// S3 objects over HTTP(S): path-style URLs signed with AWS Signature Version 4.
#pragma once

#include <string>

#include "io/http_file.hpp"
#include "io/url.hpp"

namespace hexz::io {

/// The target for s3://bucket/key. Endpoint: options.endpoint, else AWS_ENDPOINT_URL, else
/// https://s3.REGION.amazonaws.com. Region: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1.
/// Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. Throws
/// kInvalidArgument if the credentials are missing.
HttpTarget s3_target(const std::string& bucket, const std::string& key,
                     const StorageOptions& options);

/// Percent-encodes `text` for a URL: RFC 3986 unreserved characters are kept, and '/' too if
/// `keep_slash` (an S3 key in a path); everything else becomes %XX.
std::string percent_encode(const std::string& text, bool keep_slash);

/// Percent-encodes an S3 key for a URL path (RFC 3986 unreserved characters and '/' kept).
inline std::string s3_encode_key(const std::string& key) {
  return percent_encode(key, true);
}

}  // namespace hexz::io
