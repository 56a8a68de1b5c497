// Thin, error-checked wrappers around POSIX file-descriptor I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace hexz::cli {

/// Returns "<what>: <strerror(err)>".
std::string errno_message(const std::string& what, int err);

/// Writes all of `data` to `fd` at its current position, retrying short writes and EINTR.
/// Returns 0 on success or the errno of the write that failed (e.g. EPIPE); never throws.
int write_all(int fd, std::span<const std::byte> data);

/// Writes all of `data` to `fd` at `offset`, retrying short writes and EINTR. Throws
/// hexz::Error(kIo) mentioning `name` (the file's path, for the message) on failure.
void pwrite_all(int fd, std::span<const std::byte> data, uint64_t offset, const std::string& name);

}  // namespace hexz::cli
