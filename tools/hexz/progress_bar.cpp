#include "progress_bar.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "cli_util.hpp"
#include "hexz/types.hpp"

namespace hexz::cli {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
/// Bar widths in characters, and the room kept for the numbers after the bar.
constexpr size_t kMinBar = 10;
constexpr size_t kMaxBar = 30;
constexpr size_t kTailReserve = 52;

/// A remaining time as "m:ss" or "h:mm:ss".
std::string format_eta(double seconds) {
  auto total = static_cast<uint64_t>(std::clamp(seconds, 0.0, 359999.0));
  char buf[32];
  if (total < 3600) {
    std::snprintf(buf, sizeof buf, "%u:%02u", static_cast<unsigned>(total / 60),
                  static_cast<unsigned>(total % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%u:%02u:%02u", static_cast<unsigned>(total / 3600),
                  static_cast<unsigned>(total / 60 % 60), static_cast<unsigned>(total % 60));
  }
  return buf;
}

/// Columns of the terminal on stderr, or 80 if unknown.
size_t terminal_width() {
  struct winsize ws = {};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

ProgressBar::ProgressBar(std::string label, bool enabled)
    : label_(std::move(label)), enabled_(enabled), start_(Clock::now()) {}

ProgressBar::~ProgressBar() {
  clear();
}

void ProgressBar::update(uint64_t done, uint64_t total) {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  Clock::time_point now = Clock::now();
  if (drawn_ && now - last_draw_ < kRedrawInterval) return;
  last_draw_ = now;
  draw(done, total, now);
}

void ProgressBar::clear() {
  if (!enabled_) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!drawn_) return;
  std::string blank = "\r" + std::string(last_width_, ' ') + "\r";
  std::fputs(blank.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = false;
  last_width_ = 0;
}

void ProgressBar::draw(uint64_t done, uint64_t total, Clock::time_point now) {
  if (total == 0) {
    // The total is unknown (a stream): bytes done and the rate only.
    double secs = std::chrono::duration<double>(now - start_).count();
    char text[160];
    int len = std::snprintf(text, sizeof text, "%s %s  %.1f MB/s", label_.c_str(),
                            format_bytes(done).c_str(),
                            secs > 0 ? static_cast<double>(done) / secs / 1e6 : 0.0);
    std::string line(text, static_cast<size_t>(std::clamp(len, 0, int{sizeof text} - 1)));
    show(std::move(line));
    return;
  }
  done = std::min(done, total);
  double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  double elapsed = std::chrono::duration<double>(now - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;  // bytes per second

  char stats[160];
  int n =
      std::snprintf(stats, sizeof stats, " %s / %s %3d%%  %.1f MB/s", format_bytes(done).c_str(),
                    format_bytes(total).c_str(), static_cast<int>(fraction * 100), rate / 1e6);
  std::string tail(stats, static_cast<size_t>(std::clamp(n, 0, int{sizeof stats} - 1)));
  if (rate > 0 && done < total) {
    tail += "  ETA " + format_eta(static_cast<double>(total - done) / rate);
  }

  // Leave the last column free: writing into it makes some terminals wrap. The bar's width
  // depends only on the terminal width (not on the changing numbers) so it does not jump; it
  // is dropped when the terminal is too narrow.
  size_t width = terminal_width() - 1;
  std::string line = label_;
  size_t fixed = label_.size() + 3 + kTailReserve;
  if (fixed + kMinBar <= width) {
    size_t bar = std::min(kMaxBar, width - fixed);
    auto filled = static_cast<size_t>(fraction * static_cast<double>(bar));
    line += " [" + std::string(filled, '#') + std::string(bar - filled, '.') + "]";
  }
  line += tail;
  if (line.size() > width) line.resize(width);

  show(std::move(line));
}

void ProgressBar::show(std::string line) {
  size_t shown = line.size();
  if (shown < last_width_) line += std::string(last_width_ - shown, ' ');
  line.insert(line.begin(), '\r');
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
  last_width_ = std::max(shown, last_width_);
}

}  // namespace hexz::cli
