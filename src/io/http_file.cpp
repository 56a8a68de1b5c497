#include "io/http_file.hpp"

#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <random>
#include <thread>

#include "hexz/error.hpp"
#include "io/disk_cache.hpp"

namespace hexz::io {

namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long env_long(const char* name, long fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return (end != nullptr && *end == '\0' && n >= 0) ? n : fallback;
}

/// A pooled libcurl handle and the socket of the connection it keeps alive. libcurl does not
/// report the socket of a reused connection (CURLINFO_ACTIVESOCKET is reset by
/// curl_easy_reset()), so the socket callbacks record it here.
struct Handle {
  CURL* curl = nullptr;
  curl_socket_t fd = CURL_SOCKET_BAD;
};

void destroy(void* handle) {
  auto* hd = static_cast<Handle*>(handle);
  curl_easy_cleanup(hd->curl);
  delete hd;
}

struct Transfer {
  CURL* handle;
  const Handle* owner;
  HttpResponse* response;
  size_t max_body;
  bool overflow = false;
  std::span<const std::byte> upload;
  size_t uploaded = 0;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->response->body.size() + len > t->max_body) {
    long status = 0;
    curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      // An error page: keep its start (for the error code), drop the rest.
      const size_t room = t->response->body.size() < 65536 ? 65536 - t->response->body.size() : 0;
      t->response->body.append(data, std::min(room, len));
      return len;
    }
    t->overflow = true;
    return 0;  // aborts the transfer
  }
  t->response->body.append(data, len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  const std::string_view line(data, len);
  if (line == "\r\n" || line == "\n") {
    // End of the headers: acknowledge them now. Some servers (radosgw) write headers and body
    // in two segments without TCP_NODELAY; on a reused connection a delayed ACK would then
    // stall every response by ~40 ms. Setting TCP_QUICKACK sends a pending ACK at once.
    if (t->owner->fd != CURL_SOCKET_BAD) {
      int one = 1;
      ::setsockopt(t->owner->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    return len;
  }
  absorb_header_line(*t->response, line);
  return len;
}

size_t on_upload(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = std::min(size * n, t->upload.size() - t->uploaded);
  std::memcpy(buffer, t->upload.data() + t->uploaded, len);
  t->uploaded += len;
  return len;
}

/// Asks for immediate ACKs: some servers (radosgw) write a response's headers and body in two
/// segments without TCP_NODELAY, and a delayed ACK then stalls every reused connection ~40 ms.
/// Also records the new connection's socket in its Handle.
int on_socket(void* handle, curl_socket_t fd, curlsocktype) {
  static_cast<Handle*>(handle)->fd = fd;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  return CURL_SOCKOPT_OK;
}

/// Closes a connection's socket and forgets it in its Handle.
int on_close_socket(void* handle, curl_socket_t fd) {
  auto* hd = static_cast<Handle*>(handle);
  if (hd->fd == fd) hd->fd = CURL_SOCKET_BAD;
  return ::close(fd);
}

/// Failures of TLS certificate verification (not transient).
bool tls_verification_failure(CURLcode rc) {
  return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
         rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

bool transient_status(long status) {
  return status == 429 || (status >= 500 && status <= 599);
}

/// The <Code> of an S3 XML error body, or "".
std::string s3_error_code(const std::string& body) {
  const size_t b = body.find("<Code>");
  const size_t e = body.find("</Code>");
  if (b == std::string::npos || e == std::string::npos || e < b) return "";
  return body.substr(b + 6, e - b - 6);
}

}  // namespace

HttpTarget http_target(const std::string& url) {
  HttpTarget t;
  t.url = url;
  t.name = url;
  return t;
}

HttpClient::HttpClient()
    : attempts_(std::max(1, static_cast<int>(env_long("HEXZ_REMOTE_RETRIES", 6)))),
      timeout_s_(env_long("HEXZ_REMOTE_TIMEOUT", 30)),
      keepalive_(env_long("HEXZ_REMOTE_KEEPALIVE", 1) != 0) {
  global_init();
  if (const char* ca = std::getenv("HEXZ_CA_FILE"); ca != nullptr && *ca != '\0') {
    if (::access(ca, R_OK) != 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("HEXZ_CA_FILE '") + ca + "' cannot be read: " + std::strerror(errno));
    }
    ca_file_ = ca;
  }
}

HttpClient::~HttpClient() {
  for (void* h : idle_) destroy(h);
}

void* HttpClient::acquire() const {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  CURL* h = curl_easy_init();
  if (h == nullptr) throw Error(ErrorCode::kIo, "cannot initialise libcurl");
  return new Handle{h, CURL_SOCKET_BAD};
}

void HttpClient::release(void* handle) const {
  std::lock_guard lock(mu_);
  idle_.push_back(handle);
}

HttpResponse HttpClient::perform_once(void* handle, const HttpTarget& target,
                                      const HttpRequest& request,
                                      std::string* transport_error) const {
  auto* hd = static_cast<Handle*>(handle);
  CURL* h = hd->curl;
  curl_easy_reset(h);
  HttpResponse response;
  Transfer t{h, hd, &response, request.max_body, false, request.body, 0};
  const std::string url = target.url + request.query;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, target.aws ? 0L : 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, timeout_s_);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_socket);
  curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, hd);
  curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  curl_easy_setopt(h, CURLOPT_CLOSESOCKETDATA, hd);
  if (!keepalive_) curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
  if (!ca_file_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_file_.c_str());
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes as stored, never re-encoded
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  std::string range;
  if (request.range) {
    range = std::to_string(request.range->first) + "-" + std::to_string(request.range->second);
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_upload);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    if (request.method == "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_slist* headers = nullptr;
  for (const auto& line : request.headers) headers = curl_slist_append(headers, line.c_str());
  // Uploads: no "Expect: 100-continue" round trip. Not with SigV4: libcurl would sign the
  // (never sent) empty header.
  if (!target.aws) headers = curl_slist_append(headers, "Expect:");
  curl_easy_setopt(h, CURLOPT_USERAGENT, "hexz/0.1");
  std::string sigv4;
  if (target.aws) {
    const auto& a = *target.aws;
    sigv4 = "aws:amz:" + a.region + ":s3";
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, a.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, a.secret_key.c_str());
    // libcurl 7.88 does not add it, and S3 refuses signed requests without it.
    headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    if (!a.session_token.empty()) {
      headers = curl_slist_append(headers, ("x-amz-security-token: " + a.session_token).c_str());
    }
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  const CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    if (t.overflow) {
      throw Error(ErrorCode::kIo, "'" + target.name + "': the server sent more data than asked " +
                                      "for (does it support range requests?)");
    }
    *transport_error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    if (tls_verification_failure(rc)) {
      // Retrying cannot help: the certificate will not change.
      throw Error(ErrorCode::kIo,
                  "cannot read '" + target.name + "': the server's TLS certificate was rejected (" +
                      *transport_error +
                      "); if it is signed by a private CA, set HEXZ_CA_FILE to a PEM file "
                      "with that CA");
    }
    response.status = 0;
    return response;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

HttpResponse HttpClient::perform(const HttpTarget& target, const HttpRequest& request) const {
  void* handle = acquire();
  std::string last_problem;
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 0; attempt < attempts_; ++attempt) {
    if (attempt > 0) {
      // 100 ms, 200 ms, 400 ms ... (capped at 5 s), with up to 25% jitter.
      const long base = std::min(5000L, 100L << std::min(attempt - 1, 10));
      const long ms = base + static_cast<long>(jitter() % static_cast<unsigned long>(base / 4 + 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    std::string transport_error;
    HttpResponse r;
    try {
      r = perform_once(handle, target, request, &transport_error);
    } catch (...) {
      destroy(handle);
      throw;
    }
    if (r.status == 0) {
      last_problem = transport_error;
      continue;
    }
    if (transient_status(r.status)) {
      last_problem = "HTTP " + std::to_string(r.status);
      continue;
    }
    release(handle);
    return r;
  }
  destroy(handle);
  throw Error(ErrorCode::kIo, "cannot read '" + target.name + "': " + last_problem +
                                  " (gave up after " + std::to_string(attempts_) + " attempts)");
}

void throw_http_error(const HttpTarget& target, const HttpResponse& response,
                      const std::string& what) {
  const std::string code = s3_error_code(response.body);
  const std::string detail =
      "HTTP " + std::to_string(response.status) + (code.empty() ? "" : " " + code);
  switch (response.status) {
    case 404:
      throw Error(ErrorCode::kNotFound, "'" + target.name + "' not found (" + detail + ")");
    case 401:
    case 403:
      if (code == "QuotaExceeded") {
        throw Error(ErrorCode::kIo,
                    what + " '" + target.name + "' failed: the quota is exceeded (" + detail + ")");
      }
      throw Error(ErrorCode::kIo,
                  "access to '" + target.name + "' denied (" + detail + "; check the credentials)");
    case 412:
      throw Error(ErrorCode::kIo,
                  "'" + target.name + "' changed while being read (its ETag no longer matches)");
    case 416:
      throw Error(ErrorCode::kIo, "'" + target.name + "': range not satisfiable (" + detail + ")");
    default:
      throw Error(ErrorCode::kIo, what + " '" + target.name + "' failed (" + detail + ")");
  }
}

namespace {

constexpr uint64_t kHeadBytes = 64 << 10;
constexpr uint64_t kMaxTailBytes = 256ull << 20;
constexpr uint64_t kWindowBudget = 64ull << 20;
constexpr size_t kMaxWindows = 512;

/// A range being fetched or recently fetched; readers of a sub-range wait for it.
struct Window {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool done = false;
  bool failed = false;
  bool keep = false;  ///< Readahead: keep it for the reads that follow.
  std::vector<std::byte> data;
};

class HttpFile final : public ReadableFile {
 public:
  HttpFile(HttpTarget target, const StorageOptions& options)
      : target_(std::move(target)),
        readahead_(static_cast<uint64_t>(env_long("HEXZ_REMOTE_READAHEAD", 4 << 20))) {
    HttpRequest req;
    req.range = std::make_pair(uint64_t{0}, kHeadBytes - 1);
    req.max_body = kHeadBytes;
    HttpResponse r = client_.perform(target_, req);
    requests_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(r.body.size(), std::memory_order_relaxed);
    if (r.status == 416) {
      size_ = 0;  // an empty object
    } else if (r.status == 206) {
      size_ = parse_total(r.content_range);
    } else if (r.status == 200) {
      size_ = r.body.size();  // the whole object (it fit in max_body)
    } else {
      throw_http_error(target_, r, "GET");
    }
    etag_ = r.etag;
    head_.resize(std::min<uint64_t>(r.body.size(), size_));
    std::memcpy(head_.data(), r.body.data(), head_.size());
    if (head_.size() != std::min(size_, kHeadBytes)) {
      throw Error(ErrorCode::kIo, "'" + target_.name + "': short response from the server");
    }
    if (const auto dir = cache_dir_for(options.cache_dir); dir && !etag_.empty()) {
      cache_ = std::make_unique<DiskCache>(*dir, target_.name, etag_, size_, cache_budget_for());
    }
  }

  uint64_t size() const override { return size_; }
  const std::string& name() const override { return target_.name; }

  void will_read(uint64_t offset, uint64_t length) const override {
    if (offset >= size_ || length == 0 || length > kMaxTailBytes) return;
    length = std::min(length, size_ - offset);
    if (offset + length <= head_.size()) return;
    std::lock_guard lock(tail_mu_);
    if (!tail_.empty() && offset >= tail_offset_ && offset + length <= tail_offset_ + tail_.size())
      return;
    std::vector<std::byte> bytes(length);
    fetch(offset, bytes);
    tail_offset_ = offset;
    tail_ = std::move(bytes);
  }

  void read_at(uint64_t offset, std::span<std::byte> out) const override {
    if (offset > size_ || out.size() > size_ - offset) {
      throw Error(ErrorCode::kTruncated,
                  "'" + target_.name + "' is truncated: a section ends past the end of the file");
    }
    if (out.empty()) return;
    if (offset + out.size() <= head_.size()) {
      std::memcpy(out.data(), head_.data() + offset, out.size());
      return;
    }
    {
      std::lock_guard lock(tail_mu_);
      if (!tail_.empty() && offset >= tail_offset_ &&
          offset + out.size() <= tail_offset_ + tail_.size()) {
        std::memcpy(out.data(), tail_.data() + (offset - tail_offset_), out.size());
        return;
      }
    }
    if (cache_) {
      if (!read_from_window(offset, out)) read_cached(offset, out);
      return;
    }
    read_windowed(offset, out);
  }

  bool remote() const override { return true; }

  Stats stats() const override {
    return {requests_.load(std::memory_order_relaxed), bytes_.load(std::memory_order_relaxed)};
  }

  void prefetch(uint64_t offset, uint64_t length) const override {
    if (offset >= size_ || length == 0) return;
    length = std::min(length, size_ - offset);
    if (offset + length <= head_.size()) return;
    std::unique_lock lock(win_mu_);
    for (const auto& w : windows_) {
      if (!w->failed && offset >= w->offset && offset + length <= w->offset + w->length) return;
    }
    auto w = std::make_shared<Window>();
    w->offset = offset;
    w->length = length;
    w->keep = true;
    windows_.push_back(w);
    std::vector<std::byte> data = fetch_window(lock, *w);
    if (cache_) {
      // Whole pieces the range covers go into the disk cache too.
      const uint64_t P = DiskCache::kPieceSize;
      for (uint64_t p = (offset + P - 1) / P; p * P < offset + length; ++p) {
        const uint64_t len = cache_->piece_length(p);
        if (p * P + len > offset + length) break;
        cache_->put(p, std::span<const std::byte>(data).subspan(p * P - offset, len));
      }
    }
    lock.lock();
    w->data = std::move(data);
    w->done = true;
    win_cv_.notify_all();
    evict_windows();
  }

 private:
  uint64_t parse_total(const std::string& content_range) const {
    const auto total = content_range_total(content_range);
    if (!total) {
      throw Error(ErrorCode::kIo, "'" + target_.name +
                                      "': the server sent no valid object size (Content-Range '" +
                                      content_range + "')");
    }
    return *total;
  }

  /// One range request for exactly out.size() bytes at `offset`, checked against the ETag.
  void fetch(uint64_t offset, std::span<std::byte> out) const {
    HttpRequest req;
    req.range = std::make_pair(offset, offset + out.size() - 1);
    req.max_body = out.size();
    if (!etag_.empty()) req.headers.push_back("If-Match: " + etag_);
    const HttpResponse r = client_.perform(target_, req);
    requests_.fetch_add(1, std::memory_order_relaxed);
    bytes_.fetch_add(r.body.size(), std::memory_order_relaxed);
    if (r.status != 206 && !(r.status == 200 && offset == 0 && out.size() == size_)) {
      if (r.status == 200) {
        throw Error(ErrorCode::kIo, "'" + target_.name + "': the server ignored a range request");
      }
      throw_http_error(target_, r, "GET");
    }
    if (!etag_.empty() && !r.etag.empty() && r.etag != etag_) {
      throw Error(ErrorCode::kIo, "'" + target_.name + "' changed while being read (ETag " + etag_ +
                                      " became " + r.etag + ")");
    }
    if (r.status == 206 && !r.content_range.empty()) {
      const std::string expect = "bytes " + std::to_string(offset) + "-" +
                                 std::to_string(offset + out.size() - 1) + "/" +
                                 std::to_string(size_);
      if (r.content_range != expect) {
        throw Error(ErrorCode::kIo, "'" + target_.name + "' changed while being read (asked for " +
                                        expect + ", got " + r.content_range + ")");
      }
    }
    if (r.body.size() != out.size()) {
      throw Error(ErrorCode::kIo, "'" + target_.name + "': short response (" +
                                      std::to_string(r.body.size()) + " of " +
                                      std::to_string(out.size()) + " bytes)");
    }
    std::memcpy(out.data(), r.body.data(), out.size());
  }

  /// Through the disk cache: whole pieces, consecutive missing ones in one request.
  void read_cached(uint64_t offset, std::span<std::byte> out) const {
    const uint64_t P = DiskCache::kPieceSize;
    const uint64_t first = offset / P;
    const uint64_t last = (offset + out.size() - 1) / P;
    uint64_t p = first;
    while (p <= last) {
      const uint64_t lo = std::max(offset, p * P);
      const uint64_t hi = std::min(offset + out.size(), (p + 1) * P);
      if (cache_->get(p, lo - p * P, out.subspan(lo - offset, hi - lo))) {
        ++p;
        continue;
      }
      uint64_t q = p;  // pieces [p, q] are fetched together
      std::vector<std::byte> scratch(cache_->piece_length(q));
      while (q < last && q - p < 15 && !cache_->get(q + 1, 0, scratch)) ++q;
      const uint64_t start = p * P;
      const uint64_t end = q * P + cache_->piece_length(q);
      std::vector<std::byte> bytes(end - start);
      fetch(start, bytes);
      for (uint64_t i = p; i <= q; ++i) {
        cache_->put(
            i, std::span<const std::byte>(bytes).subspan((i - p) * P, cache_->piece_length(i)));
      }
      const uint64_t copy_lo = std::max(offset, start);
      const uint64_t copy_hi = std::min(offset + out.size(), end);
      std::memcpy(out.data() + (copy_lo - offset), bytes.data() + (copy_lo - start),
                  copy_hi - copy_lo);
      p = q + 1;
    }
  }

  /// Serves [offset, offset+out.size()) from a window that holds it, waiting for one still in
  /// flight. `lock` holds win_mu_. Returns false if no window holds it.
  bool serve_from_window(std::unique_lock<std::mutex>& lock, uint64_t offset,
                         std::span<std::byte> out) const {
    const uint64_t end = offset + out.size();
    for (;;) {
      std::shared_ptr<Window> hit;
      for (const auto& w : windows_) {
        if (!w->failed && offset >= w->offset && end <= w->offset + w->length) hit = w;
      }
      if (!hit) return false;
      win_cv_.wait(lock, [&] { return hit->done || hit->failed; });
      if (hit->done) {
        std::memcpy(out.data(), hit->data.data() + (offset - hit->offset), out.size());
        return true;
      }
    }
  }

  bool read_from_window(uint64_t offset, std::span<std::byte> out) const {
    std::unique_lock lock(win_mu_);
    return serve_from_window(lock, offset, out);
  }

  /// Reads through readahead windows: reads inside a window (even one still in flight) are
  /// served from it. Readahead adapts to what is read: a read that continues where an earlier
  /// one ended fetches twice as much as that one did (from the read's own size up to readahead_),
  /// so a random reader fetches only what it reads and a sequential one soon reads ahead far.
  void read_windowed(uint64_t offset, std::span<std::byte> out) const {
    std::unique_lock lock(win_mu_);
    // A read served from a window continues the run that fetched it: the window's end is noted.
    if (serve_from_window(lock, offset, out)) return;
    uint64_t previous = 0;  // the window of the run this read continues (0: none)
    for (const auto& r : recent_ends_) {
      if (r.first == offset) previous = r.second;
    }
    auto w = std::make_shared<Window>();
    w->offset = offset;
    w->length = out.size();
    if (previous != 0 && readahead_ > out.size()) {
      const uint64_t grow = std::max<uint64_t>(2 * previous, out.size());
      w->length = std::min({readahead_, size_ - offset, grow});
      w->keep = w->length > out.size();
    }
    windows_.push_back(w);
    note_end(offset + w->length, w->length);
    std::vector<std::byte> data = fetch_window(lock, *w);
    std::memcpy(out.data(), data.data(), out.size());
    lock.lock();
    w->data = std::move(data);
    w->done = true;
    win_cv_.notify_all();
    if (!w->keep) {
      windows_.erase(std::find(windows_.begin(), windows_.end(), w));
    }
    evict_windows();
  }

  /// Fetches the bytes of window `w` (already in windows_) with `lock` (on win_mu_) released
  /// meanwhile; on failure marks it failed, removes it, wakes its waiters and rethrows. Returns
  /// with `lock` released.
  std::vector<std::byte> fetch_window(std::unique_lock<std::mutex>& lock, Window& w) const {
    lock.unlock();
    std::vector<std::byte> data(w.length);
    try {
      fetch(w.offset, data);
    } catch (...) {
      lock.lock();
      w.failed = true;
      windows_.erase(std::find_if(windows_.begin(), windows_.end(),
                                  [&](const auto& x) { return x.get() == &w; }));
      win_cv_.notify_all();
      throw;
    }
    return data;
  }

  /// Evicts the oldest finished windows beyond the budget. Holds win_mu_.
  void evict_windows() const {
    uint64_t total = 0;
    for (const auto& x : windows_) total += x->length;
    size_t count = windows_.size();  // also bounded in number: every read scans them
    for (auto it = windows_.begin();
         it != windows_.end() && (total > kWindowBudget || count > kMaxWindows);) {
      if ((*it)->done) {
        total -= (*it)->length;
        --count;
        it = windows_.erase(it);
      } else {
        ++it;
      }
    }
  }

  /// Remembers that a run of reads reached `end` with a window of `window` bytes.
  void note_end(uint64_t end, uint64_t window) const {
    recent_ends_.emplace_back(end, window);
    if (recent_ends_.size() > 16) recent_ends_.pop_front();
  }

  HttpTarget target_;
  HttpClient client_;
  uint64_t size_ = 0;
  std::string etag_;
  std::vector<std::byte> head_;
  uint64_t readahead_;
  std::unique_ptr<DiskCache> cache_;
  mutable std::mutex tail_mu_;
  mutable uint64_t tail_offset_ = 0;
  mutable std::vector<std::byte> tail_;
  mutable std::mutex win_mu_;
  mutable std::condition_variable win_cv_;
  mutable std::deque<std::shared_ptr<Window>> windows_;
  mutable std::deque<std::pair<uint64_t, uint64_t>> recent_ends_;  ///< (end, window bytes)
  mutable std::atomic<uint64_t> requests_{0};
  mutable std::atomic<uint64_t> bytes_{0};
};

}  // namespace

std::unique_ptr<ReadableFile> open_http_file(HttpTarget target, const StorageOptions& options) {
  return std::make_unique<HttpFile>(std::move(target), options);
}

}  // namespace hexz::io
