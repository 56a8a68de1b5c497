// Where a snapshot lives: a local path, an http(s):// URL or an s3://bucket/key location.
#pragma once

#include <memory>
#include <string>

#include "io/readable_file.hpp"

namespace hexz::io {

/// Settings shared by the remote backends.
struct StorageOptions {
  /// S3 endpoint ("http://127.0.0.1:7480"); empty = AWS_ENDPOINT_URL, else AWS for AWS_REGION.
  std::string endpoint;
  /// Directory of an on-disk cache of remote bytes shared by processes; empty = HEXZ_CACHE_DIR,
  /// and no disk cache if that is unset too. Its byte budget comes from HEXZ_CACHE_DIR_BYTES
  /// (default 1 GiB; see cache_budget_for()).
  std::string cache_dir;
};

enum class Scheme { kLocal, kHttp, kS3 };

/// A parsed location.
struct Location {
  Scheme scheme = Scheme::kLocal;
  std::string text;    ///< As given.
  std::string bucket;  ///< S3 only.
  std::string key;     ///< S3 only (not URL-encoded).
};

/// Classifies `location` by its prefix ("http://", "https://", "s3://", else a local path).
/// Throws kInvalidArgument for an s3:// location without a bucket or key.
Location parse_location(const std::string& location);

/// True for http://, https:// and s3:// locations.
bool is_remote(const std::string& location);

/// The "directory" of a location: everything before its last '/' ("." for a bare file name).
/// For a remote location this is the URL prefix its neighbours share.
std::string parent_of(const std::string& location);

/// Opens `location` with the backend its scheme selects. Throws hexz::Error (kNotFound for a
/// missing file or object, kIo for refused or failed access, kInvalidArgument).
std::unique_ptr<ReadableFile> open_storage(const std::string& location,
                                           const StorageOptions& options = {});

}  // namespace hexz::io
