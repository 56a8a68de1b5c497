// Snapshots in object storage: uploading a snapshot to S3 (reading remote snapshots needs
// nothing extra: Snapshot::open accepts http(s):// URLs and s3://bucket/key locations).
//
// S3 settings come from the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN (optional), AWS_REGION (default us-east-1) and AWS_ENDPOINT_URL (unless
// an endpoint is given). Path-style URLs: ENDPOINT/bucket/key.
#pragma once

#include <cstdint>
#include <string>

#include "hexz/pack.hpp"

namespace hexz {

/// Tuning knobs for push().
struct PushOptions {
  std::string endpoint;              ///< S3 endpoint; empty = AWS_ENDPOINT_URL, else AWS.
  uint64_t part_size = 16ull << 20;  ///< Multipart part size (5 MiB .. 5 GiB).
  unsigned threads = 4;              ///< Parts uploaded in parallel.
};

/// What push() did.
struct PushResult {
  uint64_t bytes = 0;        ///< Size of the uploaded object.
  uint64_t parts = 0;        ///< Number of multipart parts.
  std::string etag;          ///< The object's ETag as the server reports it.
  std::string identity_hex;  ///< Identity of the snapshot, checked on the uploaded object.
};

/// True if the S3 location `destination` (s3://bucket/key) holds an object (a HEAD request).
/// Uses options.endpoint. Throws hexz::Error (kInvalidArgument for a location that is not
/// s3://bucket/key or missing credentials, kIo for refused access or a failing server).
bool remote_exists(const std::string& destination, const PushOptions& options = {});

/// Uploads the local snapshot `path` to `destination` (s3://bucket/key) with a multipart upload
/// (parts in parallel, each checked by the server against its Content-MD5), then checks what
/// landed: the object's size and multipart ETag, and its header and identity read back through
/// Snapshot::open. An upload that fails is aborted, and an object that fails these checks is
/// deleted, so a failed push leaves no (new) object at the key. `progress` gets (bytes_done,
/// bytes_total). Throws hexz::Error (kInvalidArgument, kNotFound, kIo, kCorrupt, kAborted).
PushResult push(const std::string& path, const std::string& destination,
                const PushOptions& options = {}, const ProgressFn& progress = {});

}  // namespace hexz
