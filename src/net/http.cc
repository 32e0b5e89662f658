#include "net/http.h"

#include <strings.h>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace parley::net {

std::string_view Request::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view find_header(const std::vector<Header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0)
      return h.value;
  return {};
}

std::string_view Request::header(std::string_view name) const { return find_header(headers, name); }

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

Result<std::optional<std::string>> Request::query(std::string_view name) const {
  std::string_view t = target;
  auto q = t.find('?');
  if (q == std::string_view::npos) return std::optional<std::string>{};
  std::string_view rest = t.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key != name) continue;
    auto v =
        url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!v)
      return fail(Errc::malformed, std::string(name) + " is not correctly URL-encoded",
                  std::string(name));
    return v;
  }
  return std::optional<std::string>{};
}

Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field) {
  boost::json::object err{{"code", code}, {"message", message}};
  if (!field.empty()) err["field"] = field;
  Response r;
  r.status = status;
  r.body = boost::json::serialize(boost::json::object{{"error", std::move(err)}});
  return r;
}

std::optional<TraceParent> parse_traceparent(std::string_view v) {
  auto hex_run = [&](std::size_t pos, std::size_t n) {
    if (pos + n > v.size()) return false;
    for (std::size_t i = pos; i < pos + n; ++i) {
      char c = v[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  auto not_zero = [&](std::size_t pos, std::size_t n) {
    return v.substr(pos, n).find_first_not_of('0') != std::string_view::npos;
  };
  // 00-<32 hex>-<16 hex>-<2 hex>: 55 characters. Only version 00 is understood; a later
  // version's header may be longer, but its first fields are read the same way (W3C 3.3).
  if (v.size() < 55 || !hex_run(0, 2) || v.substr(0, 2) == "ff" || v[2] != '-' || !hex_run(3, 32) ||
      v[35] != '-' || !hex_run(36, 16) || v[52] != '-' || !hex_run(53, 2))
    return std::nullopt;
  if (v.substr(0, 2) == "00" && v.size() != 55) return std::nullopt;
  if (v.size() > 55 && v[55] != '-') return std::nullopt;
  if (!not_zero(3, 32) || !not_zero(36, 16)) return std::nullopt;
  return TraceParent{std::string(v.substr(3, 32)), std::string(v.substr(36, 16)),
                     std::string(v.substr(53, 2))};
}

void add_request_id(Response& r, std::string_view request_id) {
  if (r.stream || r.status < 400 || r.content_type != "application/json") return;
  if (r.body.rfind("{\"error\":", 0) != 0) return;
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object()) return;
  auto* err = v.as_object().if_contains("error");
  if (!err || !err->is_object()) return;
  err->as_object()["request_id"] = request_id;
  r.body = boost::json::serialize(v);
}

std::optional<std::string> url_decode(std::string_view s, bool form_encoding) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && form_encoding) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

const char* method_name(Method m) {
  switch (m) {
    case Method::get:
      return "GET";
    case Method::head:
      return "HEAD";
    case Method::post:
      return "POST";
    case Method::put:
      return "PUT";
    case Method::patch:
      return "PATCH";
    case Method::del:
      return "DELETE";
    case Method::options:
      return "OPTIONS";
    case Method::other:
      return "OTHER";
  }
  return "OTHER";
}

}  // namespace parley::net
