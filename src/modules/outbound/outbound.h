// Outbound requests: the one rule for every request the server makes to a URL a user supplied
// (link previews, webhooks, slash commands, Web Push endpoints), and the port that makes them.
//
// AddressPolicy says which IP addresses may be connected to: nothing that is loopback, private,
// link-local, multicast, broadcast, unspecified, CGNAT, documentation/benchmark/reserved, nor
// an IPv6 form that embeds such an IPv4 address (mapped, translated, NAT64, 6to4, Teredo),
// unless the address is inside a range of the operator's `--outbound-allow` list. It judges
// addresses, never host names: an HttpFetcher applies it to the address it actually connects
// to, after DNS resolution, on every connection including each redirect hop.
//
// HttpFetcher is the port (adapters/curl implements it). fetch() blocks for up to the request's
// timeout: call it from worker threads, never from an I/O thread. Implementations are
// thread-safe; every call is independent (no cookies, no credentials, no shared state).
// Errors: permission_denied "address not allowed" (the target, or a redirect's, is refused),
// invalid_argument (a malformed URL, userinfo in it, a scheme other than http/https, here or
// in a redirect), unavailable (DNS failure, connection failure, TLS failure, timeout, more
// redirects than allowed), too_large (the body is over max_body_bytes and overflow is fail).
// An HTTP error status is not an error: it is a FetchResponse with that status.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace parley::outbound {

// An IPv4 or IPv6 address in network byte order. Immutable value; thread-safe.
class IpAddress {
 public:
  // Strict: only inet_pton's dotted-quad and RFC 4291 text. "2130706433", "0177.0.0.1" or
  // "0x7f.1" are not addresses here (a resolver may read them as 127.0.0.1; the policy is
  // applied to what was resolved, not to such text). No zone ids ("fe80::1%eth0").
  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(const std::array<std::uint8_t, 4>& bytes);
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);

  bool is_v6() const { return v6_; }
  // 4 bytes for IPv4, 16 for IPv6.
  const std::uint8_t* bytes() const { return bytes_.data(); }
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
  bool v6_ = false;
};

// A range: "10.0.0.0/8", "2001:db8::/32"; a bare address is a /32 or /128. IPv4 ranges match
// IPv4 addresses only (an IPv4-mapped IPv6 address is judged as its IPv4 address by the policy).
class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& ip) const;

 private:
  IpAddress base_;
  int prefix_ = 0;
};

class AddressPolicy {
 public:
  // Refuses every special-purpose address; allows nothing extra.
  AddressPolicy() = default;
  explicit AddressPolicy(std::vector<Cidr> allow) : allow_(std::move(allow)) {}
  // From `--outbound-allow` entries (already split at commas by the config layer; blank entries
  // are skipped). invalid_argument with field "outbound-allow" names the first bad entry.
  static Result<AddressPolicy> parse(const std::vector<std::string>& entries);

  bool allows(const IpAddress& ip) const;
  // False for text that is not a strict address (IpAddress::parse).
  bool allows(std::string_view ip_text) const;
  // Inside a range of the allow list (not merely a public address): where a protocol wants
  // https, plain http is accepted only for these (FetchRequest::https_only).
  bool allow_listed(const IpAddress& ip) const;

 private:
  std::vector<Cidr> allow_;
};

struct FetchLimits {
  // Redirects followed (each re-checked: scheme, URL, address); one more is unavailable.
  int max_redirects = 3;
  // For the whole fetch: DNS, connects, every hop, the whole body.
  std::chrono::milliseconds timeout{5000};
  std::size_t max_body_bytes = 1024 * 1024;
  // What a body over max_body_bytes does. fail (the default): the transfer is aborted and fetch
  // returns too_large, so nobody mistakes a cut body for a whole one. truncate: the transfer is
  // aborted and the first max_body_bytes come back with FetchResponse::truncated set (a preview
  // needs only the head of a page).
  enum class Overflow { fail, truncate } overflow = Overflow::fail;
};

struct FetchRequest {
  std::string method = "GET";  // "GET" or "POST"; anything else is invalid_argument
  std::string url;             // absolute http:// or https://, without userinfo
  // Sent as given on every hop to the same origin; Authorization, Cookie and
  // Proxy-Authorization are dropped when a redirect leaves the origin.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // POST only; dropped when a 301/302/303 turns it into a GET
  FetchLimits limits;
  std::string user_agent = "Parley";
  // For protocols that want https (Web Push): a plain http:// hop may connect only to an
  // address in the allow list; anywhere else it is permission_denied "address not allowed".
  bool https_only = false;
};

struct FetchResponse {
  int status = 0;            // of the last hop
  std::string content_type;  // as sent ("text/html; charset=utf-8"), empty when absent
  // The last hop's headers in order; names lowercased, values trimmed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string final_url;   // the URL that gave this answer, after redirects
  bool truncated = false;  // only with Overflow::truncate
};

class HttpFetcher {
 public:
  virtual ~HttpFetcher() = default;
  virtual Result<FetchResponse> fetch(const FetchRequest& request) = 0;
};

// The message of every refusal, so callers and tests can tell it from other permission errors.
inline constexpr std::string_view kAddressNotAllowed = "address not allowed";

}  // namespace parley::outbound
