// hexz::update_attachments(): rewriting a snapshot's attachment region and header in place,
// without touching its data region, dictionary, base table or master index.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "format/attachments.hpp"
#include "format/records.hpp"
#include "hash/digest.hpp"
#include "hexz/attachments.hpp"
#include "hexz/error.hpp"
#include "hexz/version.hpp"
#include "io/url.hpp"
#include "pack/attachment_region.hpp"
#include "read/snapshot_reader.hpp"

namespace hexz {

namespace {

/// End of the sections of format 1.0 in the tail: everything an attachment update keeps.
uint64_t kept_end(const format::Header& h) {
  uint64_t end = h.master_offset + h.master_length;
  if (h.dict_length != 0) end = std::max(end, h.dict_offset + h.dict_length);
  if (h.base_count != 0) end = std::max(end, h.bases_offset + uint64_t{h.bases_length});
  if (h.base_keys_length != 0)
    end = std::max(end, h.base_keys_offset + uint64_t{h.base_keys_length});
  return std::max(end, h.tail_offset);
}

/// A file opened for the in-place rewrite; every failure is kIo naming the file.
class RewriteFile {
 public:
  explicit RewriteFile(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) fail("open");
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail("stat");
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~RewriteFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  RewriteFile(const RewriteFile&) = delete;
  RewriteFile& operator=(const RewriteFile&) = delete;
  uint64_t size() const { return size_; }
  void write_at(uint64_t at, const void* data, size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd_, p + done, size - done, static_cast<off_t>(at + done));
      if (n <= 0) fail("write to");
      done += static_cast<size_t>(n);
    }
  }
  void sync() {
    if (::fsync(fd_) != 0) fail("sync");
  }
  void truncate(uint64_t size) {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) fail("truncate");
  }
  void close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close");
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw Error(ErrorCode::kIo,
                "cannot " + std::string(what) + " '" + path_ + "': " + std::strerror(errno));
  }
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

/// The header bytes of `h` for `reader`'s snapshot, with a fresh MAC when it is encrypted.
std::array<unsigned char, format::kHeaderSize> header_bytes(const format::Header& h,
                                                            const read::SnapshotReader& reader) {
  std::array<unsigned char, format::kHeaderSize> bytes{};
  format::encode_header(h, bytes);
  if (const auto* cipher = reader.cipher()) {
    const auto mac = cipher->header_mac(format::header_mac_input(bytes));
    std::memcpy(bytes.data() + format::kHeaderMacOffset, mac.data(), mac.size());
    format::reseal_header_checksum(bytes);
  }
  return bytes;
}

/// `base` with the attachment region `region` (null: none) at `at`, its new size and identity.
format::Header with_region(const format::Header& base, const read::SnapshotReader& reader,
                           const packing::AttachmentRegion* region, uint64_t at) {
  format::Header h = base;
  packing::record_attachment_region(h, region, at);
  h.file_size = region != nullptr ? at + region->bytes.size() : at;
  h.tail_length = h.file_size - h.tail_offset;
  const auto* dict = reader.dictionary();
  const auto table = format::encode_bases(reader.bases());
  h.identity = format::compose_identity(
      h.index_digest, dict != nullptr,
      dict != nullptr ? std::span<const std::byte>(dict->bytes()) : std::span<const std::byte>(),
      h.base_count != 0, table, region != nullptr ? &region->table : nullptr);
  return h;
}

}  // namespace

AttachResult update_attachments(const std::string& path, const std::vector<AttachmentSource>& set,
                                const std::vector<std::string>& remove,
                                const AttachOptions& options) {
  if (io::is_remote(path)) {
    throw Error(ErrorCode::kInvalidArgument, "cannot change the attachments of '" + path +
                                                 "' in place: change the local file, then push it");
  }
  OpenOptions o = options.open;
  o.trusted_keys.clear();
  o.verify_reads = false;
  o.threads = 1;
  o.prefetch = false;
  read::SnapshotReader reader(io::open_local_file(path), o, false);
  const format::Header& old = reader.header();
  if (old.version_minor > kFormatVersionMinor) {
    throw Error(ErrorCode::kUnsupported,
                "'" + path + "' is format 1." + std::to_string(old.version_minor) +
                    ": its tail may hold sections this hexz does not know; upgrade hexz");
  }
  AttachResult result;
  if (!reader.signatures().empty()) {
    if (!options.drop_signatures) {
      throw Error(
          ErrorCode::kInvalidArgument,
          "'" + path +
              "' is signed: changing its attachments changes its identity, "
              "which its signatures cover; drop them (--drop-signatures) and sign it again");
    }
    result.signatures_dropped = reader.signatures().size();
  }
  // The new list: the current attachments in order, replaced or removed, then the new ones.
  const auto& current = reader.attachment_table().records;
  for (const auto& r : remove) {
    const bool known =
        std::any_of(current.begin(), current.end(), [&](const auto& c) { return c.name == r; });
    if (!known) {
      throw Error(ErrorCode::kNotFound, "'" + path + "' has no attachment '" + r + "' to remove");
    }
    for (const auto& s : set) {
      if (s.name == r) {
        throw Error(ErrorCode::kInvalidArgument, "attachment '" + r + "' is both set and removed");
      }
    }
  }
  std::vector<packing::AttachmentInput> list;
  std::vector<bool> used(set.size(), false);
  const auto load = [](const AttachmentSource& s) {
    return packing::AttachmentInput{
        s.name, s.path.empty() ? s.bytes : read_attachment_file(s.path, s.name)};
  };
  for (size_t i = 0; i < current.size(); ++i) {
    const auto& name = current[i].name;
    if (std::find(remove.begin(), remove.end(), name) != remove.end()) continue;
    const auto it =
        std::find_if(set.begin(), set.end(), [&](const auto& s) { return s.name == name; });
    if (it != set.end()) {
      used[static_cast<size_t>(it - set.begin())] = true;
      list.push_back(load(*it));
    } else {
      list.push_back({name, read::read_attachment_content(reader.file(), old, reader.cipher(),
                                                          reader.attachment_table(), i)});
    }
  }
  for (size_t i = 0; i < set.size(); ++i) {
    if (!used[i]) list.push_back(load(set[i]));
  }
  packing::check_attachments(list);

  std::optional<packing::AttachmentRegion> region;
  if (!list.empty()) {
    region = packing::build_attachment_region(list, old.codec, old.level, reader.cipher());
  }
  const packing::AttachmentRegion* rp = region ? &*region : nullptr;
  const uint64_t keep = kept_end(old);
  RewriteFile file(path);
  const uint64_t end = file.size();  // the old snapshot and its signature trailer
  format::Header h;
  if (rp == nullptr) {
    h = with_region(old, reader, nullptr, keep);
    const auto bytes = header_bytes(h, reader);
    file.write_at(0, bytes.data(), bytes.size());
    file.sync();
    file.truncate(keep);
  } else {
    // 1. The region goes past the old end: nothing the current header uses is touched, and an
    //    error before the header is written is undone by truncating back.
    try {
      file.write_at(end, rp->bytes.data(), rp->bytes.size());
      file.sync();
      h = with_region(old, reader, rp, end);
      const auto bytes = header_bytes(h, reader);
      file.write_at(0, bytes.data(), bytes.size());
      file.sync();
    } catch (...) {
      try {
        file.truncate(end);
      } catch (...) {
      }
      throw;
    }
    // 2. The snapshot is valid now, with the old region (and trailer) as unused tail bytes.
    //    Where the region fits below its new place, move it down and cut the file there.
    if (rp->bytes.size() <= end - keep) {
      file.write_at(keep, rp->bytes.data(), rp->bytes.size());
      file.sync();
      h = with_region(old, reader, rp, keep);
      const auto bytes = header_bytes(h, reader);
      file.write_at(0, bytes.data(), bytes.size());
      file.sync();
      file.truncate(h.file_size);
    }
  }
  file.sync();
  file.close();
  result.identity_hex = hash::to_hex(h.identity.data(), h.identity.size());
  result.attachments = list.size();
  return result;
}

AttachResult add_attachment(const std::string& path, const std::string& name,
                            std::span<const std::byte> bytes, const AttachOptions& options) {
  AttachmentSource s;
  s.name = name;
  s.bytes.assign(bytes.begin(), bytes.end());
  return update_attachments(path, {s}, {}, options);
}

AttachResult remove_attachment(const std::string& path, const std::string& name,
                               const AttachOptions& options) {
  return update_attachments(path, {}, {name}, options);
}

}  // namespace hexz
