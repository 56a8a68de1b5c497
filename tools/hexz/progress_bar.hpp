// A single-line progress display on stderr.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace hexz::cli {

/// Draws `label [#####.....] 1.20 GiB / 2.00 GiB  61%  412.3 MB/s  ETA 0:03` on stderr, redrawing
/// in place with '\r' at most ten times a second. A disabled bar does nothing at all.
/// update() may be called from any thread.
class ProgressBar {
 public:
  /// Creates a bar titled `label`; draws only if `enabled` (see progress_wanted()).
  ProgressBar(std::string label, bool enabled);
  /// Erases the bar if it is still shown.
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  /// Records that `done` of `total` bytes are processed; redraws if the last redraw is at least
  /// 100 ms old (the first call always draws).
  void update(uint64_t done, uint64_t total);
  /// Erases the bar so that following output starts on a clean line. Further update() calls
  /// draw again.
  void clear();

 private:
  using Clock = std::chrono::steady_clock;

  /// Writes the bar for `done`/`total`. REQUIRES: mutex_ is held.
  void draw(uint64_t done, uint64_t total, Clock::time_point now);
  /// Writes `line` over the previous one (padding with spaces to erase what it leaves).
  void show(std::string line);

  const std::string label_;        ///< Text before the bar.
  const bool enabled_;             ///< False: every member function is a no-op.
  const Clock::time_point start_;  ///< Construction time, for the rate and ETA.
  std::mutex mutex_;               ///< Guards the members below and the terminal line.
  Clock::time_point last_draw_{};  ///< Time of the last redraw, for throttling.
  bool drawn_ = false;             ///< Something is on the terminal line.
  size_t last_width_ = 0;          ///< Characters written by the last draw, to erase leftovers.
};

}  // namespace hexz::cli
