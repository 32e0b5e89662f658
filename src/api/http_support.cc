#include "http_support.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <strings.h>

#include <array>
#include <string_view>

#include "core/json.h"
#include "core/metrics.h"

namespace parley::api {

WireError wire_error(const Error& e) {
  switch (e.code) {
    case Errc::invalid_argument:
      return {422, "validation_failed"};
    case Errc::malformed:
      return {400, "bad_request"};
    case Errc::unauthenticated:
      return {401, "unauthorized"};
    case Errc::second_factor_required:
      return {401, "totp_required"};
    case Errc::permission_denied:
      // An account an admin deactivated (API-EXTENSIONS "Administration").
      if (e.field == "deactivated") return {403, "deactivated"};
      return {403, "forbidden"};
    case Errc::reauth_required:
      return {403, "reauth_required"};
    case Errc::not_found:
      return {404, "not_found"};
    case Errc::already_exists:
      return {409, "conflict"};
    case Errc::failed_precondition:
      return {409, "conflict"};
    case Errc::too_large:
      return {413, "payload_too_large"};
    case Errc::resource_exhausted:
      // A storage quota is not a rate: retrying later does not help (API-EXTENSIONS "Files").
      if (e.field == "quota") return {413, "quota_exceeded"};
      return {429, "rate_limited"};
    case Errc::unavailable:
      return {503, "unavailable"};
    case Errc::internal:
      return {500, "internal"};
  }
  return {500, "internal"};
}

std::string_view wire_message(const Error& e) {
  return e.code == Errc::internal ? std::string_view("internal error") : e.message;
}

net::Response error_response(const Error& e) {
  auto w = wire_error(e);
  auto r = net::error_response(w.status, w.code, wire_message(e), e.field);
  if (w.status == 429)
    r.headers.push_back({"Retry-After", std::to_string(std::max(1, e.retry_after_s))});
  if (w.status == 401) r.headers.push_back({"WWW-Authenticate", "Bearer"});
  return r;
}

net::Response json_response(int status, const boost::json::value& body) {
  net::Response r;
  r.status = status;
  r.body = json::serialize(body);
  return r;
}

net::Response no_content() {
  net::Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

Result<boost::json::object> parse_body(const net::Request& req) {
  return json::parse_object(req.body);
}

Result<int> page_limit(const net::Request& req) {
  auto param = req.query("limit");
  if (!param) return fail(param.error());
  const auto& raw = *param;
  if (!raw) return 50;
  if (raw->empty() || raw->size() > 9 || raw->find_first_not_of("0123456789") != std::string::npos)
    return fail(Errc::malformed, "limit must be an integer", "limit");
  int v = std::stoi(*raw);
  if (v < 1 || v > 200) return fail(Errc::invalid_argument, "limit must be 1 to 200", "limit");
  return v;
}

boost::json::object user_json(const users::User& u, bool with_role) {
  boost::json::object o{{"id", u.id},
          {"username", u.username},
          {"display_name", u.display_name},
          {"status_text", u.status_text},
          {"timezone", u.timezone},
          // A stable URL an <img> can load without a token (GET /api/v1/avatars/{file_id}).
          {"avatar_url", u.avatar_file_id.empty() ? "" : "/api/v1/avatars/" + u.avatar_file_id},
          {"created_at", u.created_at}};
  if (with_role) o["role"] = users::role_name(u.role);
  return o;
}

Result<std::vector<std::string>> string_array(const boost::json::object& o, std::string_view key) {
  std::vector<std::string> out;
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return out;
  if (!it->value().is_array())
    return fail(Errc::malformed, std::string(key) + " must be an array of strings",
                std::string(key));
  for (const auto& v : it->value().as_array()) {
    if (!v.is_string())
      return fail(Errc::malformed, std::string(key) + " must be an array of strings",
                  std::string(key));
    out.emplace_back(v.as_string());
  }
  return out;
}

Result<std::optional<std::int64_t>> query_int(const net::Request& req, std::string_view name) {
  auto raw = req.query(name);
  if (!raw) return fail(raw.error());
  if (!*raw) return std::optional<std::int64_t>();
  const std::string& s = **raw;
  std::size_t digits = s.size() - (!s.empty() && s[0] == '-' ? 1 : 0);
  if (digits == 0 || digits > 16 ||
      s.find_first_not_of("0123456789", s.size() - digits) != std::string::npos)
    return fail(Errc::malformed, std::string(name) + " must be an integer", std::string(name));
  return std::optional<std::int64_t>(std::stoll(s));
}

Result<void> ClientAddress::init(const std::vector<std::string>& trusted) {
  for (const auto& t : trusted) {
    auto c = net::Cidr::parse(t);
    if (!c)
      return fail(Errc::invalid_argument, "trusted proxy \"" + t + "\" is not an address or CIDR");
    trusted_.push_back(*c);
  }
  return ok();
}

bool ClientAddress::trusted(std::string_view ip) const {
  for (const auto& c : trusted_)
    if (c.contains(ip)) return true;
  return false;
}

std::string ClientAddress::of(const net::Request& req) const {
  if (trusted_.empty() || !trusted(req.peer_ip)) return req.peer_ip;
  // Several X-Forwarded-For lines mean the same as one joined with commas (RFC 9110 5.3).
  std::string joined;
  for (const auto& h : req.headers) {
    if (strcasecmp(h.name.c_str(), "X-Forwarded-For") != 0) continue;
    if (!joined.empty()) joined += ',';
    joined += h.value;
  }
  std::string_view xff = joined;
  // Right to left: the last hop a trusted proxy added is the client it saw.
  while (!xff.empty()) {
    auto comma = xff.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? xff : xff.substr(comma + 1);
    xff = comma == std::string_view::npos ? std::string_view{} : xff.substr(0, comma);
    while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
    while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
    if (hop.empty()) continue;
    if (!net::Cidr::parse(hop)) break;  // not an address: trust nothing further left
    if (!trusted(hop)) return std::string(hop);
  }
  return req.peer_ip;
}

Result<std::string> bearer_token(const net::Request& req) {
  std::string_view h = req.header("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || strncasecmp(h.data(), kBearer.data(), kBearer.size()) != 0)
    return fail(Errc::unauthenticated, "missing bearer token");
  return std::string(h.substr(kBearer.size()));
}

Result<auth::Principal> authenticate(auth::AuthService& auth, const net::Request& req) {
  auto token = bearer_token(req);
  if (!token) return fail(token.error());
  return auth.authenticate(*token);
}

namespace {

// Refusals by limit: the key's first part ("login" of "login:ip:..."), from a fixed set so the
// label stays bounded (no user ids or addresses). Children are looked up once.
struct RateLimitMetrics {
  static constexpr std::string_view kLimits[] = {
      "login",         "register", "refresh", "reauth", "totp",    "mutations",
      "conversations", "messages", "search",  "ws",     "webhooks"};
  std::array<prometheus::Counter*, std::size(kLimits) + 1> refused{};  // last: "other"

  prometheus::Counter& of(std::string_view key) {
    auto name = key.substr(0, key.find(':'));
    for (std::size_t i = 0; i < std::size(kLimits); ++i)
      if (kLimits[i] == name) return *refused[i];
    return *refused.back();
  }

  static RateLimitMetrics& get() {
    static RateLimitMetrics* m = [] {
      auto& f = prometheus::BuildCounter()
                    .Name("parley_ratelimit_rejections_total")
                    .Help("Requests and frames refused by a rate limit, by limit name")
                    .Register(metrics::registry());
      auto* r = new RateLimitMetrics;
      for (std::size_t i = 0; i < std::size(kLimits); ++i)
        r->refused[i] = &f.Add({{"limit", std::string(kLimits[i])}});
      r->refused.back() = &f.Add({{"limit", "other"}});
      return r;
    }();
    return *m;
  }
};

}  // namespace

Result<void> rate_limit(ratelimit::RateLimiter& limiter,
                        std::initializer_list<std::pair<std::string, ratelimit::Policy>> keys) {
  auto& metrics = RateLimitMetrics::get();  // every limit's series exists from the first call
  for (const auto& [key, policy] : keys) {
    auto d = limiter.take(key, policy);
    if (!d.allowed) {
      metrics.of(key).Increment();
      Error e{Errc::resource_exhausted, "too many attempts; retry later", {}, d.retry_after_s};
      return fail(std::move(e));
    }
  }
  return ok();
}

}  // namespace parley::api
