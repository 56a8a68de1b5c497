#include "io/s3_file.hpp"

#include <cstdio>
#include <cstdlib>

#include "hexz/error.hpp"

namespace hexz::io {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

std::string percent_encode(const std::string& text, bool keep_slash) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

HttpTarget s3_target(const std::string& bucket, const std::string& key,
                     const StorageOptions& options) {
  AwsCredentials creds;
  creds.access_key = env("AWS_ACCESS_KEY_ID");
  creds.secret_key = env("AWS_SECRET_ACCESS_KEY");
  creds.session_token = env("AWS_SESSION_TOKEN");
  const std::string name = "s3://" + bucket + "/" + key;
  if (creds.access_key.empty() || creds.secret_key.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot access '" + name +
                    "': set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3 locations");
  }
  if (!env("AWS_REGION").empty()) {
    creds.region = env("AWS_REGION");
  } else if (!env("AWS_DEFAULT_REGION").empty()) {
    creds.region = env("AWS_DEFAULT_REGION");
  }
  std::string endpoint = options.endpoint;
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL");
  if (endpoint.empty()) endpoint = "https://s3." + creds.region + ".amazonaws.com";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  HttpTarget t;
  t.url = endpoint + "/" + s3_encode_key(bucket) + "/" + s3_encode_key(key);
  t.name = name;
  t.aws = std::move(creds);
  return t;
}

}  // namespace hexz::io
