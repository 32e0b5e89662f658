// JSON helpers over Boost.JSON: strict parsing of untrusted bodies and typed field access that
// turns every problem into a Result error naming the field.
//
// parse_object() rejects: syntax errors, invalid UTF-8, non-object roots, nesting deeper than 32,
// and numbers that a JavaScript client could not hold exactly (beyond +/-2^53). Wrong types are
// Errc::malformed (400); values that are well-typed but unacceptable are for the caller to judge.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace parley::json {

Result<boost::json::object> parse_object(std::string_view text);

// Required and optional typed fields. A present field with the wrong type is malformed; null is
// treated as absent for optional fields.
Result<std::string> required_string(const boost::json::object& o, std::string_view key);
Result<std::optional<std::string>> optional_string(const boost::json::object& o,
                                                   std::string_view key);
Result<std::int64_t> required_int(const boost::json::object& o, std::string_view key);

std::string serialize(const boost::json::value& v);

}  // namespace parley::json
