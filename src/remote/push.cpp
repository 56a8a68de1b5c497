// hexz::push and hexz::remote_exists (declared in hexz/remote.hpp): a whole snapshot to S3 with
// the multipart upload engine, then checked through a reading backend.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "format/records.hpp"
#include "hash/checksum.hpp"
#include "hexz/error.hpp"
#include "hexz/remote.hpp"
#include "hexz/snapshot.hpp"
#include "io/s3_file.hpp"
#include "io/url.hpp"
#include "read/signature_check.hpp"
#include "remote/multipart_upload.hpp"

namespace hexz {

namespace {

/// Checks `file`'s header, length and master index checksum (no password needed) and returns
/// its identity.
std::string snapshot_identity(std::unique_ptr<io::ReadableFile> file) {
  const std::string& name = file->name();
  std::array<unsigned char, format::kHeaderSize> h{};
  if (file->size() < h.size()) {
    throw Error(ErrorCode::kNotASnapshot, "'" + name + "' is not a hexz snapshot (too small)");
  }
  file->read_at(0, std::as_writable_bytes(std::span(h)));
  const format::Header header = format::decode_header(h, name);
  if (file->size() > header.file_size) {
    // A signature trailer (FORMAT.md section 21) travels with the snapshot; anything else after
    // the end is refused as before.
    read::read_signature_trailer(*file, header.file_size, file->size());
  } else if (header.file_size != file->size()) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' has " + std::to_string(file->size()) +
                                         " bytes, its header says " +
                                         std::to_string(header.file_size));
  }
  file->will_read(header.tail_offset, header.tail_length);
  std::vector<std::byte> master(header.master_length);
  file->read_at(header.master_offset, master);
  if (hash::checksum64(master.data(), master.size()) != header.master_checksum) {
    throw Error(ErrorCode::kCorrupt, "'" + name + "' is corrupt: master index checksum mismatch");
  }
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (const unsigned char b : header.identity) {
    hex += digits[b >> 4];
    hex += digits[b & 15];
  }
  return hex;
}

}  // namespace

bool remote_exists(const std::string& destination, const PushOptions& options) {
  const io::Location loc = io::parse_location(destination);
  if (loc.scheme != io::Scheme::kS3) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + destination + "' is not an S3 location of the form s3://bucket/key");
  }
  io::StorageOptions storage;
  storage.endpoint = options.endpoint;
  return remote::object_exists(io::s3_target(loc.bucket, loc.key, storage));
}

PushResult push(const std::string& path, const std::string& destination, const PushOptions& options,
                const ProgressFn& progress) {
  const io::Location loc = io::parse_location(destination);
  if (loc.scheme != io::Scheme::kS3) {
    throw Error(ErrorCode::kInvalidArgument,
                "push needs an s3://bucket/key destination, not '" + destination + "'");
  }
  // Only snapshots are pushed: check the header and master index (bases need not be here).
  const std::string identity = snapshot_identity(io::open_local_file(path));
  io::StorageOptions storage;
  storage.endpoint = options.endpoint;
  const io::HttpTarget target = io::s3_target(loc.bucket, loc.key, storage);
  const remote::UploadResult up =
      remote::upload_multipart(path, target, options.part_size, options.threads, progress);
  PushResult result;
  result.bytes = up.bytes;
  result.parts = up.parts;
  try {
    uint64_t size = 0;
    remote::head_object(target, &size, &result.etag);
    if (size != up.bytes) {
      throw Error(ErrorCode::kCorrupt, "'" + destination + "' holds " + std::to_string(size) +
                                           " bytes after the upload, expected " +
                                           std::to_string(up.bytes));
    }
    const std::string& etag = result.etag;
    const std::string got =
        etag.size() >= 2 && etag.front() == '"' ? etag.substr(1, etag.size() - 2) : etag;
    if (got.find('-') != std::string::npos && got != up.expected_etag) {
      throw Error(ErrorCode::kCorrupt, "'" + destination +
                                           "' does not hold what was uploaded (ETag " + got +
                                           ", expected " + up.expected_etag + ")");
    }
    const std::string remote_identity = snapshot_identity(io::open_storage(destination, storage));
    if (remote_identity != identity) {
      throw Error(ErrorCode::kCorrupt, "'" + destination + "' reads back with identity " +
                                           remote_identity.substr(0, 16) + "…, expected " +
                                           identity.substr(0, 16) + "…");
    }
  } catch (const Error& e) {
    // What landed is not the snapshot: leave no object at the key rather than a wrong one.
    if (e.code() != ErrorCode::kCorrupt) throw;
    try {
      remote::delete_object(target);
    } catch (const Error&) {
      throw Error(ErrorCode::kCorrupt,
                  std::string(e.what()) + "; deleting the bad object failed too");
    }
    throw Error(ErrorCode::kCorrupt, std::string(e.what()) + "; the bad object was deleted");
  }
  result.identity_hex = identity;
  return result;
}

}  // namespace hexz
