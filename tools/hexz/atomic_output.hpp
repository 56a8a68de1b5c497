// Writing an output file via a temporary file that is renamed into place when complete.
#pragma once

#include <cstdint>
#include <string>

namespace hexz::cli {

/// Checks that `path` may be (re)placed: throws hexz::Error(kAlreadyExists) if it exists and
/// `force` is false, and hexz::Error(kInvalidArgument) if it exists but is not a regular file
/// (so a directory or device is never replaced, even with `force`).
void check_output_path(const std::string& path, bool force);

/// A temporary file next to a destination path (a symbolic link is written through: the file it
/// names is replaced and the link kept; the new file gets mode 0666 minus the umask). commit()
/// makes it appear atomically under the destination name; if commit() is never reached (error,
/// interrupt) the temporary file is removed by the destructor, leaving the destination untouched.
/// A temporary file a killed process left (`<destination>.tmp-<pid>-<6 digits>`, its pid gone)
/// is removed by the next AtomicOutputFile of the same destination.
class AtomicOutputFile {
 public:
  /// Runs check_output_path(path, force) and creates the temporary file in the same directory.
  /// Throws hexz::Error on failure.
  AtomicOutputFile(std::string path, bool force);
  /// Closes and removes the temporary file unless commit() succeeded.
  ~AtomicOutputFile();
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  /// The descriptor of the temporary file, open for writing. Valid until commit().
  int fd() const { return fd_; }
  /// The destination path, for messages.
  const std::string& path() const { return path_; }

  /// Sets the file size to `size` (so trailing holes exist), flushes the data to disk (unless
  /// `sync` is false: then a crash soon after may leave the destination empty or partial, but
  /// never a previous good file half overwritten), and renames the temporary file to the
  /// destination (refusing to replace a file that appeared meanwhile unless `force`). Throws
  /// hexz::Error(kIo / kAlreadyExists) on failure.
  void commit(uint64_t size, bool sync = true);

 private:
  std::string path_;        ///< The destination.
  std::string temp_path_;   ///< The temporary file; empty if none was created.
  bool force_;              ///< Replacing an existing destination is allowed.
  int fd_ = -1;             ///< Open descriptor of the temporary file, or -1.
  bool committed_ = false;  ///< The temporary file has been renamed to the destination.
};

}  // namespace hexz::cli
