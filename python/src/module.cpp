// hexz._hexz: the pybind11 engine behind the `hexz` Python package.
//
// The public Python API (argument checking, the file-object streams, the error classes, the
// docstrings users read) lives in python/hexz/__init__.py; this module only wraps libhexz.
// Rules kept throughout:
//  - The GIL is released around every call into libhexz that can take time (open, pack,
//    read, info, verify, extents), so other Python threads keep running.
//  - Python objects are touched only with the GIL held.
//  - hexz::Error becomes an instance of the matching class from hexz._errors, built from the
//    error's code name and its message, so Python shows exactly what the CLI prints.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "hexz/commit.hpp"
#include "hexz/hexz.hpp"

namespace py = pybind11;

namespace {

// ---------------------------------------------------------------------------------------------
// Errors

/// Sets the Python error for a hexz::Error: hexz._errors._make_error(code_name, message).
void set_python_error(const hexz::Error& error) {
  try {
    // Messages quote file names, which need not be UTF-8: decode leniently.
    const std::string what = error.what();
    PyObject* text =
        PyUnicode_DecodeUTF8(what.data(), static_cast<Py_ssize_t>(what.size()), "replace");
    if (text == nullptr) throw py::error_already_set();
    py::object message = py::reinterpret_steal<py::object>(text);
    py::object make = py::module_::import("hexz._errors").attr("_make_error");
    py::object exc = make(hexz::error_code_name(error.code()), message);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  } catch (py::error_already_set& e) {
    e.restore();  // Could not even build the exception: report why.
  }
}

[[noreturn]] void invalid_argument(const std::string& message) {
  throw hexz::Error(hexz::ErrorCode::kInvalidArgument, message);
}

/// "disk"/"memory" to a Stream, with the CLI's message for anything else.
hexz::Stream to_stream(const std::string& name) {
  std::optional<hexz::Stream> stream = hexz::parse_stream(name);
  if (!stream) invalid_argument("unknown stream '" + name + "' (expected disk or memory)");
  return *stream;
}

// ---------------------------------------------------------------------------------------------
// Progress: the bridge between libhexz's ProgressFn and a Python callable.

/// Called by libhexz on the thread that runs pack()/verify() (which is the Python caller's
/// thread, with the GIL released). At most every kInterval, and always for the first and the
/// final report, it takes the GIL, runs pending signal handlers (so Ctrl+C interrupts a long
/// pack) and calls the Python callback. If either raises, the Python exception is kept and a
/// hexz::Error(kAborted) is thrown into libhexz, which abandons its work cleanly; the caller
/// then re-raises the kept exception (see rethrow_python_error()).
class ProgressBridge {
 public:
  static constexpr std::chrono::milliseconds kInterval{50};

  explicit ProgressBridge(py::object callback) : callback_(std::move(callback)) {}

  // Lives on the caller's stack and dies there with the GIL held (it owns Python references).
  ProgressBridge(const ProgressBridge&) = delete;
  ProgressBridge& operator=(const ProgressBridge&) = delete;

  /// The function to hand to libhexz; valid while the bridge lives.
  hexz::ProgressFn fn() {
    return [this](uint64_t done, uint64_t total) { report(done, total); };
  }

  /// Re-raises the Python exception that aborted the operation, if any. Call with the GIL.
  void rethrow_python_error() const {
    if (python_error_) std::rethrow_exception(python_error_);
  }

 private:
  void report(uint64_t done, uint64_t total) {
    // libhexz reports from one thread today; the lock keeps the bridge correct if it ever doesn't.
    const std::lock_guard<std::mutex> lock(mutex_);
    if (python_error_) throw hexz::Error(hexz::ErrorCode::kAborted, "aborted");
    const auto now = std::chrono::steady_clock::now();
    const bool final = done >= total;
    if (delivered_ && done == last_done_ && total == last_total_) return;
    if (delivered_ && !final && now - last_time_ < kInterval) return;
    delivered_ = true;
    last_done_ = done;
    last_total_ = total;
    last_time_ = now;

    py::gil_scoped_acquire gil;
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (!callback_.is_none()) callback_(done, total);
    } catch (py::error_already_set&) {
      python_error_ = std::current_exception();
    }
    if (python_error_) {
      throw hexz::Error(hexz::ErrorCode::kAborted, "aborted by the progress callback");
    }
  }

  std::mutex mutex_;
  py::object callback_;
  std::exception_ptr python_error_;
  bool delivered_ = false;
  uint64_t last_done_ = 0;
  uint64_t last_total_ = 0;
  std::chrono::steady_clock::time_point last_time_{};
};

// ---------------------------------------------------------------------------------------------
// Options

template <typename T>
T get(const py::dict& d, const char* key) {
  return d[key].cast<T>();
}

/// Builds PackOptions from the dict hexz.pack() prepared (types already checked there).
hexz::PackOptions pack_options(const py::dict& d) {
  hexz::PackOptions o;
  o.output_path = get<std::string>(d, "output");
  if (d.contains("disk")) o.disk_path = get<std::string>(d, "disk");
  if (d.contains("memory")) o.memory_path = get<std::string>(d, "memory");
  if (d.contains("compression")) {
    const auto name = get<std::string>(d, "compression");
    std::optional<hexz::Codec> codec = hexz::parse_codec(name);
    if (!codec || *codec == hexz::Codec::kNone) {
      invalid_argument("unknown compression '" + name + "' (expected lz4 or zstd)");
    }
    o.codec = *codec;
  }
  if (d.contains("level")) o.level = get<int>(d, "level");
  if (d.contains("chunk_size")) o.chunk_size = get<uint32_t>(d, "chunk_size");
  if (d.contains("block_size")) o.block_size = get<uint32_t>(d, "block_size");
  if (d.contains("threads")) o.threads = get<unsigned>(d, "threads");
  if (d.contains("force")) o.force = get<bool>(d, "force");
  if (d.contains("raw")) o.raw = get<bool>(d, "raw");
  if (d.contains("train_dictionary")) o.train_dictionary = get<bool>(d, "train_dictionary");
  if (d.contains("cdc")) o.cdc = get<bool>(d, "cdc");
  if (d.contains("min_chunk")) o.min_chunk = get<uint32_t>(d, "min_chunk");
  if (d.contains("avg_chunk")) o.avg_chunk = get<uint32_t>(d, "avg_chunk");
  if (d.contains("max_chunk")) o.max_chunk = get<uint32_t>(d, "max_chunk");
  if (d.contains("base")) o.base_path = get<std::string>(d, "base");
  if (d.contains("base_dirs")) o.base_dirs = get<std::vector<std::string>>(d, "base_dirs");
  if (d.contains("holes_inherit")) o.holes_inherit = get<bool>(d, "holes_inherit");
  if (d.contains("memory_limit")) o.memory_limit = get<uint64_t>(d, "memory_limit");
  // encrypt=True needs a password; a password alone implies encrypt=True.
  if (d.contains("password")) {
    o.password = get<std::string>(d, "password");
    o.encrypt = true;
  }
  if (d.contains("encrypt")) o.encrypt = get<bool>(d, "encrypt");
  if (d.contains("base_password")) o.base_password = get<std::string>(d, "base_password");
  if (d.contains("kdf_memory_kib")) o.kdf_memory_kib = get<uint32_t>(d, "kdf_memory_kib");
  if (d.contains("kdf_iterations")) o.kdf_iterations = get<uint32_t>(d, "kdf_iterations");
  if (d.contains("kdf_parallelism")) o.kdf_parallelism = get<uint32_t>(d, "kdf_parallelism");
  // attachments: [(name, bytes)] or [(name, path)], in order.
  if (d.contains("attachments")) {
    for (const auto& item : d["attachments"].cast<py::list>()) {
      const auto pair = item.cast<py::tuple>();
      hexz::AttachmentSource a;
      a.name = pair[0].cast<std::string>();
      if (py::isinstance<py::bytes>(pair[1])) {
        const std::string bytes = pair[1].cast<std::string>();
        const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
        a.bytes.assign(p, p + bytes.size());
      } else {
        a.path = pair[1].cast<std::string>();
      }
      o.attachments.push_back(std::move(a));
    }
  }
  return o;
}

hexz::OpenOptions open_options(const py::dict& d) {
  hexz::OpenOptions o;
  if (d.contains("block_cache_bytes")) o.block_cache_bytes = get<uint64_t>(d, "block_cache_bytes");
  if (d.contains("page_cache_bytes")) o.page_cache_bytes = get<uint64_t>(d, "page_cache_bytes");
  if (d.contains("threads")) o.threads = get<unsigned>(d, "threads");
  if (d.contains("readahead_bytes")) o.readahead_bytes = get<uint64_t>(d, "readahead_bytes");
  if (d.contains("base_dirs")) o.base_dirs = get<std::vector<std::string>>(d, "base_dirs");
  if (d.contains("password")) o.password = get<std::string>(d, "password");
  if (d.contains("endpoint")) o.endpoint = get<std::string>(d, "endpoint");
  if (d.contains("cache_dir")) o.cache_dir = get<std::string>(d, "cache_dir");
  if (d.contains("verify_reads")) o.verify_reads = get<bool>(d, "verify_reads");
  if (d.contains("trusted_keys")) {
    for (const auto& path : get<std::vector<std::string>>(d, "trusted_keys"))
      o.trusted_keys.push_back(hexz::read_public_key(path));
  }
  if (d.contains("require_encryption")) o.require_encryption = get<bool>(d, "require_encryption");
  if (d.contains("max_kdf_memory_kib"))
    o.max_kdf_memory_kib = get<uint32_t>(d, "max_kdf_memory_kib");
  if (d.contains("max_kdf_iterations"))
    o.max_kdf_iterations = get<uint32_t>(d, "max_kdf_iterations");
  if (d.contains("record_trace")) o.record_trace = get<bool>(d, "record_trace");
  if (d.contains("prefetch")) o.prefetch = get<bool>(d, "prefetch");
  if (d.contains("preload_index")) o.preload_index = get<bool>(d, "preload_index");
  if (d.contains("hydrate_bytes_per_second"))
    o.hydrate_bytes_per_second = get<uint64_t>(d, "hydrate_bytes_per_second");
  return o;
}

py::bytes to_py_bytes(const std::vector<std::byte>& b) {
  return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
}

std::vector<std::byte> from_py_bytes(const py::bytes& b) {
  const std::string_view v(b);
  const auto* p = reinterpret_cast<const std::byte*>(v.data());
  return {p, p + v.size()};
}

py::dict trace_summary_dict(const hexz::TraceSummary& s) {
  py::dict d;
  d["events"] = s.events;
  d["index_pages"] = s.index_pages;
  d["blocks"] = s.blocks;
  py::dict per;
  for (int i = 0; i < hexz::kStreamCount; ++i) {
    per[hexz::stream_name(static_cast<hexz::Stream>(i))] = s.blocks_per_stream[i];
  }
  d["blocks_per_stream"] = per;
  d["stored_bytes"] = s.stored_bytes;
  d["raw_bytes"] = s.raw_bytes;
  d["duration_ms"] = s.duration_ms;
  d["index_digest"] = s.index_digest_hex;
  return d;
}

py::dict read_stats_dict(const hexz::ReadStats& s) {
  py::dict d;
  d["demand_block_misses"] = s.demand_block_misses;
  d["demand_page_misses"] = s.demand_page_misses;
  d["demand_waits"] = s.demand_waits;
  d["prefetched_pages"] = s.prefetched_pages;
  d["prefetched_blocks"] = s.prefetched_blocks;
  d["prefetched_bytes"] = s.prefetched_bytes;
  d["prefetched_unused_bytes"] = s.prefetched_unused_bytes;
  d["trace_events"] = s.trace_events;
  d["prefetch_done"] = s.prefetch_done;
  d["trace_error"] = s.trace_error.empty() ? py::object(py::none()) : py::str(s.trace_error);
  d["remote_requests"] = s.remote_requests;
  d["remote_bytes"] = s.remote_bytes;
  return d;
}

/// add_trace / remove_trace with the password and drop_signatures of `d`.
py::dict change_trace(const std::string& path, const py::object& trace, const py::dict& d) {
  hexz::AttachOptions o;
  if (d.contains("password")) o.open.password = get<std::string>(d, "password");
  if (d.contains("drop_signatures")) o.drop_signatures = get<bool>(d, "drop_signatures");
  hexz::AttachResult r;
  if (trace.is_none()) {
    py::gil_scoped_release nogil;
    r = hexz::remove_trace(path, o);
  } else {
    const std::vector<std::byte> bytes = from_py_bytes(trace.cast<py::bytes>());
    py::gil_scoped_release nogil;
    r = hexz::add_trace(path, bytes, o);
  }
  py::dict out;
  out["identity"] = r.identity_hex;
  out["signatures_dropped"] = r.signatures_dropped;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Results as dicts (the key names are those of `hexz info --json`, see docs/cli-json.md).

/// logical/stored rounded to four decimals as `hexz info --json` does, or None when stored is 0.
py::object ratio(uint64_t logical, uint64_t stored) {
  if (stored == 0) return py::none();
  const double r = static_cast<double>(logical) / static_cast<double>(stored);
  return py::float_(std::round(r * 1e4) / 1e4);
}

py::dict stream_stats(const hexz::StreamStats& s) {
  py::dict d;
  d["logical_size"] = s.logical_size;
  d["chunks"] = s.chunks;
  d["zero_chunks"] = s.zero_chunks;
  d["duplicate_chunks"] = s.dup_chunks;
  d["stored_blocks"] = s.blocks;
  d["stored_bytes"] = s.stored_bytes;
  d["ratio"] = ratio(s.logical_size, s.stored_bytes);
  return d;
}

py::dict streams_dict(const hexz::StreamStats (&streams)[hexz::kStreamCount]) {
  py::dict d;
  for (int i = 0; i < hexz::kStreamCount; ++i) {
    if (!streams[i].present) continue;
    d[hexz::stream_name(static_cast<hexz::Stream>(i))] = stream_stats(streams[i]);
  }
  return d;
}

/// Attachments as `hexz info --json` lists them: [{name, size, stored_size}].
py::list attachments_list(const std::vector<hexz::AttachmentInfo>& list) {
  py::list out;
  for (const auto& a : list) {
    py::dict e;
    e["name"] = a.name;
    e["size"] = a.size;
    e["stored_size"] = a.stored_size;
    out.append(e);
  }
  return out;
}

py::dict info_dict(const hexz::SnapshotInfo& info) {
  py::dict d;
  d["format_version"] =
      std::to_string(info.version_major) + "." + std::to_string(info.version_minor);
  d["header_only"] = info.header_only;
  d["codec"] = hexz::codec_name(info.codec);
  d["level"] = info.level;
  d["chunking"] = info.cdc ? "fastcdc-v1" : "fixed";
  d["chunk_size"] = info.chunk_size;
  if (info.cdc) {
    d["min_chunk"] = info.min_chunk;
    d["avg_chunk"] = info.chunk_size;
    d["max_chunk"] = info.max_chunk;
  }
  d["block_size"] = info.block_size;
  d["file_size"] = info.file_size;
  d["index_bytes"] = info.index_bytes;
  d["dictionary_bytes"] = info.dictionary_bytes;
  d["encrypted"] = info.encrypted;
  if (info.encrypted) {
    py::dict kdf;
    kdf["algorithm"] = "argon2id";
    kdf["iterations"] = info.kdf_iterations;
    kdf["memory_kib"] = info.kdf_memory_kib;
    kdf["parallelism"] = info.kdf_parallelism;
    d["kdf"] = kdf;
  } else {
    d["kdf"] = py::none();
  }
  d["identity"] = info.identity_hex;
  d["streams"] = streams_dict(info.streams);
  // Same fields as `hexz info --json` (docs/cli-json.md).
  py::list histogram;
  for (int k = 0; k < static_cast<int>(std::size(info.chunk_histogram)); ++k) {
    if (info.chunk_histogram[k] == 0) continue;
    py::dict bucket;
    bucket["min_length"] = uint64_t{1} << k;
    bucket["max_length"] = (uint64_t{2} << k) - 1;
    bucket["chunks"] = info.chunk_histogram[k];
    histogram.append(bucket);
  }
  d["chunk_histogram"] = histogram;
  py::list bases;
  for (const auto& base : info.bases) {
    py::dict b;
    b["name"] = base.name;
    b["path"] = base.path.empty() ? py::object(py::none()) : py::object(py::str(base.path));
    b["identity"] = base.identity_hex;
    py::dict refs;
    for (int i = 0; i < hexz::kStreamCount; ++i) {
      if (!info.streams[i].present) continue;
      refs[hexz::stream_name(static_cast<hexz::Stream>(i))] = base.bytes_referenced[i];
    }
    b["bytes_referenced"] = refs;
    bases.append(b);
  }
  d["bases"] = bases;
  d["attachments"] = attachments_list(info.attachments);
  return d;
}

py::dict pack_result_dict(const hexz::PackResult& r) {
  py::dict d;
  d["file_size"] = r.file_size;
  d["seconds"] = r.seconds;
  d["dictionary_bytes"] = r.dictionary_bytes;
  d["warnings"] = r.warnings;
  py::dict streams = streams_dict(r.streams);
  for (int i = 0; i < hexz::kStreamCount; ++i) {
    const char* name = hexz::stream_name(static_cast<hexz::Stream>(i));
    if (!streams.contains(name)) continue;
    py::dict stream = streams[name];
    stream["bytes_read"] = r.streams[i].bytes_read;
  }
  d["streams"] = streams;
  d["memory_limit"] = r.memory_limit;
  d["dedup_table_bytes"] = r.dedup_table_bytes;
  d["dedup_unrecorded_chunks"] = r.dedup_unrecorded_chunks;
  d["dedup_unrecorded_bytes"] = r.dedup_unrecorded_bytes;
  return d;
}

// ---------------------------------------------------------------------------------------------
// pack

/// Runs `job(options, progress)` (pack or commit) without the GIL and returns its result as a
/// dict; the progress callback's own exception wins over the kAborted it causes.
template <typename Job>
py::dict run_pack_job(const py::dict& options, const py::object& progress, Job job) {
  const hexz::PackOptions o = pack_options(options);
  ProgressBridge bridge(progress);
  hexz::PackResult result;
  std::exception_ptr failure;
  {
    py::gil_scoped_release nogil;
    try {
      result = job(o, bridge.fn());
    } catch (...) {
      failure = std::current_exception();
    }
  }
  bridge.rethrow_python_error();
  if (failure) std::rethrow_exception(failure);
  return pack_result_dict(result);
}

py::dict pack(const py::dict& options, const py::object& progress) {
  return run_pack_job(options, progress,
                      [](const hexz::PackOptions& o, const auto& fn) { return hexz::pack(o, fn); });
}

py::dict commit(const std::string& overlay, const py::dict& options, const py::object& progress) {
  return run_pack_job(options, progress, [&overlay](const hexz::PackOptions& o, const auto& fn) {
    return hexz::commit_overlay(overlay, o, fn);
  });
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/// Holds a Py_buffer and releases it (with the GIL, as the owner of this object must hold it).
class WritableBuffer {
 public:
  explicit WritableBuffer(const py::object& obj) {
    // PyBUF_WRITABLE without PyBUF_STRIDES asks for one contiguous block of memory; exporters
    // that cannot give that (a strided view) raise BufferError.
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_WRITABLE) != 0) {
      // As io's readinto(): a TypeError names the problem (read-only, strided, no buffer).
      py::error_already_set cause;
      throw py::type_error(std::string("readinto() needs a writable, contiguous buffer, not ") +
                           Py_TYPE(obj.ptr())->tp_name + " (" + cause.what() + ")");
    }
  }
  ~WritableBuffer() { PyBuffer_Release(&view_); }
  WritableBuffer(const WritableBuffer&) = delete;
  WritableBuffer& operator=(const WritableBuffer&) = delete;

  std::span<std::byte> span() {
    return {static_cast<std::byte*>(view_.buf), static_cast<size_t>(view_.len)};
  }

 private:
  Py_buffer view_{};
};

/// A lazily filled mapping of one stream (hexz::map_stream), exported through the buffer
/// protocol (read-only). Keeps the snapshot alive; unmapped when the last reference (including
/// memoryviews and numpy arrays over it) goes away.
class PyStreamMapping {
 public:
  PyStreamMapping(std::shared_ptr<const hexz::Snapshot> snapshot, hexz::Stream stream,
                  const hexz::MemoryServeOptions& options)
      : snapshot_(std::move(snapshot)) {
    py::gil_scoped_release nogil;  // An eager fill (no userfaultfd) reads the whole stream.
    mapping_ = hexz::map_stream(*snapshot_, stream, options);
  }
  ~PyStreamMapping() {
    py::gil_scoped_release nogil;  // Joins the serving thread.
    mapping_.reset();
  }
  uint64_t size() const { return mapping_->size(); }
  bool lazy() const { return mapping_->lazy(); }
  py::dict stats() const {
    const hexz::MemoryServeStats s = mapping_->stats();
    py::dict d;
    d["faults"] = s.faults;
    d["pages_copied"] = s.pages_copied;
    d["bytes_copied"] = s.bytes_copied;
    d["zero_pages"] = s.zero_pages;
    d["prefetched_pages"] = s.prefetched_pages;
    d["hydrated_pages"] = s.hydrated_pages;
    d["pages_total"] = s.pages_total;
    d["p50_us"] = s.p50_us;
    d["p99_us"] = s.p99_us;
    return d;
  }
  py::buffer_info buffer() const {
    return py::buffer_info(mapping_->data(), 1, py::format_descriptor<uint8_t>::format(), 1,
                           {static_cast<py::ssize_t>(mapping_->size())}, {1}, /*readonly=*/true);
  }

 private:
  std::shared_ptr<const hexz::Snapshot> snapshot_;
  std::unique_ptr<hexz::StreamMapping> mapping_;
};

class PySnapshot {
 public:
  explicit PySnapshot(std::shared_ptr<const hexz::Snapshot> snapshot)
      : snapshot_(std::move(snapshot)) {}

  static std::unique_ptr<PySnapshot> open(const std::string& path, const py::dict& options) {
    const hexz::OpenOptions o = open_options(options);
    std::shared_ptr<const hexz::Snapshot> snapshot;
    {
      py::gil_scoped_release nogil;
      snapshot = hexz::Snapshot::open(path, o);
    }
    return std::make_unique<PySnapshot>(std::move(snapshot));
  }

  bool closed() const { return !snapshot_; }

  void close() {
    std::shared_ptr<const hexz::Snapshot> last = std::move(snapshot_);
    snapshot_.reset();
    py::gil_scoped_release nogil;  // Destruction may wait for readahead I/O.
    last.reset();
  }

  bool has_stream(const std::string& stream) const { return get()->has_stream(to_stream(stream)); }

  std::unique_ptr<PyStreamMapping> map(const std::string& stream, const std::string& fill,
                                       bool hydrate) const {
    hexz::MemoryServeOptions options;
    if (fill == "page") {
      options.fill = hexz::FillUnit::kPage;
    } else if (fill == "chunk") {
      options.fill = hexz::FillUnit::kChunk;
    } else if (fill == "block") {
      options.fill = hexz::FillUnit::kBlock;
    } else {
      invalid_argument("fill must be 'page', 'chunk' or 'block', not '" + fill + "'");
    }
    options.hydrate = hydrate;
    return std::make_unique<PyStreamMapping>(get(), to_stream(stream), options);
  }

  uint64_t size(const std::string& stream) const { return get()->size(to_stream(stream)); }

  py::bytes read(uint64_t offset, uint64_t length, const std::string& stream_name) const {
    const auto snapshot = get();
    const hexz::Stream stream = to_stream(stream_name);
    check_range(*snapshot, stream, offset, length);  // Before allocating `length` bytes.
    if (length > static_cast<uint64_t>(PY_SSIZE_T_MAX)) throw std::bad_alloc();
    PyObject* raw = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(length));
    if (raw == nullptr) throw py::error_already_set();
    py::bytes out = py::reinterpret_steal<py::bytes>(raw);
    // The new bytes object is not shared yet, so filling it without the GIL is safe.
    std::span<std::byte> dest(reinterpret_cast<std::byte*>(PyBytes_AS_STRING(raw)), length);
    {
      py::gil_scoped_release nogil;
      snapshot->read(stream, offset, dest);
    }
    return out;
  }

  size_t readinto(const py::object& buffer, uint64_t offset, const std::string& stream_name) const {
    const auto snapshot = get();
    const hexz::Stream stream = to_stream(stream_name);
    WritableBuffer target(buffer);  // Holds an export: the buffer cannot be resized meanwhile.
    std::span<std::byte> dest = target.span();
    {
      py::gil_scoped_release nogil;
      snapshot->read(stream, offset, dest);
    }
    return dest.size();
  }

  py::list extents(const std::string& stream_name, uint64_t offset, uint64_t length) const {
    const auto snapshot = get();
    const hexz::Stream stream = to_stream(stream_name);
    std::vector<std::tuple<uint64_t, uint64_t, bool>> runs;
    {
      py::gil_scoped_release nogil;
      snapshot->for_each_extent(
          stream, offset, length,
          [&runs](uint64_t at, uint64_t len, bool zero) { runs.emplace_back(at, len, zero); });
    }
    py::list out;
    for (const auto& [at, len, zero] : runs) out.append(py::make_tuple(at, len, zero));
    return out;
  }

  py::dict info() const {
    const auto snapshot = get();
    hexz::SnapshotInfo info;
    std::optional<hexz::TraceSummary> trace;
    {
      py::gil_scoped_release nogil;  // info() may walk the whole index.
      info = snapshot->info();
      // As `hexz info --json`: the stored boot trace summarized, null if none (or damaged).
      for (const auto& a : info.attachments) {
        if (a.name != hexz::kTraceAttachmentName) continue;
        try {
          trace = hexz::summarize_trace(hexz::decode_trace(
              snapshot->read_attachment(hexz::kTraceAttachmentName), "the boot trace"));
        } catch (const hexz::Error&) {
        }
      }
    }
    py::dict d = info_dict(info);
    py::list signatures;
    for (const std::string& key : info.signature_keys_hex) {
      py::dict s;
      s["public_key"] = key;
      signatures.append(s);
    }
    d["signatures"] = signatures;
    d["trace"] = trace ? py::object(trace_summary_dict(*trace)) : py::object(py::none());
    return d;
  }

  py::list attachments() const { return attachments_list(get()->attachments()); }

  py::bytes recorded_trace() const { return to_py_bytes(get()->recorded_trace()); }

  py::dict read_stats() const { return read_stats_dict(get()->stats()); }

  void wait_for_prefetch() const {
    const auto snapshot = get();
    py::gil_scoped_release nogil;
    snapshot->wait_for_prefetch();
  }

  py::bytes read_attachment(const std::string& name) const {
    const auto snapshot = get();
    std::vector<std::byte> content;
    {
      py::gil_scoped_release nogil;
      content = snapshot->read_attachment(name);
    }
    return py::bytes(reinterpret_cast<const char*>(content.data()), content.size());
  }

  py::dict verify(const py::object& progress) const {
    const auto snapshot = get();
    ProgressBridge bridge(progress);
    hexz::VerifyReport report;
    std::exception_ptr failure;
    {
      py::gil_scoped_release nogil;
      try {
        report = snapshot->verify(bridge.fn());
      } catch (...) {
        failure = std::current_exception();
      }
    }
    // verify() reports errors rather than throwing, so an abort may show up as a "failed"
    // report: the Python exception takes precedence either way.
    bridge.rethrow_python_error();
    if (failure) std::rethrow_exception(failure);
    py::dict d;
    d["ok"] = report.ok;
    d["blocks_checked"] = report.blocks_checked;
    d["chunks_checked"] = report.chunks_checked;
    d["first_error"] = report.first_error;
    return d;
  }

 private:
  std::shared_ptr<const hexz::Snapshot> get() const {
    if (!snapshot_) throw py::value_error("I/O operation on closed snapshot");
    return snapshot_;
  }

  /// Throws libhexz's own kOutOfRange error for a range outside the stream.
  static void check_range(const hexz::Snapshot& snapshot, hexz::Stream stream, uint64_t offset,
                          uint64_t length) {
    const uint64_t size = snapshot.size(stream);
    if (snapshot.has_stream(stream) && offset <= size && length <= size - offset) return;
    // for_each_extent() checks the range first and throws the library's message.
    snapshot.for_each_extent(stream, offset, length, [](uint64_t, uint64_t, bool) {});
    throw hexz::Error(hexz::ErrorCode::kOutOfRange,
                      "read of " + std::to_string(length) + " bytes at offset " +
                          std::to_string(offset) + " is outside the " + hexz::stream_name(stream) +
                          " stream");
  }

  std::shared_ptr<const hexz::Snapshot> snapshot_;
};

}  // namespace

PYBIND11_MODULE(_hexz, m) {
  m.doc() = "Native engine of the hexz package; use the functions and classes of `hexz` instead.";
  m.attr("__version__") = hexz::kVersionString;
  m.attr("FORMAT_VERSION") =
      std::to_string(hexz::kFormatVersionMajor) + "." + std::to_string(hexz::kFormatVersionMinor);
  m.attr("DEFAULT_CHUNK_SIZE") = hexz::kDefaultChunkSize;
  m.attr("DEFAULT_BLOCK_SIZE") = hexz::kDefaultBlockSize;

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const hexz::Error& e) {
      set_python_error(e);
    }
  });

  m.def(
      "parse_size", [](const std::string& text) { return hexz::parse_size(text); }, py::arg("text"),
      "Parses '4096', '64K', '16M', '1G' (binary multiples); None if malformed.");
  m.def("format_bytes", &hexz::format_bytes, py::arg("count"),
        "Formats a byte count, e.g. '1.50 GiB'.");
  m.def(
      "describe_trace",
      [](const py::bytes& b) {
        return trace_summary_dict(
            hexz::summarize_trace(hexz::decode_trace(from_py_bytes(b), "the trace")));
      },
      py::arg("trace"));
  m.def("change_trace", &change_trace, py::arg("path"), py::arg("trace"), py::arg("options"));
  m.def("pack", &pack, py::arg("options"), py::arg("progress"),
        "pack(options: dict, progress: callable | None) -> dict. Use hexz.pack().");
  m.def("commit", &commit, py::arg("overlay"), py::arg("options"), py::arg("progress"),
        "commit(overlay: str, options: dict, progress: callable | None) -> dict. Use "
        "hexz.commit().");

  py::class_<PyStreamMapping>(m, "StreamMapping", py::buffer_protocol(),
                              "A stream mapped into memory, filled on first touch. Use "
                              "hexz.Snapshot.map().")
      .def_buffer(&PyStreamMapping::buffer)
      .def("__len__", &PyStreamMapping::size)
      .def_property_readonly("lazy", &PyStreamMapping::lazy)
      .def("stats", &PyStreamMapping::stats);

  py::class_<PySnapshot>(m, "Snapshot", "An open snapshot. Use hexz.open().")
      .def("map", &PySnapshot::map, py::arg("stream"), py::arg("fill"), py::arg("hydrate"))
      .def_static("open", &PySnapshot::open, py::arg("path"), py::arg("options"))
      .def_property_readonly("closed", &PySnapshot::closed)
      .def("close", &PySnapshot::close)
      .def("has_stream", &PySnapshot::has_stream, py::arg("stream"))
      .def("size", &PySnapshot::size, py::arg("stream"))
      .def("read", &PySnapshot::read, py::arg("offset"), py::arg("length"), py::arg("stream"))
      .def("readinto", &PySnapshot::readinto, py::arg("buffer"), py::arg("offset"),
           py::arg("stream"))
      .def("extents", &PySnapshot::extents, py::arg("stream"), py::arg("offset"), py::arg("length"))
      .def("info", &PySnapshot::info)
      .def("attachments", &PySnapshot::attachments)
      .def("read_attachment", &PySnapshot::read_attachment, py::arg("name"))
      .def("recorded_trace", &PySnapshot::recorded_trace)
      .def("read_stats", &PySnapshot::read_stats)
      .def("wait_for_prefetch", &PySnapshot::wait_for_prefetch)
      .def("verify", &PySnapshot::verify, py::arg("progress"));
}
