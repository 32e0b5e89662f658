// HTTP values shared by the server, the router and the api layer. Beast-free on purpose: api/
// and modules compile without Asio/Beast headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace parley::net {

enum class Method { get, head, post, put, patch, del, options, other };

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  Method method = Method::other;
  std::string target;  // as received: path plus query
  std::string body;
  std::vector<Header> headers;
  std::string peer_ip;     // the TCP peer; api/ decides whether to trust X-Forwarded-For
  std::string request_id;  // assigned by the server, echoed as X-Request-Id
  std::vector<std::pair<std::string, std::string>> params;  // decoded path parameters

  std::string_view path() const;
  std::string_view header(std::string_view name) const;  // case-insensitive; "" when absent
  std::string_view param(std::string_view name) const;   // "" when absent
  // Decoded query parameter: nullopt when absent; Errc::malformed (naming it) when its
  // percent-encoding is broken.
  Result<std::optional<std::string>> query(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;
  std::string body;
};

// Case-insensitive lookup of a header's first value; "" when absent.
std::string_view find_header(const std::vector<Header>& headers, std::string_view name);

// The error envelope of API.md: {"error": {"code", "message"[, "field"]}}.
Response error_response(int status, std::string_view code, std::string_view message,
                        std::string_view field = {});

// Percent-decoding of a URL component ('+' is a space when form_encoding); nullopt when broken.
std::optional<std::string> url_decode(std::string_view s, bool form_encoding);

const char* method_name(Method m);

}  // namespace parley::net
