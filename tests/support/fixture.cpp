#include "support/fixture.hpp"

#include <algorithm>
#include <typeinfo>

namespace hexz_test {

::testing::AssertionResult ThrowsHexz(const std::function<void()>& fn,
                                      std::initializer_list<hexz::ErrorCode> codes) {
  std::ostringstream want;
  for (auto c : codes) want << (want.tellp() > 0 ? "|" : "") << hexz::error_code_name(c);
  try {
    fn();
  } catch (const hexz::Error& e) {
    if (std::find(codes.begin(), codes.end(), e.code()) != codes.end()) {
      return ::testing::AssertionSuccess()
             << "threw " << hexz::error_code_name(e.code()) << ": " << e.what();
    }
    return ::testing::AssertionFailure()
           << "expected hexz::Error(" << want.str() << "), got hexz::Error("
           << hexz::error_code_name(e.code()) << "): " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "expected hexz::Error(" << want.str() << "), got "
                                         << typeid(e).name() << ": " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure()
           << "expected hexz::Error(" << want.str() << "), got a non-std exception";
  }
  return ::testing::AssertionFailure()
         << "expected hexz::Error(" << want.str() << "), nothing was thrown";
}

HexzTest::HexzTest() {
  fs::create_directory(tmp_.path() / "in");
  fs::create_directory(tmp_.path() / "out");
}

std::string HexzTest::input(const std::string& name, const Bytes& data) const {
  std::string path = (tmp_.path() / "in" / name).string();
  write_file(path, data);
  return path;
}

std::string HexzTest::output(const std::string& name) const {
  return (tmp_.path() / "out" / name).string();
}

hexz::PackOptions HexzTest::options(const std::string& disk, const std::string& memory,
                                    const std::string& out) {
  hexz::PackOptions o;
  o.disk_path = disk;
  o.memory_path = memory;
  o.output_path = out;
  return o;
}

::testing::AssertionResult ThrowsWith(const std::function<void()>& fn, hexz::ErrorCode code,
                                      const std::string& phrase) {
  try {
    fn();
  } catch (const hexz::Error& e) {
    if (e.code() == code && std::string(e.what()).find(phrase) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure()
           << "threw " << hexz::error_code_name(e.code()) << ": " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "a non-hexz exception escaped: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace hexz_test
