// Turning SIGINT/SIGTERM into a clean abort of a long-running command.
#pragma once

namespace hexz::cli {

/// While alive, SIGINT and SIGTERM only record that they arrived, however many arrive, so that
/// the command stops at its next check and its destructors remove temporary files (SIGKILL
/// stops a command that does not react; the next pack removes what that leaves); a signal that was
/// ignored when the guard was created stays ignored. The destructor restores the previous handlers.
/// Not nestable; create at most one at a time.
class InterruptGuard {
 public:
  /// Installs the handlers.
  InterruptGuard();
  /// Restores the handlers that were installed before.
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
};

/// The number of the first SIGINT/SIGTERM received while an InterruptGuard was alive, or 0.
int interrupt_signal();

/// Throws hexz::Error(ErrorCode::kAborted, "interrupted") if interrupt_signal() != 0. Meant to be
/// called from progress callbacks and copy loops.
void throw_if_interrupted();

/// The exit status for a command stopped by signal `signo` (128 + signo, e.g. 130 for SIGINT).
int interrupted_exit_status(int signo);

}  // namespace hexz::cli
