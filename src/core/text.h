// Text validation for user-supplied strings: UTF-8 well-formedness, length in characters (code
// points), control characters, trimming. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace parley::text {

bool is_valid_utf8(std::string_view s);

// UTF-8 checked piece by piece, for text that arrives in pieces (WebSocket fragments, reads):
// a piece may end inside a character. feed() is false from the first byte that no valid text
// could continue with (a bad lead byte, overlong form, surrogate or value past U+10FFFF), so a
// reader can fail at once rather than at the end; complete() is true when no character is
// left open.
class Utf8Validator {
 public:
  bool feed(std::string_view piece);
  bool complete() const { return pending_ == 0; }

 private:
  unsigned char pending_ = 0;  // continuation bytes still expected
  unsigned char lo_ = 0x80;    // the next continuation byte's bounds (the second byte's are
  unsigned char hi_ = 0xBF;    // narrower after E0, ED, F0 and F4)
};
// Number of code points; only meaningful for valid UTF-8.
std::size_t char_count(std::string_view s);
// Leading and trailing ASCII whitespace removed.
std::string_view trim(std::string_view s);
// True when s holds C0/C1 control characters other than newline and tab.
bool has_control_chars(std::string_view s, bool allow_newlines);
std::string ascii_lower(std::string_view s);
// s with & < > " ' as HTML character references, appended to out: safe in element text and in
// quoted attribute values.
void append_html_escaped(std::string& out, std::string_view s);
std::string html_escaped(std::string_view s);
// Percent-encoding (RFC 3986 section 2.1, upper-case hex) of every byte but the unreserved
// characters A-Z a-z 0-9 - . _ ~ and those in keep: query and form values (space as %20), path
// segments, RFC 5987 header parameters.
std::string percent_encoded(std::string_view s, std::string_view keep = "");

}  // namespace parley::text
