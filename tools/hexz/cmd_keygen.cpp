// The `keygen` subcommand: makes an Ed25519 key pair for `hexz sign`.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.hpp"
#include "hexz/signing.hpp"

namespace hexz::cli {
namespace {

/// Command-line values of `keygen`.
struct KeygenArgs {
  std::string output;
  bool force = false;
};

int run_keygen(const KeygenArgs& args) {
  generate_signing_key(args.output, args.force);
  std::printf("wrote private key %s (mode 0600) and public key %s.pub\n", args.output.c_str(),
              args.output.c_str());
  return kExitOk;
}

}  // namespace

void add_keygen_command(CLI::App& parent, CommandFn* selected) {
  auto args = std::make_shared<KeygenArgs>();
  CLI::App* sub = add_command(parent, "keygen", "Make an Ed25519 key pair for signing snapshots",
                              selected, [args] { return run_keygen(*args); });
  sub->add_option("-o,--output", args->output, "Private key file; the public key goes to FILE.pub")
      ->type_name("FILE")
      ->required();
  sub->add_flag("-f,--force", args->force, "Overwrite existing key files");
  sub->footer(
      "Sign with `hexz sign SNAP --key FILE`; readers check with `--key FILE.pub`.\n"
      "Keep FILE secret: whoever has it can sign snapshots your readers will trust.");
}

}  // namespace hexz::cli
