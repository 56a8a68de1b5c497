// A private qemu-nbd child serving one image file read-only on a Unix socket.
#pragma once

#include <sys/types.h>

#include <string>

namespace hexz::io {

/// How qemu-nbd opens the image.
struct QemuNbdOptions {
  std::string path;    ///< The image file.
  std::string driver;  ///< QEMU block driver: "qcow2", "vmdk", "vpc", "vhdx", "vdi", ...
  std::string role;    ///< Names the input in messages ("disk image").
  std::string name;    ///< The format's name in messages ("VHD"); empty = `driver`.
  /// Open the image without its backing file (unallocated clusters then read as zeros) and
  /// export the qemu:allocation-depth context (depth 1 = allocated in this image).
  bool without_backing = false;
};

/// Starts `qemu-nbd --read-only` (found on $PATH, or $HEXZ_QEMU_NBD) in a new process group
/// on a socket in a fresh private directory, with its output going to a log file there. The
/// destructor stops the child (SIGTERM, then SIGKILL), reaps it and removes the directory, so
/// neither survives an error or an interrupted command; the child also gets SIGKILL if the
/// thread that started it dies.
class QemuNbd {
 public:
  /// Throws hexz::Error (kUnsupported if qemu-nbd is not installed, kIo otherwise).
  explicit QemuNbd(const QemuNbdOptions& options);
  ~QemuNbd();
  QemuNbd(const QemuNbd&) = delete;
  QemuNbd& operator=(const QemuNbd&) = delete;

  /// The socket the export is served on (it may not exist yet: see running()).
  const std::string& socket_path() const { return socket_; }
  /// False once the child has exited (then reaped).
  bool running();
  /// The child's last non-empty line of output, without a leading "qemu-nbd: "; empty if none.
  std::string last_message() const;
  /// The child's process id.
  pid_t pid() const { return pid_; }

 private:
  void stop();

  std::string dir_;
  std::string socket_;
  std::string log_;
  pid_t pid_ = -1;
};

}  // namespace hexz::io
