// The parts of `hexz mount` / `hexz umount` that do not need libfuse: the mount table, checks of
// the mount point and of FUSE itself, and unmounting.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "hexz/error.hpp"
#include "hexz_mount.hpp"

namespace hexz::mount {
namespace {

/// "<what>: <strerror(err)>".
std::string sys_message(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

/// Undoes the octal escapes (\040 for a space, \011, \012, \134) of a mountinfo field.
std::string unescape(const std::string& field) {
  std::string out;
  out.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '3' &&
        field[i + 2] >= '0' && field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

/// The canonical absolute form of `dir`. Throws kNotFound if it does not exist.
std::string canonical_dir(const std::string& dir, const char* role) {
  char resolved[PATH_MAX];
  if (::realpath(dir.c_str(), resolved) == nullptr) {
    const int err = errno;
    if (err == ENOENT) {
      throw Error(ErrorCode::kNotFound, std::string(role) + " '" + dir + "' does not exist");
    }
    throw Error(ErrorCode::kIo,
                sys_message(std::string("cannot resolve ") + role + " '" + dir + "'", err));
  }
  return resolved;
}

/// True if `name` is an executable file in one of the PATH directories.
bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  std::stringstream ss(dirs);
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) d = ".";
    if (::access((d + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

/// Runs `fusermount3 -u dir`; returns its exit status and collects what it printed in `output`.
int run_fusermount_unmount(const std::string& dir, std::string& output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(ErrorCode::kIo, sys_message("pipe", errno));
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(ErrorCode::kIo, sys_message("fork", err));
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execlp("fusermount3", "fusermount3", "-u", "--", dir.c_str(), static_cast<char*>(nullptr));
    const char msg[] = "cannot run fusermount3 (install the fuse3 package)\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::optional<MountEntry> find_mount(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) throw Error(ErrorCode::kIo, "cannot read the mount table /proc/self/mountinfo");
  std::optional<MountEntry> found;
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    std::istringstream fields(line);
    std::string id, parent, dev, root, mount_point;
    if (!(fields >> id >> parent >> dev >> root >> mount_point)) continue;
    if (unescape(mount_point) != path) continue;
    std::string word;
    while (fields >> word && word != "-") {
    }
    MountEntry entry;
    entry.mount_point = unescape(mount_point);
    fields >> entry.fs_type >> entry.source;
    entry.fs_type = unescape(entry.fs_type);
    entry.source = unescape(entry.source);
    found = entry;
  }
  return found;
}

std::string check_mount_point(const std::string& dir) {
  const std::string path = canonical_dir(dir, "mount point");
  struct stat st = {};
  if (::stat(path.c_str(), &st) != 0) {
    throw Error(ErrorCode::kIo, sys_message("cannot access mount point '" + dir + "'", errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::kInvalidArgument, "mount point '" + dir + "' is not a directory");
  }
  if (auto entry = find_mount(path)) {
    std::string what = entry->fs_type == kFsType ? "a hexz snapshot (" + entry->source + ")"
                                                 : "a " + entry->fs_type + " file system";
    throw Error(ErrorCode::kAlreadyExists, "mount point '" + dir + "' is busy: " + what +
                                               " is already mounted there (unmount it first, "
                                               "e.g. with 'hexz umount " +
                                               dir + "')");
  }
  return path;
}

void check_fuse_available() {
  struct stat st = {};
  if (::stat("/dev/fuse", &st) != 0) {
    throw Error(ErrorCode::kUnsupported,
                "FUSE is not available on this machine: /dev/fuse does not exist (load the fuse "
                "kernel module with 'modprobe fuse'; in a container, pass the /dev/fuse device)");
  }
  if (!S_ISCHR(st.st_mode)) {
    throw Error(ErrorCode::kUnsupported,
                "FUSE is not available on this machine: /dev/fuse is not a character device");
  }
  const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (!(err == EACCES || err == EPERM) || ::geteuid() == 0) {
      throw Error(ErrorCode::kUnsupported,
                  sys_message("FUSE is not available on this machine: cannot open /dev/fuse", err));
    }
    // Unprivileged users mount through the setuid fusermount3, which opens the device itself.
  } else {
    ::close(fd);
  }
  if (::geteuid() != 0 && !on_path("fusermount3")) {
    throw Error(ErrorCode::kUnsupported,
                "FUSE mounts need fusermount3, which is not installed (install the fuse3 "
                "package)");
  }
}

void unmount(const std::string& dir) {
  const std::string path = canonical_dir(dir, "mount point");
  const std::optional<MountEntry> entry = find_mount(path);
  if (!entry) throw Error(ErrorCode::kInvalidArgument, "'" + dir + "' is not mounted");
  if (entry->fs_type != kFsType) {
    throw Error(ErrorCode::kInvalidArgument, "'" + dir + "' is not a hexz mount (it is " +
                                                 entry->fs_type + "); use umount(8) for it");
  }
  if (::geteuid() == 0) {
    if (::umount2(path.c_str(), UMOUNT_NOFOLLOW) == 0) return;
    const int err = errno;
    if (err == EBUSY) {
      throw Error(ErrorCode::kIo, "cannot unmount '" + dir +
                                      "': it is busy (a process has a file open or its working "
                                      "directory there)");
    }
    if (err != EPERM) throw Error(ErrorCode::kIo, sys_message("cannot unmount '" + dir + "'", err));
    // EPERM as root: e.g. a user namespace without the right; fusermount3 may still manage.
  }
  std::string output;
  const int status = run_fusermount_unmount(path, output);
  if (status != 0) {
    throw Error(ErrorCode::kIo,
                "cannot unmount '" + dir + "'" + (output.empty() ? std::string() : ": " + output));
  }
}

}  // namespace hexz::mount
