// The `sign` subcommand: adds an Ed25519 signature of a snapshot's identity, without repacking.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/signing.hpp"
#include "password.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `sign`.
struct SignArgs {
  std::string snapshot;
  std::string key;
  std::string password_file;
  bool quiet = false;
};

int run_sign(const SignArgs& args) {
  OpenOptions options;
  SignResult r;
  try {
    r = sign_snapshot(args.snapshot, args.key, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kWrongPassword || !options.password.empty()) throw;
    // Encrypted: its index can be checked against its identity only with the password.
    PasswordSource passwords(args.password_file);
    options.password = passwords.for_snapshot(args.snapshot);
    r = sign_snapshot(args.snapshot, args.key, options);
    wipe(options.password);
  }
  if (!args.quiet) {
    std::printf("signed %s (identity %s…): %zu signature%s%s\n", args.snapshot.c_str(),
                r.identity_hex.substr(0, 16).c_str(), r.signatures, r.signatures == 1 ? "" : "s",
                r.replaced ? ", replacing this key's earlier one" : "");
  }
  return kExitOk;
}

}  // namespace

void add_sign_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<SignArgs>();
  CLI::App* sub = add_command(parent, "sign", "Sign a snapshot's identity (Ed25519), in place",
                              selected, [args] { return run_sign(*args); });
  sub->add_option("SNAP", args->snapshot, "Local snapshot file (.hxz)")->type_name("")->required();
  sub->add_option("--key", args->key, "Private key file (from hexz keygen)")
      ->type_name("KEY")
      ->required();
  sub->add_option("--password-file", args->password_file,
                  "Password of an encrypted snapshot (else HEXZ_PASSWORD, else a prompt)")
      ->type_name("FILE");
  sub->add_flag("-q,--quiet", args->quiet, "No summary line");
  sub->footer(
      "The signature goes in a small trailer after the snapshot's last byte; the snapshot's own\n"
      "bytes are not changed. Signing again with the same key replaces its signature; other\n"
      "keys' signatures are kept. Readers require it with --key KEY.pub (hexz verify --key ...).");
}

}  // namespace hexz::cli
