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
#include "password.hpp"

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
  // Set first: subcommands copy their parent's formatter when they are created.
  app.formatter(make_help_formatter());
  add_pack_command(app, selected);
  add_info_command(app, selected);
  add_cat_command(app, selected);
  add_extract_command(app, selected);
  add_verify_command(app, selected);
  add_push_command(app, selected);
  add_flatten_command(app, selected);
  add_commit_command(app, selected);
  add_diff_command(app, selected);
  add_keygen_command(app, selected);
  add_sign_command(app, selected);
  add_serve_memory_command(app, selected);
  add_attach_commands(app, selected);
  add_trace_command(app, selected);
  add_mount_commands(app, selected);

  CLI::App* data = app.add_subcommand("data", "Commands that work on image data (data pack)");
  data->require_subcommand(1);
  add_pack_command(*data, selected);
  // Set last: subcommands copy their parent's footer when they are created.
  app.footer("Run 'hexz COMMAND --help' for the options of a command.");
}

/// True if `name` is the name of a subcommand of `app`.
bool has_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == name) return true;
  }
  return false;
}

/// The message for a command line CLI11 refused: an unknown command is named as such (CLI11
/// says "A subcommand is required" or "arguments were not expected"); other messages get a
/// pointer to the command's --help.
std::string parse_error_message(const CLI::App& app, int argc, char** argv,
                                const CLI::ParseError& e) {
  const CLI::App* level = &app;
  std::string path = "hexz";
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') break;
    if (!has_subcommand(*level, word)) {
      if (level->get_require_subcommand_min() == 0) break;  // A positional argument.
      return "unknown command '" + word + "' (run '" + path + " --help' for the list of commands)";
    }
    level = level->get_subcommand(word);
    path += " " + word;
  }
  std::string message = e.what();
  if (message == "A subcommand is required") {
    return "no command given (run '" + path + " --help' for the list of commands)";
  }
  return message + " (run '" + path + " --help' for usage)";
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
  // Before anything can start a child process (fusermount3, a password command).
  capture_password_environment();

  CLI::App app("hexz: pack VM disk and memory images into one .hxz snapshot and read them back",
               "hexz");
  CommandFn selected;
  build_app(app, &selected);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      app.exit(e);  // --help or --version.
      return kExitOk;
    }
    print_error(parse_error_message(app, argc, argv, e));
    return kExitUsage;
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
