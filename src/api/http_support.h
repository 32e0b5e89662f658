// Helpers shared by the route files: the error table, JSON responses, body parsing,
// authentication and the client address. Private to api/.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "modules/auth/auth.h"
#include "modules/ratelimit/rate_limiter.h"
#include "modules/users/users.h"
#include "net/address.h"
#include "net/http.h"

namespace parley::api {

// The one Errc -> wire table, for HTTP responses and WebSocket error frames alike.
struct WireError {
  int status;
  const char* code;
};
WireError wire_error(const Error& e);
// The message a client may see: internal details stay in the logs.
std::string_view wire_message(const Error& e);

net::Response error_response(const Error& e);
net::Response json_response(int status, const boost::json::value& body);
net::Response no_content();

Result<boost::json::object> parse_body(const net::Request& req);
// limit query parameter: default 50, 1..200.
Result<int> page_limit(const net::Request& req);

// The user object; with_role adds "role", for the user themself and for admins only.
boost::json::object user_json(const users::User& u, bool with_role = false);

// A JSON array of strings (wrong type: malformed, naming the field); absent is an empty list.
Result<std::vector<std::string>> string_array(const boost::json::object& o, std::string_view key);
// An integer query parameter: nullopt when absent, malformed when not an integer.
Result<std::optional<std::int64_t>> query_int(const net::Request& req, std::string_view name);

class ClientAddress {
 public:
  Result<void> init(const std::vector<std::string>& trusted);
  // The peer, or the nearest untrusted hop of X-Forwarded-For when the peer is a trusted proxy.
  std::string of(const net::Request& req) const;

 private:
  bool trusted(std::string_view ip) const;
  std::vector<net::Cidr> trusted_;
};

// The token of "Authorization: Bearer <token>"; unauthenticated when there is none.
Result<std::string> bearer_token(const net::Request& req);
// Token from "Authorization: Bearer <token>", then auth.authenticate().
Result<auth::Principal> authenticate(auth::AuthService& auth, const net::Request& req);

// Takes a token from each key's bucket; the first refusal becomes resource_exhausted.
Result<void> rate_limit(ratelimit::RateLimiter& limiter,
                        std::initializer_list<std::pair<std::string, ratelimit::Policy>> keys);

}  // namespace parley::api
