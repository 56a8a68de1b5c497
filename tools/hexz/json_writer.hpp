// A minimal streaming JSON writer for `--json` output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hexz::cli {

/// Builds pretty-printed JSON (two-space indent) in a string. The caller is responsible for
/// well-formed nesting: inside an object call key() before every value or begin_*(); inside an
/// array call values directly. Commas and indentation are inserted automatically.
class JsonWriter {
 public:
  /// Opens an object ('{').
  JsonWriter& begin_object();
  /// Closes the innermost object ('}').
  JsonWriter& end_object();
  /// Opens an array ('[').
  JsonWriter& begin_array();
  /// Closes the innermost array (']').
  JsonWriter& end_array();
  /// Writes the member name for the next value. REQUIRES: the innermost container is an object.
  JsonWriter& key(std::string_view name);
  /// Writes a string value, escaped per RFC 8259.
  JsonWriter& value(std::string_view text);
  /// Writes a string value (overload so string literals do not convert to bool).
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  /// Writes an unsigned integer value.
  JsonWriter& value(uint64_t number);
  /// Writes a signed integer value.
  JsonWriter& value(int number);
  /// Writes a floating-point value in its shortest round-trip form; non-finite values become
  /// null (JSON has no infinity or NaN).
  JsonWriter& value(double number);
  /// Writes true or false.
  JsonWriter& value(bool flag);
  /// Writes null.
  JsonWriter& null();

  /// The document written so far, followed by a newline once the top-level value is complete.
  const std::string& str() const { return out_; }

  /// Returns `text` as a quoted JSON string literal.
  static std::string quote(std::string_view text);

 private:
  /// Emits the comma/newline/indent needed before a value or key at the current position.
  void before_value();
  /// Starts a container with bracket `open`.
  void open(char bracket);
  /// Ends the innermost container with bracket `close`.
  void close(char bracket);
  /// Appends a newline when the top-level value just finished.
  void after_value();

  /// State of one open object or array.
  struct Level {
    bool empty = true;  ///< Nothing written in this container yet.
  };
  std::string out_;           ///< The document so far.
  std::vector<Level> stack_;  ///< Open containers, innermost last.
  bool after_key_ = false;    ///< A key was written; the next value follows it on the same line.
};

}  // namespace hexz::cli
