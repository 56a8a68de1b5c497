#include "io/nbd_input.hpp"

#include <libnbd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "hexz/error.hpp"

namespace hexz::io {

namespace {

constexpr const char* kAllocationDepth = "qemu:allocation-depth";
/// Largest single request (NBD servers accept at least 32 MiB).
constexpr uint64_t kMaxRequest = 32u << 20;
/// Largest block status query.
constexpr uint64_t kMaxStatus = 1u << 30;

std::string nbd_error() {
  const char* e = nbd_get_error();
  return e != nullptr ? e : "unknown NBD error";
}

nbd_handle* new_handle(const std::vector<const char*>& contexts) {
  nbd_handle* h = nbd_create();
  if (h == nullptr) throw Error(ErrorCode::kIo, "cannot create an NBD handle: " + nbd_error());
  for (const char* c : contexts) nbd_add_meta_context(h, c);
  return h;
}

}  // namespace

bool is_nbd_uri(const std::string& name) {
  for (const char* scheme :
       {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://", "nbd+vsock://", "nbds+vsock://"}) {
    if (name.rfind(scheme, 0) == 0) return true;
  }
  return false;
}

NbdInput::NbdInput(std::string name, std::string role)
    : name_(std::move(name)), role_(std::move(role)) {}

NbdInput::~NbdInput() {
  if (handle_ != nullptr) {
    nbd_shutdown(handle_, 0);
    nbd_close(handle_);
  }
}

std::unique_ptr<NbdInput> NbdInput::connect_uri(const std::string& uri, const std::string& role) {
  std::unique_ptr<NbdInput> in(new NbdInput(uri, role));
  in->handle_ = new_handle({LIBNBD_CONTEXT_BASE_ALLOCATION});
  if (nbd_connect_uri(in->handle_, uri.c_str()) != 0) {
    throw Error(ErrorCode::kIo, "cannot connect to " + role + " '" + uri + "': " + nbd_error());
  }
  const int64_t size = nbd_get_size(in->handle_);
  if (size < 0) in->fail("cannot get the size of");
  in->size_ = static_cast<uint64_t>(size);
  in->has_allocation_ = nbd_can_meta_context(in->handle_, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  return in;
}

std::unique_ptr<NbdInput> NbdInput::serve_file(const QemuNbdOptions& options) {
  std::unique_ptr<NbdInput> in(new NbdInput(options.path, options.role));
  in->server_ = std::make_unique<QemuNbd>(options);
  const std::vector<const char*> contexts =
      options.without_backing
          ? std::vector<const char*>{LIBNBD_CONTEXT_BASE_ALLOCATION, kAllocationDepth}
          : std::vector<const char*>{LIBNBD_CONTEXT_BASE_ALLOCATION};
  const std::string what = options.role + " '" + options.path + "' as " +
                           (options.name.empty() ? options.driver : options.name);
  // qemu-nbd opens the image, then listens: wait for the socket, or for the child to exit.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    const bool alive = in->server_->running();
    if (!alive) {
      const std::string message = in->server_->last_message();
      throw Error(ErrorCode::kCorrupt, "qemu-nbd cannot read " + what + ": " +
                                           (message.empty() ? "it exited" : message));
    }
    if (::access(in->server_->socket_path().c_str(), F_OK) == 0) {
      nbd_handle* h = new_handle(contexts);
      if (nbd_connect_unix(h, in->server_->socket_path().c_str()) == 0) {
        in->handle_ = h;
        break;
      }
      nbd_close(h);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(ErrorCode::kIo, "qemu-nbd did not start serving " + what + " within 60 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const int64_t size = nbd_get_size(in->handle_);
  if (size < 0) in->fail("cannot get the size of");
  in->size_ = static_cast<uint64_t>(size);
  in->has_allocation_ = nbd_can_meta_context(in->handle_, LIBNBD_CONTEXT_BASE_ALLOCATION) == 1;
  return in;
}

void NbdInput::fail(const std::string& what) const {
  std::string message = what + " " + role_ + " '" + name_ + "' over NBD: " + nbd_error();
  if (server_) {
    const std::string server = server_->last_message();
    if (!server.empty()) message += " (qemu-nbd: " + server + ")";
  }
  throw Error(ErrorCode::kIo, message);
}

uint64_t NbdInput::block_status(const char* context, uint64_t offset,
                                const std::function<void(uint64_t, uint64_t, uint32_t)>& fn) const {
  struct State {
    const char* context;
    uint64_t end;
    uint64_t limit;
    const std::function<void(uint64_t, uint64_t, uint32_t)>* fn;
  } state{context, offset, size_, &fn};
  nbd_extent_callback cb{};
  cb.user_data = &state;
  cb.callback = [](void* user, const char* metacontext, uint64_t at, uint32_t* entries, size_t n,
                   int*) -> int {
    auto* st = static_cast<State*>(user);
    if (std::string_view(metacontext) != st->context) return 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
      const uint64_t len = std::min<uint64_t>(entries[i], st->limit - std::min(at, st->limit));
      if (len == 0) break;
      (*st->fn)(at, len, entries[i + 1]);
      at += len;
      st->end = at;
    }
    return 0;
  };
  const uint64_t count = std::min(size_ - offset, kMaxStatus);
  if (nbd_block_status(handle_, count, offset, cb, 0) != 0) fail("cannot get the block status of");
  return state.end;
}

Extent NbdInput::next_data(uint64_t offset) const {
  if (offset >= size_) return {size_, 0};
  if (!has_allocation_) return {offset, size_ - offset};
  while (offset < size_) {
    uint64_t start = 0, end = 0;
    bool found = false, closed = false;
    const uint64_t reached = block_status(LIBNBD_CONTEXT_BASE_ALLOCATION, offset,
                                          [&](uint64_t at, uint64_t len, uint32_t flags) {
                                            const bool zero = (flags & LIBNBD_STATE_ZERO) != 0;
                                            if (closed) return;
                                            if (!zero && !found) {
                                              found = true;
                                              start = at;
                                              end = at + len;
                                            } else if (!zero && found) {
                                              end = at + len;
                                            } else if (zero && found) {
                                              closed = true;
                                            }
                                          });
    if (found) return {start, end - start};
    if (reached <= offset) return {offset, size_ - offset};  // no progress: treat as data
    offset = reached;
  }
  return {size_, 0};
}

std::vector<Extent> NbdInput::own_allocation() const {
  std::vector<Extent> out;
  uint64_t offset = 0;
  while (offset < size_) {
    const uint64_t reached =
        block_status(kAllocationDepth, offset, [&](uint64_t at, uint64_t len, uint32_t depth) {
          if (depth != 1) return;
          if (!out.empty() && out.back().offset + out.back().length == at) {
            out.back().length += len;
          } else {
            out.push_back({at, len});
          }
        });
    if (reached <= offset) fail("no allocation depth reported for");
    offset = reached;
  }
  return out;
}

void NbdInput::read_at(uint64_t offset, std::span<std::byte> out) const {
  size_t done = 0;
  while (done < out.size()) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size() - done, kMaxRequest));
    if (nbd_pread(handle_, out.data() + done, n, offset + done, 0) != 0) fail("cannot read");
    done += n;
  }
  bytes_read_ += out.size();
}

}  // namespace hexz::io
