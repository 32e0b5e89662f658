// Logging on spdlog: one line per event, as text or as JSON lines (log_format). Fields are
// key/value pairs so both forms carry the same data. Thread-safe; written by a background
// thread so request threads never wait on the terminal or disk.
//
// Never log secrets: no tokens, passwords, TOTP codes or Authorization headers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace parley::log {

enum class Format { text, json };
enum class Level { debug, info, warn, error };

struct Field {
  std::string_view key;
  std::variant<std::string_view, std::int64_t, double, bool> value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, std::int64_t v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, unsigned v) : key(k), value(std::int64_t{v}) {}
  Field(std::string_view k, std::size_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
};

// Configures the process-wide logger; call once at start. Until then, logs go to stderr as text.
void init(Format format, Level min_level);
void flush();
// The format init() chose (text before init), for callers whose field names differ by format:
// JSON lines use Elastic Common Schema names (docs/operations.md, "Logs").
Format format();

void write(Level level, std::string_view msg, std::initializer_list<Field> fields);
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::info, m, f);
}
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::warn, m, f);
}
inline void error(std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::error, m, f);
}

}  // namespace parley::log
