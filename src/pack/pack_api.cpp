// Public entry points of the pack layer: hexz::pack() and hexz::flatten().
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include "crypto/secrets.hpp"
#include "format/attachments.hpp"
#include "hexz/attachments.hpp"
#include "hexz/error.hpp"
#include "hexz/flatten.hpp"
#include "hexz/pack.hpp"
#include "io/input_file.hpp"
#include "io/nbd_input.hpp"
#include "io/open_input.hpp"
#include "io/output_file.hpp"
#include "pack/base_index.hpp"
#include "pack/hole_fill_source.hpp"
#include "pack/options_check.hpp"
#include "pack/packer.hpp"
#include "pack/snapshot_source.hpp"

namespace hexz {

namespace {

/// True if `path` names the same file as `input` (so packing would overwrite an input).
bool same_file(const std::string& path, const io::InputFile& input) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  return st.st_dev == input.device() && st.st_ino == input.inode();
}

void refuse_output_equal_to(const std::string& output, const std::string& path, const char* what) {
  struct stat a {
  }, b{};
  if (::stat(output.c_str(), &a) == 0 && ::stat(path.c_str(), &b) == 0 && a.st_dev == b.st_dev &&
      a.st_ino == b.st_ino) {
    throw Error(ErrorCode::kInvalidArgument,
                "output '" + output + "' is the same file as the " + what + " '" + path + "'");
  }
}

/// Reads the content of each attachment (from its file when it names one) and checks the list.
std::vector<packing::AttachmentInput> load_attachments(const std::vector<AttachmentSource>& list) {
  std::vector<packing::AttachmentInput> out;
  for (const auto& a : list) {
    packing::AttachmentInput in{a.name, a.bytes};
    if (!a.path.empty()) in.bytes = read_attachment_file(a.path, a.name);
    out.push_back(std::move(in));
  }
  packing::check_attachments(out);
  return out;
}

}  // namespace

std::vector<std::byte> read_attachment_file(const std::string& path, const std::string& name) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(ErrorCode::kNotFound,
                "cannot read attachment '" + name + "' from '" + path + "': no such file");
  }
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument,
                "attachment '" + name + "': '" + path + "' is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > format::kMaxAttachmentSize) {
    throw Error(ErrorCode::kInvalidArgument, "attachment '" + name + "' ('" + path + "') is " +
                                                 std::to_string(st.st_size) +
                                                 " bytes: an attachment holds at most 64 MiB");
  }
  std::ifstream f(path, std::ios::binary);
  std::vector<std::byte> bytes(static_cast<size_t>(st.st_size));
  if (!f ||
      !f.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()))) {
    throw Error(ErrorCode::kIo, "cannot read attachment '" + name + "' from '" + path + "'");
  }
  return bytes;
}

size_t remove_stale_temp_files(const std::string& path) {
  return io::remove_stale_temp_files(path);
}

PackResult pack(const PackOptions& options, const ProgressFn& progress) {
  packing::validate_options(options);
  if (options.disk_path == "-" && options.memory_path == "-") {
    throw Error(ErrorCode::kInvalidArgument,
                "the disk and memory images cannot both be read from standard input");
  }
  if (options.train_dictionary && (options.disk_path == "-" || options.memory_path == "-")) {
    throw Error(ErrorCode::kInvalidArgument,
                "a dictionary cannot be trained on standard input (it samples the whole image)");
  }
  std::unique_ptr<io::InputSource> files[kStreamCount];
  const std::string* paths[kStreamCount] = {&options.disk_path, &options.memory_path};
  const char* roles[kStreamCount] = {"disk image", "memory image"};
  for (int s = 0; s < kStreamCount; ++s) {
    if (paths[s]->empty()) continue;
    if (*paths[s] == "-") {
      files[s] = std::make_unique<io::StreamInput>(0, "standard input", roles[s], !options.raw);
    } else {
      files[s] = io::open_input(*paths[s], roles[s], options.raw);
    }
  }
  packing::PackJob job{options, {}, nullptr, load_attachments(options.attachments)};
  for (int s = 0; s < kStreamCount; ++s) {
    if (!files[s]) continue;
    const auto* file = dynamic_cast<const io::InputFile*>(files[s].get());
    if (file != nullptr && same_file(options.output_path, *file)) {
      throw Error(ErrorCode::kInvalidArgument, "output '" + options.output_path +
                                                   "' is the same file as input '" +
                                                   files[s]->path() + "'");
    }
    if (dynamic_cast<const io::NbdInput*>(files[s].get()) != nullptr && !io::is_nbd_uri(*paths[s]))
      refuse_output_equal_to(options.output_path, *paths[s], roles[s]);
    job.inputs.push_back({static_cast<Stream>(s), files[s].get()});
  }
  std::unique_ptr<packing::BaseIndex> base;
  if (!options.base_path.empty()) {
    refuse_output_equal_to(options.output_path, options.base_path, "base snapshot");
    // An encrypted base opens with its own password, which defaults to the new snapshot's.
    std::string base_password;
    const crypto::ScopedWipe wipe_base_password(base_password);
    if (options.encrypt)
      base_password = options.base_password.empty() ? options.password : options.base_password;
    base = std::make_unique<packing::BaseIndex>(options.base_path, options.base_dirs,
                                                options.endpoint, base_password);
    job.base = base.get();
  }
  std::vector<std::unique_ptr<packing::HoleFillSource>> filled;
  if (options.holes_inherit) {
    for (auto& in : job.inputs) {
      filled.push_back(
          std::make_unique<packing::HoleFillSource>(*in.source, base->snapshot(), in.stream));
      in.source = filled.back().get();
    }
  }
  return packing::run_pack(job, progress);
}

PackResult flatten(const std::string& snapshot_path, const PackOptions& options,
                   const OpenOptions& open_options, const ProgressFn& progress) {
  PackOptions o = options;
  o.base_path.clear();
  packing::validate_options(o, false);
  refuse_output_equal_to(o.output_path, snapshot_path, "snapshot being flattened");
  // Every chunk is checked against its digest (a base's against the base's) before it is
  // repacked: bad bytes of a base must not become a new snapshot that verifies.
  OpenOptions verified = open_options;
  verified.verify_reads = true;
  verified.prefetch = false;
  const auto snapshot = Snapshot::open(snapshot_path, verified);
  std::vector<std::unique_ptr<packing::SnapshotSource>> sources;
  packing::PackJob job{o, {}, nullptr, load_attachments(o.attachments)};
  if (o.attachments.empty()) {  // keep the snapshot's own attachments
    for (const auto& a : snapshot->attachments())
      job.attachments.push_back({a.name, snapshot->read_attachment(a.name)});
  }
  for (int s = 0; s < kStreamCount; ++s) {
    const auto stream = static_cast<Stream>(s);
    if (!snapshot->has_stream(stream)) continue;
    std::string name = snapshot_path;
    name.append(":").append(stream_name(stream));
    sources.push_back(
        std::make_unique<packing::SnapshotSource>(*snapshot, stream, std::move(name)));
    job.inputs.push_back({stream, sources.back().get()});
  }
  return packing::run_pack(job, progress);
}

PackOptions options_like(const SnapshotInfo& info) {
  PackOptions o;
  o.codec = info.codec;
  o.level = info.level;
  o.block_size = info.block_size;
  o.cdc = info.cdc;
  if (info.cdc) {
    o.min_chunk = info.min_chunk;
    o.avg_chunk = info.chunk_size;
    o.max_chunk = info.max_chunk;
  } else {
    o.chunk_size = info.chunk_size;
  }
  o.train_dictionary = info.dictionary_bytes != 0;
  if (info.encrypted) {
    // Never a weaker key derivation than the snapshot's own, nor than today's default.
    o.kdf_iterations = std::max(o.kdf_iterations, info.kdf_iterations);
    o.kdf_memory_kib = std::max(o.kdf_memory_kib, info.kdf_memory_kib);
    o.kdf_parallelism = std::max(o.kdf_parallelism, info.kdf_parallelism);
  }
  return o;
}

}  // namespace hexz
