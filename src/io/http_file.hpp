// HTTP(S) access with libcurl: one request with retries (HttpClient), and ReadableFile over
// range requests (open_http_file), used for plain HTTP servers and, signed, for S3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "io/readable_file.hpp"
#include "io/url.hpp"

namespace hexz::io {

/// AWS Signature Version 4 credentials (libcurl signs with CURLOPT_AWS_SIGV4).
struct AwsCredentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  ///< Sent as x-amz-security-token when not empty.
  std::string region = "us-east-1";
};

/// How to reach one object.
struct HttpTarget {
  std::string url;   ///< The request URL (already percent-encoded).
  std::string name;  ///< For messages and base lookup: the location as the user wrote it.
  std::optional<AwsCredentials> aws;  ///< Set for S3: requests are signed.
};

/// An http(s):// location as a target.
HttpTarget http_target(const std::string& url);

/// One HTTP request.
struct HttpRequest {
  std::string method = "GET";
  std::string query;  ///< Appended to the target's URL ("?uploads=").
  std::optional<std::pair<uint64_t, uint64_t>> range;  ///< Inclusive byte range.
  std::vector<std::string> headers;                    ///< "Name: value" lines.
  std::span<const std::byte> body;                     ///< Request body (PUT/POST).
  size_t max_body = size_t(64) << 20;  ///< A longer response body fails the request.
};

/// What came back.
struct HttpResponse {
  long status = 0;
  std::string body;
  std::string etag;            ///< ETag header (quotes kept), empty if none.
  std::string content_range;   ///< Content-Range header value, empty if none.
  std::string content_length;  ///< Content-Length header value, empty if none.
};

/// Folds one raw response header line (as libcurl hands it over, line ending included) into
/// `r`: a status line ("HTTP/...") starts a new response and clears what an earlier one set
/// (after a redirect or a 100-continue); "Key: value" sets etag, content_range or
/// content_length (keys case-insensitive, values trimmed); anything else is ignored.
void absorb_header_line(HttpResponse& r, std::string_view line);

/// The object size a Content-Range value names: TOTAL in "bytes FIRST-LAST/TOTAL" or
/// "bytes */TOTAL", with FIRST <= LAST < TOTAL; nullopt if it is malformed or names no size
/// ("/*"), or a number does not fit in 63 bits.
std::optional<uint64_t> content_range_total(std::string_view value);

/// Performs requests with a pool of reusable libcurl handles (kept-alive connections), retrying
/// transient failures (connection errors, timeouts, 5xx, 429) with exponential backoff.
/// Thread-safe. Environment: HEXZ_REMOTE_RETRIES (attempts, default 6), HEXZ_REMOTE_TIMEOUT
/// (seconds without progress before a transfer is abandoned, default 30), HEXZ_REMOTE_KEEPALIVE
/// (0 = a new connection per request), HEXZ_CA_FILE (a PEM file of CA certificates to trust for
/// https:// instead of the system's bundle). TLS certificate failures are not retried.
class HttpClient {
 public:
  /// Reads the environment. Throws kInvalidArgument if HEXZ_CA_FILE names an unreadable file.
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs `request` against `target`. Returns any response that is not a transient failure
  /// (the caller interprets the status); throws kIo once the retries are exhausted, or at once
  /// for a TLS certificate that fails verification.
  HttpResponse perform(const HttpTarget& target, const HttpRequest& request) const;

 private:
  void* acquire() const;
  void release(void* handle) const;
  HttpResponse perform_once(void* handle, const HttpTarget& target, const HttpRequest& request,
                            std::string* transport_error) const;

  mutable std::mutex mu_;
  mutable std::vector<void*> idle_;
  int attempts_;
  long timeout_s_;
  bool keepalive_;       ///< HEXZ_REMOTE_KEEPALIVE=0: a new connection for every request.
  std::string ca_file_;  ///< HEXZ_CA_FILE (empty: libcurl's default CA bundle).
};

/// Throws the hexz::Error matching a failed response (403 -> kIo "access denied", 404 ->
/// kNotFound, 416, other statuses), naming `what` and the server's error code if it sent one.
[[noreturn]] void throw_http_error(const HttpTarget& target, const HttpResponse& response,
                                   const std::string& what);

/// Opens `target` for random access with range requests. The first request fetches the first
/// 64 KiB (and learns the size and ETag); later reads are served from it, from the tail fetched
/// on will_read(), from readahead windows, from the optional disk cache, or by new requests.
/// Every response must carry the ETag seen at open, else the read fails (the object changed).
std::unique_ptr<ReadableFile> open_http_file(HttpTarget target, const StorageOptions& options);

}  // namespace hexz::io
