// A pack input read over NBD with libnbd: an nbd:// or nbd+unix:// URI, or a disk image
// container served by a private qemu-nbd.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/input_file.hpp"
#include "io/qemu_nbd.hpp"

struct nbd_handle;

namespace hexz::io {

/// True if `name` is an NBD URI (nbd://, nbds://, nbd+unix://, nbds+unix://, nbd+vsock://).
bool is_nbd_uri(const std::string& name);

/// An NBD export as an InputSource. next_data() uses block status (base:allocation): ranges
/// the server reports as reading zeros are holes, never read. read_at() is nbd_pread.
class NbdInput final : public InputSource {
 public:
  /// Connects to `uri` (see is_nbd_uri). Throws hexz::Error (kIo) naming `role` and the URI.
  static std::unique_ptr<NbdInput> connect_uri(const std::string& uri, const std::string& role);
  /// Serves the image file `options.path` with a private qemu-nbd and connects to it. An image
  /// qemu-nbd cannot open is one kCorrupt error ending with qemu-nbd's own message.
  static std::unique_ptr<NbdInput> serve_file(const QemuNbdOptions& options);
  ~NbdInput() override;
  NbdInput(const NbdInput&) = delete;
  NbdInput& operator=(const NbdInput&) = delete;

  uint64_t size() const override { return size_; }
  /// The URI or the image file's path.
  const std::string& path() const override { return name_; }
  Extent next_data(uint64_t offset) const override;
  /// Reads exactly out.size() bytes; throws kIo (with qemu-nbd's message if it has one).
  void read_at(uint64_t offset, std::span<std::byte> out) const override;
  uint64_t bytes_read() const override { return bytes_read_.load(); }

  /// With QemuNbdOptions::without_backing: the extents allocated in the image itself
  /// (qemu:allocation-depth 1: written clusters, zeroed ones included), merged and in order.
  std::vector<Extent> own_allocation() const;
  /// The qemu-nbd child's process id (-1 for a URI), for tests.
  pid_t server_pid() const { return server_ ? server_->pid() : -1; }

 private:
  NbdInput(std::string name, std::string role);
  /// Runs block status for `context` from `offset`; calls `fn(offset, length, flags)` per
  /// extent. Returns the end of the last extent reported.
  uint64_t block_status(const char* context, uint64_t offset,
                        const std::function<void(uint64_t, uint64_t, uint32_t)>& fn) const;
  /// Throws kIo: "<what> <role> '<name>' over NBD: <libnbd error> (qemu-nbd: <its message>)".
  [[noreturn]] void fail(const std::string& what) const;

  std::string name_;
  std::string role_;
  std::unique_ptr<QemuNbd> server_;  ///< Declared before handle_: outlives the connection.
  nbd_handle* handle_ = nullptr;
  uint64_t size_ = 0;
  bool has_allocation_ = false;  ///< The server offers base:allocation.
  mutable std::atomic<uint64_t> bytes_read_{0};
};

}  // namespace hexz::io
