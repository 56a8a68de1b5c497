// Entry point of the `hexz` command: parses the command line and runs one subcommand.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include <CLI/CLI.hpp>

#include "cli_util.hpp"
#include "commands.hpp"
#include "hexz/error.hpp"
#include "hexz/version.hpp"
#include "interrupt.hpp"

namespace hexz::cli {
namespace {

/// "hexz 0.1.0 (snapshot format 1.0)".
std::string version_line() {
  return std::string("hexz ") + kVersionString + " (snapshot format " +
         std::to_string(kFormatVersionMajor) + "." + std::to_string(kFormatVersionMinor) + ")";
}

/// Builds the command tree; the parsed subcommand's action ends up in `*selected`.
void build_app(CLI::App& app, CommandFn* selected) {
  app.set_version_flag("--version", version_line(), "Print the version and exit");
  app.require_subcommand(1);
  add_pack_command(app, selected);
  add_info_command(app, selected);
  add_cat_command(app, selected);
  add_extract_command(app, selected);
  add_verify_command(app, selected);
  add_push_command(app, selected);
  add_flatten_command(app, selected);
  add_diff_command(app, selected);
  add_keygen_command(app, selected);
  add_sign_command(app, selected);
  add_mount_commands(app, selected);

  CLI::App* data = app.add_subcommand("data", "Commands that work on image data (data pack)");
  data->require_subcommand(1);
  add_pack_command(*data, selected);
  // Set last: subcommands copy their parent's footer when they are created.
  app.footer("Run 'hexz COMMAND --help' for the options of a command.");
}

/// Runs `command`, turning every exception into a one-line message; returns the exit status.
int run_command(const CommandFn& command) {
  int status = kExitError;
  try {
    status = command();
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      print_error("cannot write to standard output");
      return kExitError;
    }
    return status;
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kAborted && interrupt_signal() != 0) {
      print_error(e.what());
      return interrupted_exit_status(interrupt_signal());
    }
    print_error(e.what());
  } catch (const CLI::ParseError& e) {
    // A usage problem detected while running (e.g. an unknown stream name slipped through).
    print_error(e.what());
    return kExitUsage;
  } catch (const std::bad_alloc&) {
    print_error("out of memory");
  } catch (const std::exception& e) {
    print_error(e.what());
  } catch (...) {
    print_error("unknown internal error");
  }
  return kExitError;
}

/// The real main; separate so that nothing escapes as an uncaught exception.
int main_impl(int argc, char** argv) {
  // Writes to a closed pipe must fail with EPIPE rather than kill the process.
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app("hexz: pack VM disk and memory images into one .hxz snapshot and read them back",
               "hexz");
  CommandFn selected;
  build_app(app, &selected);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);  // Prints help, the version, or the error message.
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!selected) {  // Unreachable: require_subcommand() guarantees an action.
    print_error("no command given");
    return kExitUsage;
  }
  return run_command(selected);
}

}  // namespace
}  // namespace hexz::cli

int main(int argc, char** argv) {
  try {
    return hexz::cli::main_impl(argc, argv);
  } catch (const std::exception& e) {
    hexz::cli::print_error(e.what());
  } catch (...) {
    hexz::cli::print_error("unknown internal error");
  }
  return hexz::cli::kExitError;
}
