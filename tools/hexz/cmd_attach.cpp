// The `attach` and `attachment` subcommands: change a snapshot's named attachments in place
// (without repacking its data), and write one of them out.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "atomic_output.hpp"
#include "commands.hpp"
#include "hexz/attachments.hpp"
#include "hexz/error.hpp"
#include "password.hpp"
#include "posix_io.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `attach`.
struct AttachArgs {
  std::string snapshot;
  std::vector<std::string> set;  ///< NAME=FILE
  std::vector<std::string> remove;
  bool drop_signatures = false;
  std::string password_file;
  bool quiet = false;
};

int run_attach(const AttachArgs& args) {
  std::vector<AttachmentSource> set;
  for (const auto& a : args.set) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == a.size()) {
      throw CLI::ValidationError("NAME=FILE", "'" + a + "' is not NAME=FILE");
    }
    check_user_attachment_name(a.substr(0, eq));
    set.push_back({a.substr(0, eq), a.substr(eq + 1), {}});
  }
  if (set.empty() && args.remove.empty()) {
    throw CLI::ValidationError("NAME=FILE", "nothing to do: give NAME=FILE or --remove NAME");
  }
  AttachOptions options;
  options.drop_signatures = args.drop_signatures;
  AttachResult r;
  try {
    r = update_attachments(args.snapshot, set, args.remove, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kWrongPassword) throw;
    // Encrypted: its attachments are sealed under its keys.
    PasswordSource passwords(args.password_file);
    options.open.password = passwords.for_snapshot(args.snapshot);
    r = update_attachments(args.snapshot, set, args.remove, options);
    wipe(options.open.password);
  }
  if (!args.quiet) {
    std::fprintf(stderr, "%s: %zu attachment%s, identity %s…%s\n", args.snapshot.c_str(),
                 r.attachments, r.attachments == 1 ? "" : "s", r.identity_hex.substr(0, 16).c_str(),
                 r.signatures_dropped != 0 ? " (signatures removed: sign it again)" : "");
  }
  return kExitOk;
}

/// Command-line values of `attachment`.
struct AttachmentArgs {
  std::string snapshot;
  std::string name;
  std::string output;  ///< Empty or "-": standard output.
  bool force = false;
  AccessArgs access;
};

int run_attachment(const AttachmentArgs& args) {
  SnapshotOpener opener(args.access);
  OpenOptions options;
  options.threads = 1;
  const auto snapshot = opener.open(args.snapshot, options);
  const std::vector<std::byte> bytes = snapshot->read_attachment(args.name);
  if (args.output.empty() || args.output == "-") {
    if (const int err = write_all(STDOUT_FILENO, bytes); err != 0) {
      throw Error(ErrorCode::kIo, errno_message("cannot write to standard output", err));
    }
    return kExitOk;
  }
  AtomicOutputFile out(args.output, args.force);
  pwrite_all(out.fd(), bytes, 0, args.output);
  out.commit(bytes.size());
  return kExitOk;
}

}  // namespace

void add_attach_commands(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<AttachArgs>();
  CLI::App* sub = add_command(parent, "attach",
                              "Add, replace or remove named attachments of a snapshot, in place",
                              selected, [args] { return run_attach(*args); });
  sub->add_option("SNAP", args->snapshot, "Local snapshot file (.hxz)")->type_name("")->required();
  sub->add_option("NAME=FILE", args->set,
                  "Store FILE's content as attachment NAME (replacing one of that name)")
      ->type_name("");
  sub->add_option("--remove", args->remove, "Remove attachment NAME (repeatable)")
      ->type_name("NAME");
  sub->add_flag("--drop-signatures", args->drop_signatures,
                "Allow changing a signed snapshot: its signatures are removed (sign it again)");
  sub->add_option("--password-file", args->password_file,
                  "Password of an encrypted snapshot (else HEXZ_PASSWORD, else a prompt)")
      ->type_name("FILE");
  sub->add_flag("-q,--quiet", args->quiet, "No summary line");
  sub->footer(
      "Names: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; at most\n"
      "64 attachments of at most 64 MiB each. Only the header and the attachments at the end of\n"
      "the file are rewritten: data blocks and the index are kept byte for byte. The identity\n"
      "changes, so thin snapshots packed against this one no longer accept it as their base.\n"
      "Read one back with `hexz attachment SNAP NAME`; list them with `hexz info`.");

  auto out = std::make_shared<AttachmentArgs>();
  CLI::App* get = add_command(parent, "attachment", "Write one attachment of a snapshot out",
                              selected, [out] { return run_attachment(*out); });
  get->add_option("SNAP", out->snapshot, "Snapshot (.hxz file, http(s):// URL or s3://bucket/key)")
      ->type_name("")
      ->required();
  get->add_option("NAME", out->name, "Attachment name (hexz info lists them)")
      ->type_name("")
      ->required();
  get->add_option("-o,--output", out->output, "File to write (default: standard output)")
      ->type_name("FILE");
  get->add_flag("-f,--force", out->force, "Overwrite FILE if it exists");
  add_access_options(get, out->access);
  get->footer(std::string("The content is checked against its digest before it is written.\n") +
              kAccessFooter);
}

}  // namespace hexz::cli
