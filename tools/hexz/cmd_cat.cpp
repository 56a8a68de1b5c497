// The `cat` subcommand: copies a byte range of one stream to stdout.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "extract_output.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "password.hpp"
#include "posix_io.hpp"

namespace hexz::cli {
namespace {

/// Bytes read from the snapshot and written to stdout per step.
constexpr uint64_t kPieceSize = 4ull << 20;

/// Command-line values of `cat`.
struct CatArgs {
  std::string snapshot;
  std::string stream;  ///< Empty: disk if present, else memory.
  uint64_t offset = 0;
  std::optional<uint64_t> length;  ///< Unset: to the end of the stream.
  unsigned threads = 0;
  AccessArgs access;
};

/// The stream `cat` reads: the requested one (which must exist) or the default.
Stream choose_stream(const Snapshot& snapshot, const std::string& requested) {
  if (!requested.empty()) {
    Stream stream = to_stream(requested);
    if (!snapshot.has_stream(stream)) {
      throw Error(ErrorCode::kOutOfRange,
                  std::string("the snapshot has no ") + stream_name(stream) + " stream");
    }
    return stream;
  }
  if (snapshot.has_stream(Stream::kDisk)) return Stream::kDisk;
  if (snapshot.has_stream(Stream::kMemory)) return Stream::kMemory;
  throw Error(ErrorCode::kOutOfRange, "the snapshot has no streams");
}

/// Runs `cat` for `args`; returns the exit status.
int run_cat(const CatArgs& args) {
  SnapshotOpener opener(args.access);
  OpenOptions options;
  options.prefetch = false;  // a boot trace is for serving, not for this
  options.threads = args.threads;
  std::unique_ptr<Snapshot> snapshot = opener.open(args.snapshot, options);
  // `hexz cat SNAP >> SNAP` would append the snapshot to itself while reading it.
  if (args.snapshot.find("://") == std::string::npos) {
    struct stat out {};
    const std::vector<FileId> in = file_id_of(args.snapshot);
    if (::fstat(STDOUT_FILENO, &out) == 0 && !in.empty() &&
        in[0] == FileId{out.st_dev, out.st_ino}) {
      throw Error(ErrorCode::kInvalidArgument,
                  "standard output is the snapshot being read ('" + args.snapshot + "')");
    }
  }
  Stream stream = choose_stream(*snapshot, args.stream);
  const uint64_t size = snapshot->size(stream);
  const std::string name = stream_name(stream);
  if (args.offset > size) {
    throw Error(ErrorCode::kOutOfRange, "offset " + std::to_string(args.offset) +
                                            " is past the end of stream " + name + " (size " +
                                            std::to_string(size) + ")");
  }
  uint64_t length = args.length.value_or(size - args.offset);
  if (length > size - args.offset) {
    throw Error(ErrorCode::kOutOfRange, "range " + std::to_string(args.offset) + "+" +
                                            std::to_string(length) +
                                            " extends past the end of stream " + name + " (size " +
                                            std::to_string(size) + ")");
  }

  // Two buffers: each piece is written while the next is decoded (the snapshot decodes a
  // piece's blocks on its worker threads), unless standard output is a character device such
  // as /dev/null, whose writes cost nothing to wait for (one warm buffer is faster there).
  struct stat st {};
  const bool overlap = ::fstat(STDOUT_FILENO, &st) != 0 || !S_ISCHR(st.st_mode);
  std::vector<std::byte> buffers[2];
  for (auto& b : buffers) {
    b.resize(static_cast<size_t>(std::min(length, kPieceSize)));
    if (!overlap) break;
  }
  std::future<int> writing;  // errno of the write in flight, 0 if it succeeded
  struct Join {
    std::future<int>& f;
    ~Join() {
      if (f.valid()) f.wait();  // no write outlives its buffer
    }
  } join{writing};
  const auto finish_write = [&writing] {
    if (!writing.valid()) return true;
    const int err = writing.get();
    if (err == EPIPE) return false;  // The reader went away (e.g. `| head`); stop quietly.
    if (err != 0)
      throw Error(ErrorCode::kIo, errno_message("cannot write to standard output", err));
    return true;
  };
  size_t next = 0;
  for (uint64_t done = 0; done < length;) {
    auto piece = static_cast<size_t>(std::min(length - done, kPieceSize));
    std::span<std::byte> out(buffers[next].data(), piece);
    snapshot->read(stream, args.offset + done, out);  // the other buffer may still be written
    if (!finish_write()) return kExitOk;
    writing = std::async(overlap ? std::launch::async : std::launch::deferred,
                         [out] { return write_all(STDOUT_FILENO, out); });
    if (!overlap && !finish_write()) return kExitOk;
    next = overlap ? next ^ 1 : 0;
    done += piece;
  }
  finish_write();  // a reader that went away at the very end is no error either
  return kExitOk;
}

}  // namespace

void add_cat_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<CatArgs>();
  CLI::App* sub = add_command(parent, "cat", "Write bytes of a stream to standard output", selected,
                              [args] { return run_cat(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file (.hxz)")->type_name("")->required();
  sub->add_option("--stream", args->stream,
                  "Stream to read (default: disk, or memory if there is no disk)")
      ->type_name("disk|memory")
      ->check(stream_validator());
  sub->add_option("--offset", args->offset, "First byte to write")
      ->type_name("SIZE")
      ->transform(size_transform())
      ->capture_default_str();
  sub->add_option("--length", args->length, "Number of bytes to write (default: to the end)")
      ->type_name("SIZE")
      ->transform(size_transform());
  add_threads_option(sub, args->threads, "Decode and read-ahead threads; 0 = all cores");
  add_access_options(sub, args->access);
  sub->footer(
      std::string(
          "SIZE accepts a byte count with an optional binary suffix K, M or G, e.g. 64K.\n") +
      kAccessFooter);
}

}  // namespace hexz::cli
