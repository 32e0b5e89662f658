#include "adapters/curl/curl_fetcher.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "core/log.h"
#include "core/text.h"

namespace parley::curl {
namespace {

using outbound::FetchLimits;
using outbound::FetchRequest;
using outbound::FetchResponse;
using outbound::IpAddress;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxUrlBytes = 8192;
// A server that sends headers without end must not grow memory until the timeout.
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;
using List = std::unique_ptr<curl_slist, ListDeleter>;

// curl_slist_append returns the list's head, or null (and leaves the list alone) when out of
// memory.
void append(List& list, const std::string& line) {
  if (curl_slist* head = curl_slist_append(list.get(), line.c_str())) {
    (void)list.release();
    list.reset(head);
  }
}

struct CurlString {
  char* p = nullptr;
  ~CurlString() { curl_free(p); }
};

// Where a URL points: what decides "same origin" for the headers that must not follow a
// redirect elsewhere.
struct Origin {
  std::string scheme, host, port;
  bool operator==(const Origin&) const = default;
};

// Parses url with libcurl's own parser (the same one the transfer uses, so the check and the
// request cannot disagree about the host) and refuses what this client never fetches.
Result<Origin> check_url(const std::string& url) {
  if (url.size() > kMaxUrlBytes) return fail(Errc::invalid_argument, "URL too long", "url");
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u) return fail(Errc::internal, "out of memory");
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
    return fail(Errc::invalid_argument, "malformed URL", "url");
  Origin o;
  {
    CurlString s;
    if (curl_url_get(u.get(), CURLUPART_SCHEME, &s.p, 0) != CURLUE_OK) s.p = nullptr;
    o.scheme = s.p ? s.p : "";
  }
  if (o.scheme != "http" && o.scheme != "https")
    return fail(Errc::invalid_argument, "only http and https URLs are fetched", "url");
  for (auto part : {CURLUPART_USER, CURLUPART_PASSWORD, CURLUPART_OPTIONS}) {
    CurlString s;
    if (curl_url_get(u.get(), part, &s.p, 0) == CURLUE_OK)
      return fail(Errc::invalid_argument, "credentials in URLs are not sent", "url");
  }
  {
    CurlString s;
    if (curl_url_get(u.get(), CURLUPART_HOST, &s.p, 0) != CURLUE_OK || !s.p || !*s.p)
      return fail(Errc::invalid_argument, "URL without a host", "url");
    o.host = text::ascii_lower(s.p);
  }
  {
    CurlString s;
    if (curl_url_get(u.get(), CURLUPART_PORT, &s.p, CURLU_DEFAULT_PORT) == CURLUE_OK && s.p)
      o.port = s.p;
  }
  return o;
}

bool header_value_safe(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

bool is_credential_header(std::string_view name) {
  auto n = text::ascii_lower(name);
  return n == "authorization" || n == "cookie" || n == "proxy-authorization";
}

// What one hop's callbacks share with the code that judges its outcome.
struct Hop {
  const outbound::AddressPolicy* policy = nullptr;
  const FetchLimits* limits = nullptr;
  bool allow_list_only = false;  // a plain http hop of an https_only request
  int refused = 0;               // connections the policy stopped
  int allowed = 0;               // connections it let through
  bool body_overflow = false;
  bool header_overflow = false;
  std::size_t header_bytes = 0;
  FetchResponse response;
};

std::optional<IpAddress> address_of(const curl_sockaddr* a) {
  if (a->family == AF_INET && a->addrlen >= sizeof(sockaddr_in)) {
    sockaddr_in sin;
    std::memcpy(&sin, &a->addr, sizeof sin);
    std::array<std::uint8_t, 4> b;
    std::memcpy(b.data(), &sin.sin_addr, 4);
    return IpAddress::v4(b);
  }
  if (a->family == AF_INET6 && a->addrlen >= sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &a->addr, sizeof sin6);
    std::array<std::uint8_t, 16> b;
    std::memcpy(b.data(), &sin6.sin6_addr, 16);
    return IpAddress::v6(b);
  }
  return std::nullopt;  // AF_UNIX and anything else: never
}

// libcurl calls this for every socket it is about to connect, with the resolved address: the
// one place a check cannot be raced by a second DNS answer, and it runs for every connection
// attempt (each address of a name, each hop) because this client never reuses a handle.
curl_socket_t open_socket(void* clientp, curlsocktype purpose, curl_sockaddr* address) {
  auto* hop = static_cast<Hop*>(clientp);
  auto ip = address_of(address);
  if (purpose != CURLSOCKTYPE_IPCXN || !ip || !hop->policy->allows(*ip) ||
      (hop->allow_list_only && !hop->policy->allow_listed(*ip))) {
    // Debug only: users choose these URLs, so refusals can be as frequent as they like.
    if (ip) log::debug("outbound connection refused", {{"address", ip->to_string()}});
    ++hop->refused;
    return CURL_SOCKET_BAD;
  }
  ++hop->allowed;
  return socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* userdata) {
  auto* hop = static_cast<Hop*>(userdata);
  std::size_t n = size * count;
  auto& body = hop->response.body;
  std::size_t room = hop->limits->max_body_bytes - body.size();
  if (n > room) {
    // Returning less than n aborts the transfer (CURLE_WRITE_ERROR): nothing more is read.
    body.append(data, room);
    hop->body_overflow = true;
    return 0;
  }
  body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* userdata) {
  auto* hop = static_cast<Hop*>(userdata);
  std::size_t n = size * count;
  hop->header_bytes += n;
  if (hop->header_bytes > kMaxHeaderBytes) {
    hop->header_overflow = true;
    return 0;
  }
  std::string_view line(data, n);
  // A status line starts a new header block (after a 100 Continue, say): keep the last one.
  if (line.starts_with("HTTP/")) {
    hop->response.headers.clear();
    return n;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  hop->response.headers.emplace_back(text::ascii_lower(text::trim(line.substr(0, colon))),
                                     std::string(text::trim(line.substr(colon + 1))));
  return n;
}

struct HopOutcome {
  FetchResponse response;
  std::string redirect_url;  // set when the answer is a redirect with a Location
};

class CurlFetcher final : public outbound::HttpFetcher {
 public:
  explicit CurlFetcher(CurlFetcherOptions options) : options_(std::move(options)) {
    for (const auto& r : options_.resolve)
      resolve_lines_.push_back(
          r.host + ":" + std::to_string(r.port) + ":" +
          (r.address.find(':') != std::string::npos ? "[" + r.address + "]" : r.address));
  }

  Result<FetchResponse> fetch(const FetchRequest& request) override {
    if (request.method != "GET" && request.method != "POST")
      return fail(Errc::invalid_argument, "method must be GET or POST", "method");
    for (const auto& [name, value] : request.headers)
      if (name.empty() || name.find(':') != std::string::npos || !header_value_safe(name) ||
          !header_value_safe(value))
        return fail(Errc::invalid_argument, "malformed request header", "headers");
    if (!header_value_safe(request.user_agent))
      return fail(Errc::invalid_argument, "malformed user agent", "user_agent");

    const auto deadline = Clock::now() + request.limits.timeout;
    std::string url = request.url;
    std::string method = request.method;
    std::string body = request.body;
    bool keep_credentials = true;
    std::optional<Origin> first;
    for (int redirects = 0;; ++redirects) {
      auto origin = check_url(url);
      if (!origin) return fail(origin.error());
      if (!first) first = *origin;
      // Like browsers and curl itself: credentials meant for one origin never follow a redirect
      // to another, even if it redirects back later.
      if (*origin != *first) keep_credentials = false;
      bool allow_list_only = request.https_only && origin->scheme == "http";
      auto hop = perform(url, method, body, request, keep_credentials, allow_list_only, deadline);
      if (!hop) return fail(hop.error());
      if (hop->redirect_url.empty()) return std::move(hop->response);
      if (redirects >= request.limits.max_redirects)
        return fail(Errc::unavailable,
                    "more than " + std::to_string(request.limits.max_redirects) + " redirects");
      int status = hop->response.status;
      if (status == 303 || ((status == 301 || status == 302) && method == "POST")) {
        method = "GET";
        body.clear();
      }
      url = std::move(hop->redirect_url);
    }
  }

 private:
  Result<HopOutcome> perform(const std::string& url, const std::string& method,
                             const std::string& body, const FetchRequest& request,
                             bool keep_credentials, bool allow_list_only,
                             Clock::time_point deadline) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return fail(Errc::unavailable, "timed out");

    Easy easy(curl_easy_init());
    if (!easy) return fail(Errc::internal, "curl_easy_init failed");
    CURL* h = easy.get();
    Hop hop;
    hop.policy = &options_.policy;
    hop.limits = &request.limits;
    hop.allow_list_only = allow_list_only;
    char error[CURL_ERROR_SIZE] = {};
    // Fail closed: a libcurl that refuses one of these options (too old for
    // CURLOPT_PROTOCOLS_STR, say) must not fetch without it.
    CURLcode setup = CURLE_OK;
    auto set = [&](CURLoption opt, auto value) {
      if (setup == CURLE_OK) setup = curl_easy_setopt(h, opt, value);
    };

    set(CURLOPT_URL, url.c_str());
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set(CURLOPT_FOLLOWLOCATION, 0L);
    set(CURLOPT_NOSIGNAL, 1L);  // no SIGALRM for DNS timeouts: other threads run here
    set(CURLOPT_PROXY, "");     // "" also ignores http_proxy and friends in the environment
    set(CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
    set(CURLOPT_OPENSOCKETFUNCTION, &open_socket);
    set(CURLOPT_OPENSOCKETDATA, &hop);
    set(CURLOPT_WRITEFUNCTION, &on_body);
    set(CURLOPT_WRITEDATA, &hop);
    set(CURLOPT_HEADERFUNCTION, &on_header);
    set(CURLOPT_HEADERDATA, &hop);
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(left.count()));
    set(CURLOPT_ERRORBUFFER, error);
    set(CURLOPT_USERAGENT, request.user_agent.c_str());

    List headers;
    for (const auto& [name, value] : request.headers) {
      if (!keep_credentials && is_credential_header(name)) continue;
      // "Name;" is libcurl's spelling of a header with an empty value ("Name:" removes one).
      append(headers, value.empty() ? name + ";" : name + ": " + value);
    }
    if (method == "POST") {
      append(headers, "Expect:");  // no 100-continue round trip
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      set(CURLOPT_POSTFIELDS, body.data());
    } else {
      set(CURLOPT_HTTPGET, 1L);
    }
    set(CURLOPT_HTTPHEADER, headers.get());

    List resolve;
    for (const auto& line : resolve_lines_) append(resolve, line);
    if (resolve) set(CURLOPT_RESOLVE, resolve.get());

    if (setup != CURLE_OK)
      return fail(Errc::internal, std::string("libcurl setup: ") + curl_easy_strerror(setup));

    CURLcode rc = curl_easy_perform(h);
    if (hop.refused > 0 && hop.allowed == 0)
      return fail(Errc::permission_denied, std::string(outbound::kAddressNotAllowed));
    if (hop.body_overflow) {
      if (request.limits.overflow == FetchLimits::Overflow::fail)
        return fail(Errc::too_large, "response body over " +
                                         std::to_string(request.limits.max_body_bytes) + " bytes");
      hop.response.truncated = true;
    } else if (hop.header_overflow) {
      return fail(Errc::too_large, "response headers too large");
    } else if (rc != CURLE_OK) {
      return fail(Errc::unavailable, rc == CURLE_OPERATION_TIMEDOUT ? std::string("timed out")
                                     : *error                       ? std::string(error)
                                              : std::string(curl_easy_strerror(rc)));
    }

    HopOutcome out;
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    hop.response.status = static_cast<int>(status);
    char* content_type = nullptr;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type)
      hop.response.content_type = content_type;
    char* effective = nullptr;
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective);
    hop.response.final_url = effective ? effective : url;
    char* location = nullptr;
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      if (curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &location) == CURLE_OK && location)
        out.redirect_url = location;
    }
    out.response = std::move(hop.response);
    return out;
  }

  const CurlFetcherOptions options_;
  std::vector<std::string> resolve_lines_;
};

}  // namespace

std::unique_ptr<outbound::HttpFetcher> make_curl_fetcher(CurlFetcherOptions options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  return std::make_unique<CurlFetcher>(std::move(options));
}

}  // namespace parley::curl
