// A GoogleTest fixture giving every test its own temporary directory, plus
// assertion helpers for hexz::Error.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <sstream>
#include <string>

#include "hexz/hexz.hpp"
#include "support/test_data.hpp"

namespace hexz {
// Lets GoogleTest print error codes by name.
inline void PrintTo(ErrorCode code, std::ostream* os) {
  *os << error_code_name(code);
}
inline void PrintTo(Codec codec, std::ostream* os) {
  *os << codec_name(codec);
}
}  // namespace hexz

namespace hexz_test {

/// Succeeds if `fn` throws hexz::Error with one of `codes`; the failure message says
/// what was thrown instead (or that nothing was).
::testing::AssertionResult ThrowsHexz(const std::function<void()>& fn,
                                      std::initializer_list<hexz::ErrorCode> codes);

/// Succeeds if `fn` throws hexz::Error with `code` and a message containing `phrase`; the
/// failure message says what was thrown instead (another exception type included) or that
/// nothing was.
::testing::AssertionResult ThrowsWith(const std::function<void()>& fn, hexz::ErrorCode code,
                                      const std::string& phrase);

/// Base fixture: a per-test temp dir with "in/" and "out/" subdirectories.
class HexzTest : public ::testing::Test {
 protected:
  HexzTest();

  const TempDir& tmp() const { return tmp_; }
  /// Writes `data` to in/<name> and returns the path.
  std::string input(const std::string& name, const Bytes& data) const;
  /// out/<name>.
  std::string output(const std::string& name) const;
  std::string in_dir() const { return (tmp_.path() / "in").string(); }
  std::string out_dir() const { return (tmp_.path() / "out").string(); }

  /// Options for packing disk/memory (either may be empty) into out.
  static hexz::PackOptions options(const std::string& disk, const std::string& memory,
                                   const std::string& out);

 private:
  TempDir tmp_;
};

}  // namespace hexz_test
