#include "remote/multipart_upload.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "hexz/error.hpp"
#include "io/s3_file.hpp"

namespace hexz::remote {

using io::HttpClient;
using io::HttpRequest;
using io::HttpResponse;
using io::HttpTarget;
using io::throw_http_error;

namespace {

using Md5 = std::array<unsigned char, 16>;

Md5 md5(const void* data, size_t len) {
  Md5 out{};
  unsigned int n = 0;
  if (EVP_Digest(data, len, out.data(), &n, EVP_md5(), nullptr) != 1 || n != 16) {
    throw Error(ErrorCode::kInternal, "MD5 failed");
  }
  return out;
}

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string to_base64(const Md5& m) {
  unsigned char out[32] = {};
  EVP_EncodeBlock(out, m.data(), static_cast<int>(m.size()));
  return reinterpret_cast<const char*>(out);
}

std::string xml_field(const std::string& body, const std::string& tag) {
  const std::string open = "<" + tag + ">";
  const std::string close = "</" + tag + ">";
  const size_t b = body.find(open);
  if (b == std::string::npos) return "";
  const size_t e = body.find(close, b);
  if (e == std::string::npos) return "";
  return body.substr(b + open.size(), e - b - open.size());
}

std::string unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

void pread_all(int fd, std::byte* out, size_t len, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < len) {
    const ssize_t r = ::pread(fd, out + done, len - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error(ErrorCode::kIo, "cannot read '" + path + "': " + std::strerror(errno));
    if (r == 0) throw Error(ErrorCode::kIo, "'" + path + "' shrank while being uploaded");
    done += static_cast<size_t>(r);
  }
}

}  // namespace

void head_object(const HttpTarget& target, uint64_t* size, std::string* etag) {
  HttpClient client;
  HttpRequest req;
  req.method = "HEAD";
  const HttpResponse r = client.perform(target, req);
  if (r.status != 200) throw_http_error(target, r, "HEAD");
  *size = std::strtoull(r.content_length.c_str(), nullptr, 10);
  *etag = r.etag;
}

bool object_exists(const HttpTarget& target) {
  HttpClient client;
  HttpRequest req;
  req.method = "HEAD";
  const HttpResponse r = client.perform(target, req);
  if (r.status == 404) return false;
  if (r.status != 200) throw_http_error(target, r, "HEAD");
  return true;
}

void delete_object(const HttpTarget& target) {
  HttpClient client;
  HttpRequest req;
  req.method = "DELETE";
  const HttpResponse r = client.perform(target, req);
  if (r.status != 204 && r.status != 200 && r.status != 404) {
    throw_http_error(target, r, "deleting");
  }
}

UploadResult upload_multipart(const std::string& path, const HttpTarget& target, uint64_t part_size,
                              unsigned threads,
                              const std::function<void(uint64_t, uint64_t)>& progress) {
  if (part_size < (5ull << 20) || part_size > (5ull << 30)) {
    throw Error(ErrorCode::kInvalidArgument, "the part size must be between 5 MiB and 5 GiB");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw Error(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot open '" + path + "': " + std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "'" + path + "' is not a regular file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t parts = size == 0 ? 1 : (size + part_size - 1) / part_size;
  if (parts > 10000) {
    throw Error(ErrorCode::kInvalidArgument,
                "'" + path + "' needs more than 10000 parts; use a larger part size");
  }

  HttpClient client;
  HttpRequest init;
  init.method = "POST";
  init.query = "?uploads=";
  const HttpResponse ir = client.perform(target, init);
  if (ir.status != 200) throw_http_error(target, ir, "starting the upload of");
  const std::string upload_id = xml_field(ir.body, "UploadId");
  if (upload_id.empty()) {
    throw Error(ErrorCode::kIo, "'" + target.name + "': the server sent no upload id");
  }
  const std::string id_query = "uploadId=" + io::percent_encode(upload_id, false);

  std::vector<std::string> etags(parts);
  std::vector<Md5> digests(parts);
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex mu;
  uint64_t done_bytes = 0;
  auto worker = [&] {
    std::vector<std::byte> buf;
    for (;;) {
      const uint64_t p = next.fetch_add(1);
      if (p >= parts || failed.load()) return;
      try {
        const uint64_t off = p * part_size;
        const size_t len = static_cast<size_t>(std::min(part_size, size - std::min(size, off)));
        buf.resize(len);
        pread_all(fd, buf.data(), len, off, path);
        digests[p] = md5(buf.data(), len);
        HttpRequest put;
        put.method = "PUT";
        put.query = "?partNumber=" + std::to_string(p + 1) + "&" + id_query;
        put.body = buf;
        put.headers.push_back("Content-MD5: " + to_base64(digests[p]));
        const HttpResponse r = client.perform(target, put);
        if (r.status != 200)
          throw_http_error(target, r, "uploading part " + std::to_string(p + 1) + " of");
        if (r.etag.empty() || unquote(r.etag) != to_hex(digests[p].data(), 16)) {
          throw Error(ErrorCode::kIo, "'" + target.name + "': part " + std::to_string(p + 1) +
                                          " did not land intact (ETag " + r.etag + ")");
        }
        etags[p] = r.etag;
        std::lock_guard lock(mu);
        done_bytes += len;
        if (progress) progress(done_bytes, size);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!failed.exchange(true)) error = std::current_exception();
        return;
      }
    }
  };
  const unsigned n =
      static_cast<unsigned>(std::max<uint64_t>(1, std::min<uint64_t>(threads, parts)));
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < n; ++i) pool.emplace_back(worker);
  for (auto& t : pool) t.join();

  auto abort_upload = [&] {
    try {
      HttpRequest del;
      del.method = "DELETE";
      del.query = "?" + id_query;
      client.perform(target, del);
    } catch (const std::exception&) {
      // best effort
    }
  };
  if (error) {
    abort_upload();
    std::rethrow_exception(error);
  }

  std::string xml = "<CompleteMultipartUpload>";
  std::vector<unsigned char> all;
  for (uint64_t p = 0; p < parts; ++p) {
    xml += "<Part><PartNumber>" + std::to_string(p + 1) + "</PartNumber><ETag>" + etags[p] +
           "</ETag></Part>";
    all.insert(all.end(), digests[p].begin(), digests[p].end());
  }
  xml += "</CompleteMultipartUpload>";
  HttpRequest complete;
  complete.method = "POST";
  complete.query = "?" + id_query;
  complete.body = std::as_bytes(std::span(xml.data(), xml.size()));
  complete.headers.push_back("Content-Type: application/xml");
  HttpResponse cr;
  try {
    cr = client.perform(target, complete);
    if (cr.status != 200) throw_http_error(target, cr, "completing the upload of");
    if (cr.body.find("<Error>") != std::string::npos) {
      throw Error(ErrorCode::kIo, "completing the upload of '" + target.name + "' failed (" +
                                      xml_field(cr.body, "Code") + ")");
    }
  } catch (...) {
    abort_upload();
    throw;
  }
  UploadResult result;
  result.bytes = size;
  result.parts = parts;
  result.etag = xml_field(cr.body, "ETag");
  for (const char* q : {"&quot;", "&#34;"}) {
    for (size_t at; (at = result.etag.find(q)) != std::string::npos;) {
      result.etag.replace(at, std::strlen(q), "\"");
    }
  }
  const Md5 composite = md5(all.data(), all.size());
  result.expected_etag = to_hex(composite.data(), 16) + "-" + std::to_string(parts);
  return result;
}

}  // namespace hexz::remote
