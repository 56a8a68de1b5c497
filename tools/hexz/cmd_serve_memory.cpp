// The `serve-memory` subcommand: a userfaultfd page-fault handler for Firecracker-style VMMs
// that fills guest memory on first touch from a snapshot's memory stream.
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "atomic_output.hpp"
#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/memory.hpp"
#include "hexz/snapshot.hpp"
#include "interrupt.hpp"
#include "json_writer.hpp"
#include "password.hpp"
#include "posix_io.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `serve-memory`.
struct ServeMemoryArgs {
  std::string snapshot;
  std::string socket;
  std::string stream = "memory";
  std::string fill = "block";
  unsigned threads = 2;
  unsigned read_threads = 0;
  bool hydrate = false;
  bool stats = false;
  bool json = false;
  bool quiet = false;
  bool keep_vmm_on_error = false;
  TraceArgs trace;  ///< --record-trace, --no-prefetch, --stats-file
  AccessArgs access;
};

/// Writes `bytes` to `path` (replacing it) through a temporary file.
void write_output(const std::string& path, std::span<const std::byte> bytes) {
  AtomicOutputFile out(path, true);
  pwrite_all(out.fd(), bytes, 0, path);
  out.commit(bytes.size());
}

FillUnit to_fill(const std::string& name) {
  if (name == "page") return FillUnit::kPage;
  if (name == "chunk") return FillUnit::kChunk;
  return FillUnit::kBlock;
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

/// The statistics as the JSON object documented in docs/cli-json.md.
std::string stats_json(const ServeMemoryArgs& args, const MemoryServeStats& s) {
  JsonWriter json;
  json.begin_object();
  json.key("snapshot").value(args.snapshot);
  json.key("socket").value(args.socket);
  json.key("fill").value(args.fill);
  json.key("faults").value(s.faults);
  json.key("pages_total").value(s.pages_total);
  json.key("pages_copied").value(s.pages_copied);
  json.key("bytes_copied").value(s.bytes_copied);
  json.key("zero_pages").value(s.zero_pages);
  json.key("prefetched_pages").value(s.prefetched_pages);
  json.key("hydrated_pages").value(s.hydrated_pages);
  json.key("hydrated").value(s.hydrated);
  json.key("removed_pages").value(s.removed_pages);
  json.key("already_present").value(s.already_present);
  json.key("retries").value(s.retries);
  json.key("p50_us").value(s.p50_us);
  json.key("p99_us").value(s.p99_us);
  json.key("max_us").value(s.max_us);
  json.key("seconds").value(s.seconds);
  json.key("vmm_killed").value(s.vmm_killed);
  json.end_object();
  return json.str();
}

void print_stats(const MemoryServeStats& s) {
  std::fprintf(stderr,
               "hexz: served %llu faults in %.1f s: %llu pages copied (%s), %llu zero pages, "
               "%llu prefetched, %llu hydrated%s, %llu removed, %llu already present, "
               "%llu retried; fault service p50 %.0f us, p99 %.0f us, max %.0f us\n",
               static_cast<unsigned long long>(s.faults), s.seconds,
               static_cast<unsigned long long>(s.pages_copied), mib(s.bytes_copied).c_str(),
               static_cast<unsigned long long>(s.zero_pages),
               static_cast<unsigned long long>(s.prefetched_pages),
               static_cast<unsigned long long>(s.hydrated_pages),
               s.hydrated ? " (all resident)" : "",
               static_cast<unsigned long long>(s.removed_pages),
               static_cast<unsigned long long>(s.already_present),
               static_cast<unsigned long long>(s.retries), s.p50_us, s.p99_us, s.max_us);
}

/// Runs `serve-memory` for `args`; returns the exit status.
int run_serve_memory(const ServeMemoryArgs& args) {
  SnapshotOpener opener(args.access);
  OpenOptions open_options;
  open_options.threads = args.read_threads;
  open_options.prefetch = !args.trace.no_prefetch;
  open_options.record_trace = !args.trace.record_trace.empty();
  std::unique_ptr<Snapshot> snapshot = opener.open(args.snapshot, open_options);
  if (const auto st = snapshot->stats(); !st.trace_error.empty()) {
    std::fprintf(stderr, "hexz: warning: %s; it is not replayed\n", st.trace_error.c_str());
  }
  const Stream stream = to_stream(args.stream);
  if (!snapshot->has_stream(stream)) {
    throw Error(ErrorCode::kOutOfRange, "the snapshot has no " + args.stream + " stream to serve");
  }
  MemoryServeOptions options;
  options.fill = to_fill(args.fill);
  options.threads = args.threads;
  options.hydrate = args.hydrate;
  options.kill_vmm_on_error = !args.keep_vmm_on_error;

  // SIGINT/SIGTERM end the serving: a watcher turns them into a readable descriptor.
  InterruptGuard guard;
  const int stop_fd = ::eventfd(0, EFD_CLOEXEC);
  if (stop_fd < 0) throw Error(ErrorCode::kIo, "eventfd failed");
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load() && interrupt_signal() == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    const uint64_t one = 1;
    (void)::write(stop_fd, &one, sizeof one);
  });
  struct Stop {
    std::atomic<bool>& done;
    std::thread& watcher;
    int fd;
    ~Stop() {
      done.store(true);
      watcher.join();
      ::close(fd);
    }
  } stop{done, watcher, stop_fd};

  if (!args.quiet) {
    std::fprintf(stderr, "hexz: serving the %s stream of %s (%s) on %s\n", args.stream.c_str(),
                 args.snapshot.c_str(), mib(snapshot->size(stream)).c_str(), args.socket.c_str());
  }
  const MemoryServeStats s = serve_memory_socket(
      *snapshot, stream, args.socket, options, stop_fd,
      [&](const std::vector<MemoryRegion>& regions) {
        if (args.quiet) return;
        uint64_t bytes = 0;
        for (const MemoryRegion& r : regions) bytes += r.size;
        std::fprintf(stderr, "hexz: VMM connected: %zu region(s), %s of guest memory\n",
                     regions.size(), mib(bytes).c_str());
      });
  if (s.vmm_killed) {
    std::fprintf(stderr,
                 "hexz: stopped while the VM still had pages to fetch: the VMM was killed (its "
                 "memory would have read as zeros)\n");
  }
  if (args.stats) print_stats(s);
  if (args.json) std::cout << stats_json(args, s) << std::flush;
  if (!args.trace.record_trace.empty())
    write_output(args.trace.record_trace, snapshot->recorded_trace());
  if (!args.trace.stats_file.empty()) {
    const std::string json = read_stats_json(snapshot->stats());
    write_output(args.trace.stats_file, std::as_bytes(std::span(json.data(), json.size())));
  }
  if (interrupt_signal() != 0) return interrupted_exit_status(interrupt_signal());
  return kExitOk;
}

}  // namespace

void add_serve_memory_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<ServeMemoryArgs>();
  CLI::App* sub =
      add_command(parent, "serve-memory",
                  "Serve a VM's memory from a snapshot, page by page on first touch (userfaultfd, "
                  "Firecracker's Uffd backend)",
                  selected, [args] { return run_serve_memory(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file or URL (.hxz)")->type_name("")->required();
  sub->add_option("--socket", args->socket,
                  "Unix socket to listen on (Firecracker's mem_backend backend_path)")
      ->type_name("PATH")
      ->required();
  sub->add_option("--stream", args->stream, "Stream to serve")
      ->type_name("disk|memory")
      ->check(stream_validator())
      ->capture_default_str();
  sub->add_option("--fill", args->fill,
                  "What a fault fills: the page, its chunk, or the whole decoded block around it "
                  "(pages already present are skipped)")
      ->type_name("page|chunk|block")
      ->check(CLI::IsMember({"page", "chunk", "block"}))
      ->capture_default_str();
  sub->add_option("--threads", args->threads, "Threads serving faults")
      ->type_name("N")
      ->check(int_range(1, 64))
      ->capture_default_str();
  sub->add_option("--read-threads", args->read_threads,
                  "Snapshot decode and read-ahead threads; 0 = all cores")
      ->type_name("N")
      ->check(int_range(0, 1024))
      ->capture_default_str();
  sub->add_flag("--hydrate", args->hydrate,
                "After the VMM connects, fill every untouched page in the background (faults "
                "first), so the VM ends fully resident");
  sub->add_flag("--stats", args->stats,
                "At the end, print faults, pages copied, zero pages, prefetched pages and the "
                "p50/p99 fault service time on stderr");
  sub->add_flag("--json", args->json, "At the end, print the statistics as JSON on stdout");
  add_trace_options(sub, args->trace, "faults", "at the end");
  sub->add_flag("-q,--quiet", args->quiet, "No messages on stderr except errors and --stats");
  sub->add_flag("--keep-vmm-on-error", args->keep_vmm_on_error,
                "If a page cannot be read, or the server is stopped early, do not SIGKILL the "
                "VMM (by default it is killed, since without this server its missing pages "
                "would read as zeros)");
  add_access_options(sub, args->access);
  sub->footer(
      std::string("Serves one VMM: exits 0 when it closes the socket (the VM has exited), 130/143 "
                  "on SIGINT/SIGTERM (killing a VMM that still has pages to fetch). Needs the "
                  "right to use the VMM's userfaultfd (root, or the "
                  "same user). See docs/memory-server.md.\n") +
      kAccessFooter);
}

}  // namespace hexz::cli
