// Text validation for user-supplied strings: UTF-8 well-formedness, length in characters (code
// points), control characters, trimming. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::text {

bool is_valid_utf8(std::string_view s);
// Number of code points; only meaningful for valid UTF-8.
std::size_t char_count(std::string_view s);
// Leading and trailing ASCII whitespace removed.
std::string_view trim(std::string_view s);
// True when s holds C0/C1 control characters other than newline and tab.
bool has_control_chars(std::string_view s, bool allow_newlines);
std::string ascii_lower(std::string_view s);

}  // namespace parley::text
