// hexz::serve_userfaultfd and hexz::serve_memory_socket (include/hexz/memory.hpp).
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "hexz/error.hpp"
#include "hexz/memory.hpp"
#include "uffd/fault_server.hpp"
#include "uffd/handshake.hpp"

namespace hexz {
namespace {

[[noreturn]] void io_fail(const std::string& what, int err) {
  throw Error(ErrorCode::kIo, what + ": " + std::strerror(err));
}

/// A descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

/// Binds and listens on `path`, replacing a stale socket file there (one nobody listens on).
int listen_on(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw Error(ErrorCode::kInvalidArgument, "socket path '" + path + "' is empty or longer than " +
                                                 std::to_string(sizeof(addr.sun_path) - 1) +
                                                 " bytes");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw Error(ErrorCode::kInvalidArgument,
                  "'" + path + "' exists and is not a socket; refusing to replace it");
    }
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (::connect(probe.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      throw Error(ErrorCode::kInvalidArgument, "socket '" + path + "' is in use by another server");
    }
    ::unlink(path.c_str());
  }
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) io_fail("socket", errno);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    io_fail("cannot listen on '" + path + "'", err);
  }
  if (::listen(fd, 1) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    io_fail("listen", err);
  }
  return fd;
}

/// Waits for a connection on `listener` (or for `stop_fd`); returns the socket, or -1 if stopped.
int accept_one(int listener, int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{listener, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    const int ready = ::poll(fds, stop_fd >= 0 ? 2 : 1, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      io_fail("poll", errno);
    }
    if (stop_fd >= 0 && fds[1].revents != 0) return -1;
    const int s = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (s >= 0) return s;
    if (errno != EINTR && errno != ECONNABORTED) io_fail("accept", errno);
  }
}

}  // namespace

MemoryServeStats serve_userfaultfd(const Snapshot& snapshot, Stream stream, int uffd,
                                   std::span<const MemoryRegion> regions,
                                   const MemoryServeOptions& options, int stop_fd,
                                   const std::function<void(const MemoryServeStats&)>& on_stats) {
  uffd::FaultServer server(snapshot, stream, uffd, regions, options);
  server.run(stop_fd, on_stats);
  return server.stats();
}

MemoryServeStats serve_memory_socket(
    const Snapshot& snapshot, Stream stream, const std::string& socket_path,
    const MemoryServeOptions& options, int stop_fd,
    const std::function<void(const std::vector<MemoryRegion>&)>& on_connected,
    const std::function<void(const MemoryServeStats&)>& on_stats) {
  if (!snapshot.has_stream(stream)) {
    throw Error(ErrorCode::kOutOfRange,
                std::string("the snapshot has no ") + stream_name(stream) + " stream");
  }
  Fd listener(listen_on(socket_path));
  struct Unlink {
    const std::string& path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_at_exit{socket_path};
  Fd conn(accept_one(listener.fd, stop_fd));
  if (conn.fd < 0) return {};
  uffd::Handshake h = uffd::receive_handshake(conn.fd, options.handshake_timeout_s * 1000);
  Fd uffd(h.uffd);
  ucred peer{};
  socklen_t peer_len = sizeof peer;
  const bool have_peer =
      ::getsockopt(conn.fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) == 0 && peer.pid > 0;
  uffd::FaultServer server(snapshot, stream, uffd.fd, h.regions, options);
  if (on_connected) on_connected(h.regions);

  // The VMM sends nothing after the handshake: EOF on the socket means it has gone. A watcher
  // turns that (or the caller's stop_fd) into one descriptor for the workers.
  Fd gone(::eventfd(0, EFD_CLOEXEC));
  if (gone.fd < 0) io_fail("eventfd", errno);
  Fd quit(::eventfd(0, EFD_CLOEXEC));
  if (quit.fd < 0) io_fail("eventfd", errno);
  std::atomic<bool> vmm_gone{false};
  std::thread watcher([&] {
    char buf[4096];
    for (;;) {
      pollfd fds[3] = {
          {conn.fd, POLLIN | POLLRDHUP, 0}, {quit.fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
      const int ready = ::poll(fds, stop_fd >= 0 ? 3 : 2, -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || fds[1].revents != 0 || (stop_fd >= 0 && fds[2].revents != 0)) break;
      if ((fds[0].revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0) {
        vmm_gone.store(true);
        break;
      }
      const ssize_t n = ::recv(conn.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        vmm_gone.store(true);
        break;
      }
      // Anything the VMM sends after the handshake is not part of this protocol: ignored.
    }
    const uint64_t one = 1;
    (void)::write(gone.fd, &one, sizeof one);
  });
  struct Join {
    std::thread& t;
    int quit_fd;
    ~Join() {
      const uint64_t one = 1;
      (void)::write(quit_fd, &one, sizeof one);
      t.join();
    }
  } join{watcher, quit.fd};
  try {
    server.run(gone.fd, on_stats);
  } catch (...) {
    // The guest cannot go on without these pages, and once this process is gone its faults
    // would be filled with zeros by the kernel: stop the VMM rather than let it run on wrong
    // memory.
    if (options.kill_vmm_on_error && have_peer) ::kill(peer.pid, SIGKILL);
    throw;
  }
  MemoryServeStats stats = server.stats();
  // Stopped (stop_fd) while the VM runs with pages still to fetch: for the same reason, the VM
  // must not outlive its server.
  if (!vmm_gone.load() && server.missing_pages() != 0 && options.kill_vmm_on_error && have_peer) {
    ::kill(peer.pid, SIGKILL);
    stats.vmm_killed = true;
  }
  return stats;
}

}  // namespace hexz
