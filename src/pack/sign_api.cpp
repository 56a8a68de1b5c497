// hexz::sign_snapshot() and the key helpers of include/hexz/signing.hpp.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/signature.hpp"
#include "format/signatures.hpp"
#include "hash/digest.hpp"
#include "hexz/error.hpp"
#include "hexz/signing.hpp"
#include "io/url.hpp"
#include "read/snapshot_reader.hpp"

namespace hexz {

void generate_signing_key(const std::string& private_key_path, bool overwrite) {
  crypto::generate_key_pair(private_key_path, private_key_path + ".pub", overwrite);
}

PublicKey read_public_key(const std::string& path) {
  return crypto::load_public_key(path);
}

SignResult sign_snapshot(const std::string& snapshot_path, const std::string& private_key_path,
                         const OpenOptions& open_options) {
  if (io::is_remote(snapshot_path)) {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot sign '" + snapshot_path + "' in place: sign the local file, then push it");
  }
  OpenOptions o = open_options;
  o.trusted_keys.clear();
  o.verify_reads = false;
  o.threads = 1;
  o.prefetch = false;
  read::SnapshotReader reader(io::open_local_file(snapshot_path), o, false);
  reader.check_index_digest();  // sign only an identity that names this index
  const auto& h = reader.header();
  SignResult result;
  result.identity_hex = hash::to_hex(h.identity.data(), h.identity.size());
  format::SignatureRecord record;
  record.signature = crypto::sign_with_key_file(private_key_path,
                                                format::signature_message(h.identity), record.key);
  result.key = record.key;
  std::vector<format::SignatureRecord> records;
  for (const auto& r : reader.signatures()) {
    if (r.key == record.key) {
      result.replaced = true;
    } else {
      records.push_back(r);
    }
  }
  if (records.size() >= format::kMaxSignatures) {
    throw Error(ErrorCode::kInvalidArgument, "'" + snapshot_path + "' already has " +
                                                 std::to_string(records.size()) +
                                                 " signatures, the most a file can hold");
  }
  records.push_back(record);
  result.signatures = records.size();
  const auto trailer = format::encode_signature_trailer(records);
  const int fd = ::open(snapshot_path.c_str(), O_WRONLY | O_CLOEXEC);
  const auto fail = [&](const char* what) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    throw Error(ErrorCode::kIo,
                "cannot " + std::string(what) + " '" + snapshot_path + "': " + std::strerror(err));
  };
  if (fd < 0) fail("open");
  // The snapshot's own bytes [0, file_size) are left alone; only the trailer is rewritten.
  if (::ftruncate(fd, static_cast<off_t>(h.file_size)) != 0) fail("truncate");
  size_t done = 0;
  while (done < trailer.size()) {
    const ssize_t n = ::pwrite(fd, trailer.data() + done, trailer.size() - done,
                               static_cast<off_t>(h.file_size + done));
    if (n <= 0) fail("write the signature to");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("sync");
  if (::close(fd) != 0) fail("close");
  return result;
}

}  // namespace hexz
