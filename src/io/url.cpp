#include "io/url.hpp"

#include "hexz/error.hpp"
#include "io/http_file.hpp"
#include "io/s3_file.hpp"

namespace hexz::io {

namespace {

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

}  // namespace

Location parse_location(const std::string& location) {
  Location loc;
  loc.text = location;
  if (starts_with(location, "http://") || starts_with(location, "https://")) {
    loc.scheme = Scheme::kHttp;
  } else if (starts_with(location, "s3://")) {
    loc.scheme = Scheme::kS3;
    const std::string rest = location.substr(5);
    const size_t slash = rest.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 >= rest.size()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "'" + location + "' is not an S3 location of the form s3://bucket/key");
    }
    loc.bucket = rest.substr(0, slash);
    loc.key = rest.substr(slash + 1);
  }
  return loc;
}

bool is_remote(const std::string& location) {
  return starts_with(location, "http://") || starts_with(location, "https://") ||
         starts_with(location, "s3://");
}

std::string parent_of(const std::string& location) {
  const auto slash = location.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return location.substr(0, slash);
}

std::unique_ptr<ReadableFile> open_storage(const std::string& location,
                                           const StorageOptions& options) {
  const Location loc = parse_location(location);
  switch (loc.scheme) {
    case Scheme::kHttp:
      return open_http_file(http_target(location), options);
    case Scheme::kS3:
      return open_http_file(s3_target(loc.bucket, loc.key, options), options);
    case Scheme::kLocal:
      break;
  }
  return open_local_file(location);
}

}  // namespace hexz::io
