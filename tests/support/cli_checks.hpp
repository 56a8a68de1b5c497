// Assertions on how the hexz command line ended: success, one-line errors, usage errors.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "support/process.hpp"

namespace hexz_test {

/// Exit 0; the failure message shows the output.
::testing::AssertionResult exited_ok(const ProcessResult& r);

/// Exit 1, nothing on stdout, and exactly one newline-terminated stderr line
/// "hexz: error: ..." that contains `must_contain` (if not empty).
::testing::AssertionResult is_cli_error(const ProcessResult& r,
                                        const std::string& must_contain = "");

/// Exit 2 (usage), something on stderr, nothing on stdout.
::testing::AssertionResult is_usage_error(const ProcessResult& r);

}  // namespace hexz_test
