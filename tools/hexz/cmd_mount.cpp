// The `mount` and `umount` subcommands: a snapshot's streams as files through FUSE (read-only,
// or writable into the side files of an overlay directory with --overlay).
// The FUSE code lives in tools/mount/ (linked in when hexz is built with HEXZ_BUILD_FUSE).
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/snapshot.hpp"
#include "password.hpp"

#ifdef HEXZ_HAVE_FUSE
#include "hexz_mount.hpp"
#endif

namespace hexz::cli {
namespace {

/// Command-line values of `mount`.
struct MountArgs {
  std::string snapshot;
  std::string mount_point;
  bool foreground = false;
  uint64_t cache_size = OpenOptions{}.block_cache_bytes;
  uint64_t index_cache = 256ull << 20;
  bool no_preload = false;
  uint64_t hydrate_rate = 0;  ///< --hydrate RATE (bytes per second)
  TraceArgs trace;            ///< --record-trace, --no-prefetch, --stats-file
  std::string overlay;        ///< --overlay SIDEDIR
  unsigned threads = 0;
  unsigned fuse_threads = 0;
  std::vector<std::string> fuse_options;  ///< -o, split at commas
  AccessArgs access;
};

#ifdef HEXZ_HAVE_FUSE

/// True for the locations the remote backends read (not resolved as local paths).
bool is_url(const std::string& path) {
  return path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0 ||
         path.rfind("s3://", 0) == 0;
}

/// The absolute form of `path` (as given if it cannot be resolved; open() then reports why).
/// URLs are kept as they are.
std::string absolute(const std::string& path) {
  char resolved[PATH_MAX];
  if (is_url(path)) return path;
  return ::realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

/// `path` made absolute against the current directory, without resolving it (it need not
/// exist yet). The background server of a mount runs in "/", so relative paths would break.
std::string anchored(const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  char cwd[PATH_MAX];
  return ::getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + path : path;
}

int run_mount(const MountArgs& args) {
  mount::MountRequest request;
  request.snapshot_path = absolute(args.snapshot);
  request.mount_point = args.mount_point;
  request.foreground = args.foreground;
  request.max_threads = args.fuse_threads;
  request.fuse_options = args.fuse_options;
  AccessArgs access = args.access;
  for (std::string& dir : access.base_dirs) dir = anchored(dir);
  access.remote.cache_dir = anchored(access.remote.cache_dir);
  auto opener = std::make_shared<SnapshotOpener>(access);
  OpenOptions options;
  options.block_cache_bytes = args.cache_size;
  options.page_cache_bytes = args.index_cache;
  // The index is loaded in the background (several pages at a time, after the boot trace's
  // pages and blocks), so the mount is live at once even for a remote snapshot.
  options.preload_index = !args.no_preload;
  options.prefetch = !args.trace.no_prefetch;
  options.hydrate_bytes_per_second = args.hydrate_rate;
  options.record_trace = !args.trace.record_trace.empty();
  request.record_trace_path = anchored(args.trace.record_trace);
  request.stats_path = anchored(args.trace.stats_file);
  options.threads = args.threads;
  const std::string path = request.snapshot_path;
  request.open = [opener, options, path] { return opener->open(path, options); };
  request.overlay_dir = anchored(args.overlay);
  // The header (read again, cheaply, with the options that opened the snapshot).
  request.peek = [opener, path] { return Snapshot::peek(path, opener->last_options()); };
  return mount::mount_snapshot(request);
}

int run_umount(const std::string& dir) {
  mount::unmount(dir);
  return kExitOk;
}

#else

[[noreturn]] void no_fuse() {
  throw Error(ErrorCode::kUnsupported,
              "this hexz was built without FUSE support (install libfuse3-dev and rebuild with "
              "-DHEXZ_BUILD_FUSE=ON)");
}

int run_mount(const MountArgs&) {
  no_fuse();
}

int run_umount(const std::string&) {
  no_fuse();
}

#endif

}  // namespace

void add_mount_commands(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<MountArgs>();
  CLI::App* sub = add_command(parent, "mount",
                              "Mount a snapshot: its streams appear as the files 'disk' and "
                              "'memory' in DIR (read-only, or writable with --overlay)",
                              selected, [args] { return run_mount(*args); });
  sub->add_option("SNAP", args->snapshot, "Snapshot file (.hxz)")->type_name("")->required();
  sub->add_option("DIR", args->mount_point, "Existing directory to mount on")
      ->type_name("")
      ->required();
  // No -f: it means --force in every other command.
  sub->add_flag("--foreground", args->foreground,
                "Stay in the foreground until unmounted (Ctrl-C unmounts); by default hexz "
                "returns once the mount is live and serves it in the background");
  sub->add_option("--cache-size", args->cache_size, "Memory for decoded blocks")
      ->type_name("SIZE")
      ->transform(size_transform())
      ->capture_default_str();
  sub->add_option("--index-cache", args->index_cache, "Memory for decoded index pages")
      ->type_name("SIZE")
      ->transform(size_transform())
      ->capture_default_str();
  sub->add_flag("--no-preload", args->no_preload,
                "Do not load the index in the background (by default as much of it as "
                "--index-cache holds is, several pages at a time, while the mount is live)");
  add_trace_options(sub, args->trace, "reads", "when the mount ends");
  sub->add_option("--hydrate", args->hydrate_rate,
                  "After the boot trace, fetch the rest of a remote snapshot into the disk cache "
                  "(--cache-dir) at most RATE bytes per second, e.g. 50M")
      ->type_name("RATE")
      ->transform(size_transform());
  sub->add_option("--overlay", args->overlay,
                  "Make the files writable: writes go to sparse side files in SIDEDIR "
                  "(disk.overlay, memory.overlay; created on first use, reused by later mounts of "
                  "the same snapshot); fold them back with `hexz commit SIDEDIR/disk.overlay "
                  "--base SNAP -o NEW.hxz`")
      ->type_name("SIDEDIR");
  sub->add_option("-o", args->fuse_options,
                  "Mount options, comma-separated: allow_other (other users, e.g. a VMM running "
                  "as another user, may read the files; needs user_allow_other in "
                  "/etc/fuse.conf unless root) or allow_root")
      ->type_name("OPTS")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check([](const std::string& option) -> std::string {
        if (option == "allow_other" || option == "allow_root") return {};
        return "unsupported mount option '" + option + "' (supported: allow_other, allow_root)";
      });
  add_threads_option(sub, args->threads, "Decode threads; 0 = one per core");
  sub->add_option("--fuse-threads", args->fuse_threads,
                  "Most FUSE requests served at once (0 = one per core, at least 2)")
      ->type_name("N")
      ->check(int_range(0, 1024))
      ->capture_default_str();
  add_access_options(sub, args->access);
  sub->footer(std::string("Unmount with 'hexz umount DIR' (or 'fusermount3 -u DIR').\n"
                          "Without --overlay the files are read-only (writes fail with EROFS).\n"
                          "SIZE accepts a byte count with an optional binary suffix K, M or G.\n") +
              kAccessFooter);

  auto dir = std::make_shared<std::string>();
  CLI::App* um = add_command(parent, "umount", "Unmount a snapshot mounted with 'hexz mount'",
                             selected, [dir] { return run_umount(*dir); });
  um->add_option("DIR", *dir, "Mount point")->type_name("")->required();
}

}  // namespace hexz::cli
