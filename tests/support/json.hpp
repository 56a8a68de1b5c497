// A minimal JSON reader, enough to check the CLI's --json output.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hexz_test {

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject } type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;  ///< String value, or the number's literal text.
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool has(const std::string& key) const { return type == Type::kObject && object.count(key) != 0; }
  /// Member `key`; throws std::runtime_error if this is not an object holding it.
  const Json& operator[](const std::string& key) const;
  /// The number as an unsigned integer (exact: parsed from the literal).
  unsigned long long u64() const;
};

/// Parses a complete JSON document (surrounding whitespace allowed). Throws std::runtime_error.
Json parse_json(const std::string& text);

}  // namespace hexz_test
