#include "core/json.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace parley::json {
namespace {

constexpr std::int64_t kMaxSafeInteger = (std::int64_t{1} << 53);

bool numbers_in_safe_range(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64: {
      auto i = v.get_int64();
      return i <= kMaxSafeInteger && i >= -kMaxSafeInteger;
    }
    case boost::json::kind::uint64:
      return v.get_uint64() <= static_cast<std::uint64_t>(kMaxSafeInteger);
    case boost::json::kind::double_: {
      double d = v.get_double();
      return d <= static_cast<double>(kMaxSafeInteger) &&
             d >= -static_cast<double>(kMaxSafeInteger);
    }
    case boost::json::kind::array:
      for (const auto& e : v.get_array())
        if (!numbers_in_safe_range(e)) return false;
      return true;
    case boost::json::kind::object:
      for (const auto& kv : v.get_object())
        if (!numbers_in_safe_range(kv.value())) return false;
      return true;
    default:
      return true;
  }
}

}  // namespace

Result<boost::json::object> parse_object(std::string_view text) {
  boost::json::parse_options opts;
  opts.max_depth = 32;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, opts);
  if (ec) return fail(Errc::malformed, "request body is not valid JSON: " + ec.message());
  if (!v.is_object()) return fail(Errc::malformed, "request body must be a JSON object");
  if (!numbers_in_safe_range(v)) return fail(Errc::malformed, "numbers must be within +/-2^53");
  return std::move(v.get_object());
}

Result<std::string> required_string(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null())
    return fail(Errc::malformed, std::string(key) + " is required", std::string(key));
  if (!it->value().is_string())
    return fail(Errc::malformed, std::string(key) + " must be a string", std::string(key));
  return std::string(it->value().get_string());
}

Result<std::optional<std::string>> optional_string(const boost::json::object& o,
                                                   std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<std::string>{};
  if (!it->value().is_string())
    return fail(Errc::malformed, std::string(key) + " must be a string", std::string(key));
  return std::optional<std::string>(std::string(it->value().get_string()));
}

Result<std::int64_t> required_int(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null())
    return fail(Errc::malformed, std::string(key) + " is required", std::string(key));
  const auto& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64()) return static_cast<std::int64_t>(v.get_uint64());
  return fail(Errc::malformed, std::string(key) + " must be an integer", std::string(key));
}

std::string serialize(const boost::json::value& v) { return boost::json::serialize(v); }

}  // namespace parley::json
