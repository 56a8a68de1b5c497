// Whole-object S3 operations (the engine behind hexz::push): multipart upload of a local file,
// HEAD and DELETE. Built on the HTTP client of src/io; not a byte source.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "io/http_file.hpp"

namespace hexz::remote {

/// Result of upload_multipart().
struct UploadResult {
  uint64_t bytes = 0;
  uint64_t parts = 0;
  std::string etag;           ///< From CompleteMultipartUpload.
  std::string expected_etag;  ///< "md5(part md5s)-N", computed locally.
};

/// Uploads `path` to `target` in parts of `part_size` bytes, `threads` at a time, each with a
/// Content-MD5. Aborts the upload on failure. `progress(done, total)` may be called from several
/// threads (serialized). Throws hexz::Error.
UploadResult upload_multipart(const std::string& path, const io::HttpTarget& target,
                              uint64_t part_size, unsigned threads,
                              const std::function<void(uint64_t, uint64_t)>& progress);

/// HEAD of `target`: true if the object exists, false on 404. Throws hexz::Error otherwise.
bool object_exists(const io::HttpTarget& target);

/// DELETE of `target` (an absent object is not an error). Throws hexz::Error.
void delete_object(const io::HttpTarget& target);

/// HEAD of `target`: its size and ETag. Throws hexz::Error.
void head_object(const io::HttpTarget& target, uint64_t* size, std::string* etag);

}  // namespace hexz::remote
