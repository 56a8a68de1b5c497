#include "support/cli_checks.hpp"

#include <vector>

namespace hexz_test {

::testing::AssertionResult exited_ok(const ProcessResult& r) {
  if (r.exit_code != 0) {
    return ::testing::AssertionFailure() << "exit " << r.exit_code << ", stdout ["
                                         << r.out.substr(0, 300) << "], stderr [" << r.err << "]";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_cli_error(const ProcessResult& r, const std::string& must_contain) {
  std::vector<std::string> lines = lines_of(r.err);
  if (r.exit_code != 1 || lines.size() != 1 || lines[0].rfind("hexz: error: ", 0) != 0 ||
      !r.out.empty() || r.err.back() != '\n' ||
      (!must_contain.empty() && lines[0].find(must_contain) == std::string::npos)) {
    return ::testing::AssertionFailure()
           << "want exit 1 and one 'hexz: error:' line"
           << (must_contain.empty() ? "" : " containing '" + must_contain + "'") << "; got exit "
           << r.exit_code << ", stdout [" << r.out.substr(0, 200) << "], stderr [" << r.err << "]";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult is_usage_error(const ProcessResult& r) {
  if (r.exit_code != 2 || r.err.empty() || !r.out.empty()) {
    return ::testing::AssertionFailure()
           << "want exit 2 with a message on stderr; got exit " << r.exit_code << ", stdout ["
           << r.out.substr(0, 300) << "], stderr [" << r.err << "]";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace hexz_test
