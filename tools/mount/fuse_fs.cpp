// The FUSE 3 (low-level API) file system behind `hexz mount`, and the process that serves it.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "hexz/error.hpp"
#include "hexz/types.hpp"
#include "hexz_mount.hpp"
#include "overlay.hpp"

namespace hexz::mount {
namespace {

/// Inode numbers: the root directory and one file per stream (fixed, whichever are present).
constexpr fuse_ino_t kRootIno = FUSE_ROOT_ID;  // 1
constexpr fuse_ino_t kDiskIno = 2;
constexpr fuse_ino_t kMemoryIno = 3;
/// The snapshot never changes while mounted, and with an overlay only writes through this mount
/// change the files (the kernel sees those): it may cache names and attributes long.
constexpr double kCacheSeconds = 86400.0;
/// Largest read request the kernel sends us (it also caps this at its own limit).
constexpr unsigned kMaxRead = 1u << 20;

/// One file of the mount.
struct FileNode {
  fuse_ino_t ino = 0;
  Stream stream = Stream::kDisk;
  const char* name = "";
  uint64_t size = 0;
  /// With --overlay: where writes go and the written ranges are read from; null = read-only.
  SideFile* side = nullptr;
};

/// What the request handlers share (read-only once the mount is live, except the side files'
/// contents, which SideFile guards).
struct FsState {
  std::unique_ptr<Snapshot> snapshot;
  std::unique_ptr<Overlay> overlay;  ///< Null for a read-only mount.
  std::vector<FileNode> files;
  struct timespec mtime = {};
  uid_t uid = 0;
  gid_t gid = 0;
  bool foreground = true;

  const FileNode* file(fuse_ino_t ino) const {
    for (const auto& f : files) {
      if (f.ino == ino) return &f;
    }
    return nullptr;
  }
};

FsState& state_of(fuse_req_t req) {
  return *static_cast<FsState*>(fuse_req_userdata(req));
}

/// Reports a problem of the serving process: on stderr in the foreground, else to syslog.
void report(const FsState& st, const std::string& message) {
  if (st.foreground) {
    std::fprintf(stderr, "hexz mount: %s\n", message.c_str());
  } else {
    ::syslog(LOG_ERR, "%s", message.c_str());
  }
}

void fill_attr(const FsState& st, fuse_ino_t ino, struct stat* attr) {
  *attr = {};
  attr->st_ino = ino;
  attr->st_uid = st.uid;
  attr->st_gid = st.gid;
  attr->st_atim = st.mtime;
  attr->st_mtim = st.mtime;
  attr->st_ctim = st.mtime;
  attr->st_blksize = 4096;
  if (ino == kRootIno) {
    attr->st_mode = S_IFDIR | 0555;
    attr->st_nlink = 2;
    return;
  }
  const FileNode* f = st.file(ino);
  attr->st_mode = S_IFREG | (f->side != nullptr ? 0644 : 0444);
  attr->st_nlink = 1;
  attr->st_size = static_cast<off_t>(f->size);
  attr->st_blocks = static_cast<blkcnt_t>((f->size + 511) / 512);
}

bool valid_ino(const FsState& st, fuse_ino_t ino) {
  return ino == kRootIno || st.file(ino) != nullptr;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  const FsState& st = state_of(req);
  if (parent != kRootIno) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  for (const auto& f : st.files) {
    if (std::strcmp(f.name, name) == 0) {
      struct fuse_entry_param e = {};
      e.ino = f.ino;
      e.generation = 1;
      e.attr_timeout = kCacheSeconds;
      e.entry_timeout = kCacheSeconds;
      fill_attr(st, f.ino, &e.attr);
      fuse_reply_entry(req, &e);
      return;
    }
  }
  fuse_reply_err(req, ENOENT);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* /*fi*/) {
  const FsState& st = state_of(req);
  if (!valid_ino(st, ino)) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  struct stat attr;
  fill_attr(st, ino, &attr);
  fuse_reply_attr(req, &attr, kCacheSeconds);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
                struct fuse_file_info* /*fi*/) {
  const FsState& st = state_of(req);
  const FileNode* f = st.file(ino);
  if (f == nullptr || f->side == nullptr) {
    fuse_reply_err(req, EROFS);
    return;
  }
  // A writable file keeps its stream's size, mode and owner; setting its times (touch) or its
  // size to what it is already is accepted and changes nothing.
  constexpr int kTimes = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                         FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
  if ((to_set & ~(kTimes | FUSE_SET_ATTR_SIZE)) != 0 ||
      ((to_set & FUSE_SET_ATTR_SIZE) != 0 && static_cast<uint64_t>(attr->st_size) != f->size)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  struct stat out;
  fill_attr(st, ino, &out);
  fuse_reply_attr(req, &out, kCacheSeconds);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info* /*fi*/) {
  const FsState& st = state_of(req);
  if (ino != kRootIno) {
    fuse_reply_err(req, ENOTDIR);
    return;
  }
  struct Item {
    const char* name;
    fuse_ino_t ino;
    mode_t mode;
  };
  std::vector<Item> items = {{".", kRootIno, S_IFDIR}, {"..", kRootIno, S_IFDIR}};
  for (const auto& f : st.files) items.push_back({f.name, f.ino, S_IFREG});
  std::vector<char> buf(size);
  size_t used = 0;
  for (size_t i = static_cast<size_t>(std::max<off_t>(off, 0)); i < items.size(); ++i) {
    struct stat attr = {};
    attr.st_ino = items[i].ino;
    attr.st_mode = items[i].mode;
    const size_t need = fuse_add_direntry(req, buf.data() + used, size - used, items[i].name, &attr,
                                          static_cast<off_t>(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info* fi) {
  const FsState& st = state_of(req);
  if (ino == kRootIno) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  if (st.file(ino) == nullptr) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0) {
    if (st.file(ino)->side == nullptr) {
      fuse_reply_err(req, EROFS);
      return;
    }
    if ((fi->flags & O_TRUNC) != 0) {  // the file keeps its stream's size
      fuse_reply_err(req, EPERM);
      return;
    }
  }
  // Contents change only through this mount's writes, which keep the page cache up to date:
  // keep it across opens.
  fi->keep_cache = 1;
  fi->direct_io = 0;
  fi->noflush = 1;  // Nothing to flush on close.
  fuse_reply_open(req, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
             struct fuse_file_info* /*fi*/) {
  const FsState& st = state_of(req);
  const FileNode* f = st.file(ino);
  if (f == nullptr) {
    fuse_reply_err(req, EBADF);
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const auto offset = static_cast<uint64_t>(off);
  if (offset >= f->size || size == 0) {
    fuse_reply_buf(req, nullptr, 0);
    return;
  }
  const auto n = static_cast<size_t>(std::min<uint64_t>(size, f->size - offset));
  // One buffer per FUSE worker thread, grown to the largest request seen.
  thread_local std::vector<std::byte> buffer;
  if (buffer.size() < n) buffer.resize(std::max<size_t>(n, 128 * 1024));
  if (f->side != nullptr) {
    const int err =
        f->side->read(*st.snapshot, f->stream, offset, std::span<std::byte>(buffer.data(), n));
    if (err != 0) {
      report(st, std::string("read of ") + f->name + " at offset " + std::to_string(offset) +
                     " failed: " + std::strerror(err));
      fuse_reply_err(req, err);
      return;
    }
    fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), n);
    return;
  }
  try {
    st.snapshot->read(f->stream, offset, std::span<std::byte>(buffer.data(), n));
  } catch (const std::exception& e) {
    report(st, std::string("read of ") + f->name + " at offset " + std::to_string(offset) +
                   " failed: " + e.what());
    fuse_reply_err(req, EIO);
    return;
  }
  fuse_reply_buf(req, reinterpret_cast<const char*>(buffer.data()), n);
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              struct fuse_file_info* /*fi*/) {
  const FsState& st = state_of(req);
  const FileNode* f = st.file(ino);
  if (f == nullptr) {
    fuse_reply_err(req, EBADF);
    return;
  }
  if (f->side == nullptr) {
    fuse_reply_err(req, EROFS);
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  const auto offset = static_cast<uint64_t>(off);
  if (size == 0) {
    fuse_reply_write(req, 0);
    return;
  }
  if (offset >= f->size) {  // the file has its stream's fixed size, like a disk
    fuse_reply_err(req, ENOSPC);
    return;
  }
  const auto n = static_cast<size_t>(std::min<uint64_t>(size, f->size - offset));
  const int err =
      f->side->write(*st.snapshot, f->stream, offset, std::as_bytes(std::span<const char>(buf, n)));
  if (err != 0) {
    report(st, std::string("write of ") + f->name + " at offset " + std::to_string(offset) +
                   " failed: " + std::strerror(err));
    fuse_reply_err(req, err);
    return;
  }
  fuse_reply_write(req, n);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info* /*fi*/) {
  const FsState& st = state_of(req);
  const FileNode* f = st.file(ino);
  if (f == nullptr) {
    fuse_reply_err(req, EBADF);
    return;
  }
  const int err = f->side != nullptr ? f->side->sync(datasync != 0) : 0;
  if (err != 0) report(st, std::string("fsync of ") + f->name + " failed: " + std::strerror(err));
  fuse_reply_err(req, err);
}

/// Creating, removing or renaming names: the directory lists exactly the snapshot's streams.
void op_mknod(fuse_req_t req, fuse_ino_t /*parent*/, const char* /*name*/, mode_t /*mode*/,
              dev_t /*rdev*/) {
  fuse_reply_err(req, EPERM);
}
void op_mkdir(fuse_req_t req, fuse_ino_t /*parent*/, const char* /*name*/, mode_t /*mode*/) {
  fuse_reply_err(req, EPERM);
}
void op_unlink(fuse_req_t req, fuse_ino_t /*parent*/, const char* /*name*/) {
  fuse_reply_err(req, EPERM);
}
void op_rename(fuse_req_t req, fuse_ino_t /*parent*/, const char* /*name*/,
               fuse_ino_t /*newparent*/, const char* /*newname*/, unsigned int /*flags*/) {
  fuse_reply_err(req, EPERM);
}

void op_statfs(fuse_req_t req, fuse_ino_t /*ino*/) {
  const FsState& st = state_of(req);
  struct statvfs s = {};
  uint64_t total = 0;
  for (const auto& f : st.files) total += f.size;
  s.f_bsize = 4096;
  s.f_frsize = 4096;
  s.f_blocks = static_cast<fsblkcnt_t>((total + 4095) / 4096);
  s.f_files = st.files.size() + 1;
  s.f_namemax = 255;
  s.f_flag = (st.overlay != nullptr ? 0 : ST_RDONLY) | ST_NOSUID | ST_NODEV;
  fuse_reply_statfs(req, &s);
}

void op_init(void* /*userdata*/, struct fuse_conn_info* conn) {
  conn->want |= FUSE_CAP_ASYNC_READ;  // Concurrent reads of one file.
  // Writes (with --overlay) go through to the side file at once, so that an error (ENOSPC)
  // is the writer's and the side file is what the mount showed when it ends.
  conn->want &= ~static_cast<unsigned>(FUSE_CAP_WRITEBACK_CACHE);
  conn->max_read = kMaxRead;
  conn->max_write = kMaxRead;
}

fuse_lowlevel_ops make_ops(bool writable) {
  fuse_lowlevel_ops ops = {};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.open = op_open;
  ops.read = op_read;
  ops.readdir = op_readdir;
  ops.statfs = op_statfs;
  if (writable) {
    ops.write = op_write;
    ops.fsync = op_fsync;
    ops.mknod = op_mknod;
    ops.mkdir = op_mkdir;
    ops.unlink = op_unlink;
    ops.rmdir = op_unlink;
    ops.rename = op_rename;
  }
  return ops;
}

/// libfuse's messages, collected while the mount is set up so errors can name the cause.
std::mutex g_log_mu;
std::string g_log;

void collect_log(enum fuse_log_level /*level*/, const char* fmt, va_list ap) {
  char line[1024];
  std::vsnprintf(line, sizeof line, fmt, ap);
  std::lock_guard lock(g_log_mu);
  g_log += line;
}

std::string take_log() {
  std::lock_guard lock(g_log_mu);
  std::string out;
  out.swap(g_log);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n') c = ' ';
  }
  return out;
}

/// Escapes ',' and '\' for a libfuse -o option value.
std::string escape_option(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

/// The session being served, for the signal handler.
std::atomic<fuse_session*> g_session{nullptr};
pthread_t g_main_thread;

/// SIGINT/SIGTERM/SIGHUP: end the loop. The main thread waits in the loop for a signal to
/// interrupt it, so a signal delivered to another thread (a reader thread) is passed on to it.
void on_exit_signal(int signo) {
  const int saved = errno;
  if (fuse_session* se = g_session.load()) fuse_session_exit(se);
  if (!pthread_equal(pthread_self(), g_main_thread)) pthread_kill(g_main_thread, signo);
  errno = saved;
}

/// A mounted session; unmounts and frees it on destruction.
class Server {
 public:
  Server(FsState* state, const std::string& snapshot_path, const std::string& mount_point,
         const std::vector<std::string>& extra_options)
      : mount_point_(mount_point) {
    const bool writable = state->overlay != nullptr;
    const fuse_lowlevel_ops ops = make_ops(writable);
    std::string opts = std::string(writable ? "rw" : "ro") +
                       ",default_permissions,subtype=hexz,max_read=" + std::to_string(kMaxRead) +
                       ",fsname=" + escape_option("hexz:" + snapshot_path);
    for (const std::string& option : extra_options) {
      if (option != "allow_other" && option != "allow_root") {
        throw Error(ErrorCode::kInvalidArgument, "unsupported mount option '" + option +
                                                     "' (supported: allow_other, allow_root)");
      }
      opts += "," + option;
    }
    const char* argv[] = {"hexz", "-o", opts.c_str()};
    struct fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
    fuse_set_log_func(collect_log);
    take_log();
    session_ = fuse_session_new(&args, &ops, sizeof ops, state);
    fuse_opt_free_args(&args);  // fuse_session_new may have copied the arguments
    if (session_ == nullptr) {
      fuse_set_log_func(nullptr);
      throw Error(ErrorCode::kInternal, "cannot create the FUSE session: " + take_log());
    }
    if (fuse_session_mount(session_, mount_point.c_str()) != 0) {
      const std::string why = take_log();
      fuse_set_log_func(nullptr);
      fuse_session_destroy(session_);
      session_ = nullptr;
      throw Error(ErrorCode::kIo, "cannot mount on '" + mount_point + "'" +
                                      (why.empty() ? std::string() : ": " + why));
    }
    fuse_set_log_func(nullptr);
    mounted_ = true;
  }

  ~Server() {
    g_session.store(nullptr);
    if (session_ != nullptr) {
      if (mounted_) fuse_session_unmount(session_);
      fuse_session_destroy(session_);
    }
  }

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Serves requests on several threads until unmounted or signalled; returns the exit status.
  int run(unsigned max_threads) {
    g_main_thread = pthread_self();
    g_session.store(session_);
    struct sigaction action = {};
    action.sa_handler = on_exit_signal;
    sigemptyset(&action.sa_mask);
    for (int signo : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signo, &action, nullptr);

    // Few workers, kept alive: a request goes to the longest-waiting idle worker, so every
    // extra idle thread makes the next request land on a colder thread (measured: cold 4 KiB
    // reads are ~25% slower with 4+ idle workers than with 2 on a 2-core machine), and letting
    // workers exit makes libfuse create a thread per request under a steady load.
    struct fuse_loop_config* config = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(config, 0);
    fuse_loop_cfg_set_max_threads(config, max_threads);
    fuse_loop_cfg_set_idle_threads(config, max_threads);
    const int res = fuse_session_loop_mt(session_, config);
    fuse_loop_cfg_destroy(config);

    for (int signo : {SIGINT, SIGTERM, SIGHUP}) ::signal(signo, SIG_DFL);
    g_session.store(nullptr);
    return res == 0 ? 0 : 1;
  }

 private:
  std::string mount_point_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
};

/// Builds the shared state for a freshly opened snapshot.
std::unique_ptr<FsState> make_state(std::unique_ptr<Snapshot> snapshot,
                                    const std::string& snapshot_path, bool foreground) {
  auto st = std::make_unique<FsState>();
  st->snapshot = std::move(snapshot);
  st->foreground = foreground;
  st->uid = ::getuid();
  st->gid = ::getgid();
  struct stat sb = {};
  if (::stat(snapshot_path.c_str(), &sb) == 0) {
    st->mtime = sb.st_mtim;
  } else {
    ::clock_gettime(CLOCK_REALTIME, &st->mtime);  // not a local file (e.g. a URL)
  }
  const FileNode candidates[] = {{kDiskIno, Stream::kDisk, "disk", 0},
                                 {kMemoryIno, Stream::kMemory, "memory", 0}};
  for (FileNode f : candidates) {
    if (!st->snapshot->has_stream(f.stream)) continue;
    f.size = st->snapshot->size(f.stream);
    st->files.push_back(f);
  }
  return st;
}

/// Writes `bytes` to `path` through a temporary file renamed into place. Throws kIo.
void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  size_t done = 0;
  while (ok && done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<size_t>(n);
  }
  const int err = errno;
  if (fd >= 0 && ::close(fd) != 0) ok = false;
  if (ok && ::rename(tmp.c_str(), path.c_str()) == 0) return;
  ::unlink(tmp.c_str());
  throw Error(ErrorCode::kIo,
              "cannot write '" + path + "': " + std::strerror(err != 0 ? err : errno));
}

/// Writes what `request` asks for once the mount has ended: the recorded trace, the statistics.
void write_outputs(const MountRequest& request, const Snapshot& snapshot) {
  if (!request.record_trace_path.empty()) {
    const auto trace = snapshot.recorded_trace();
    write_file_atomically(request.record_trace_path,
                          std::string(reinterpret_cast<const char*>(trace.data()), trace.size()));
  }
  if (!request.stats_path.empty()) {
    write_file_atomically(request.stats_path, read_stats_json(snapshot.stats()));
  }
}

unsigned default_threads(unsigned requested) {
  if (requested != 0) return requested;
  // Decoding is CPU-bound: one worker per core (at least 2, so a slow read never blocks all).
  return std::clamp(std::thread::hardware_concurrency(), 2u, 64u);
}

/// Mounts and serves in this process. `ready` is called once the mount is live (before serving).
int serve(const MountRequest& request, const std::string& mount_point,
          const std::function<void()>& ready) {
  std::unique_ptr<FsState> state =
      make_state(request.open(), request.snapshot_path, request.foreground);
  if (!request.overlay_dir.empty()) {
    if (!request.peek) {
      throw Error(ErrorCode::kInternal, "MountRequest::peek is needed with an overlay");
    }
    const SnapshotInfo info = request.peek();
    if (info.encrypted) {
      // The side files would hold decrypted bytes (the writes, and the copied-up blocks).
      throw Error(ErrorCode::kUnsupported,
                  "--overlay on an encrypted snapshot is not supported: the side files would "
                  "store its data unencrypted");
    }
    state->overlay = open_overlay(request.overlay_dir, mount_point, *state->snapshot,
                                  request.snapshot_path, info.identity_hex);
    for (FileNode& f : state->files)
      f.side = state->overlay->sides[static_cast<int>(f.stream)].get();
  }
  if (const auto stats = state->snapshot->stats(); !stats.trace_error.empty()) {
    report(*state, "warning: " + stats.trace_error + "; it is not replayed");
  }
  Server server(state.get(), request.snapshot_path, mount_point, request.fuse_options);
  ready();
  int status = server.run(default_threads(request.max_threads));
  // The loop has ended: no request runs any more. Make the writes durable before the lock on
  // the overlay directory is released.
  for (const FileNode& f : state->files) {
    if (f.side == nullptr) continue;
    if (const int err = f.side->sync(false); err != 0) {
      report(*state, "cannot sync side file '" + f.side->path() + "': " + std::strerror(err));
      status = 1;
    }
  }
  try {
    write_outputs(request, *state->snapshot);
  } catch (const Error& e) {
    report(*state, e.what());
    return status == 0 ? 1 : status;
  }
  return status;
}

/// Writes all of `data` to `fd`, ignoring errors (the reader may have gone).
void write_fully(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

/// Status messages from the detached child to the waiting parent: 'K' = mounted, or
/// 'E' + one byte ErrorCode + message.
constexpr char kReadyByte = 'K';
constexpr char kErrorByte = 'E';

/// Redirects stdin/stdout/stderr to /dev/null and leaves the caller's session and directory.
void detach_stdio() {
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    if (null_fd > STDERR_FILENO) ::close(null_fd);
  }
  ::setsid();
  if (::chdir("/") != 0) {
    // Not fatal: the mount works whatever the working directory.
  }
}

}  // namespace

int mount_snapshot(const MountRequest& request) {
  check_fuse_available();
  const std::string mount_point = check_mount_point(request.mount_point);
  if (request.foreground) return serve(request, mount_point, [] {});

  // Detach: the child opens the snapshot (the reader starts threads, which do not survive a
  // fork), mounts, and tells the parent how it went through a pipe.
  std::fflush(stdout);
  std::fflush(stderr);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw Error(ErrorCode::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(ErrorCode::kIo, std::string("fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(fds[0]);
    const int status_fd = fds[1];
    try {
      const int status = serve(request, mount_point, [status_fd] {
        write_fully(status_fd, std::string(1, kReadyByte));
        ::close(status_fd);
        ::openlog("hexz", LOG_PID, LOG_DAEMON);
        detach_stdio();
      });
      return status;
    } catch (const Error& e) {
      write_fully(status_fd, std::string(1, kErrorByte) +
                                 static_cast<char>(static_cast<int>(e.code())) + e.what());
    } catch (const std::exception& e) {
      write_fully(status_fd, std::string(1, kErrorByte) +
                                 static_cast<char>(static_cast<int>(ErrorCode::kInternal)) +
                                 e.what());
    }
    ::_exit(1);
  }

  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    message.append(buf, static_cast<size_t>(n));
    if (message[0] == kReadyByte) break;
  }
  ::close(fds[0]);
  if (!message.empty() && message[0] == kReadyByte) return 0;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (message.size() >= 2 && message[0] == kErrorByte) {
    throw Error(static_cast<ErrorCode>(static_cast<unsigned char>(message[1])), message.substr(2));
  }
  if (WIFSIGNALED(status)) {
    throw Error(ErrorCode::kInternal, "the mount process was killed by signal " +
                                          std::to_string(WTERMSIG(status)) +
                                          " before the mount was ready");
  }
  throw Error(ErrorCode::kInternal, "the mount process exited before the mount was ready");
}

}  // namespace hexz::mount
