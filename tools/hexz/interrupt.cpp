#include "interrupt.hpp"

#include <signal.h>

#include <atomic>

#include "hexz/error.hpp"

namespace hexz::cli {
namespace {

std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the signal flag must be lock-free");

struct sigaction g_old_int;
struct sigaction g_old_term;

void on_signal(int signo) {
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signo);
}

/// Installs `action` for `signo` and saves the old disposition in `*old`, unless the signal is
/// ignored (e.g. SIGINT of a background job): then it stays ignored, as shells expect.
void install(int signo, const struct sigaction& action, struct sigaction* old) {
  if (sigaction(signo, nullptr, old) != 0) return;
  if (old->sa_handler == SIG_IGN) return;
  sigaction(signo, &action, nullptr);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  struct sigaction action = {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  // No SA_RESETHAND: a second signal arriving close behind the first (as `timeout` or a
  // process-group kill send them) must not kill the process before the destructors have
  // removed its temporary files. Every further signal is only recorded, like the first.
  // The signals stay blocked while the handler runs (sa_mask).
  sigaddset(&action.sa_mask, SIGINT);
  sigaddset(&action.sa_mask, SIGTERM);
  action.sa_flags = 0;
  install(SIGINT, action, &g_old_int);
  install(SIGTERM, action, &g_old_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int interrupt_signal() {
  return g_signal.load();
}

void throw_if_interrupted() {
  if (g_signal.load() != 0) throw Error(ErrorCode::kAborted, "interrupted");
}

int interrupted_exit_status(int signo) {
  return 128 + signo;
}

}  // namespace hexz::cli
