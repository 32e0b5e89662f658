#include "modules/sso/sso.h"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include "core/crypto.h"
#include "core/json.h"
#include "core/log.h"
#include "core/text.h"
#include "jwt.h"

namespace parley::sso {
namespace {

constexpr std::size_t kMaxDocumentBytes = 256 * 1024;
constexpr int kUsernameSuffixTries = 50;

bool valid_provider_name(std::string_view n) {
  if (n.empty() || n.size() > 32) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool http_url(std::string_view u) {
  return u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    out += text::percent_encoded(k) + "=" + text::percent_encoded(v);
  }
  return out;
}

std::string base64_std(std::string_view raw) {
  std::string s = base64url_encode(raw);
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4) s += '=';
  return s;
}

std::string random_token() { return base64url_encode(random_bytes(32)); }

std::optional<std::string> string_claim(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

// The groups claim as a list: an array of strings, or one string.
std::vector<std::string> groups_of(const boost::json::object& claims, std::string_view key) {
  std::vector<std::string> out;
  auto* v = claims.if_contains(key);
  if (!v) return out;
  if (v->is_string()) out.emplace_back(v->as_string());
  if (v->is_array())
    for (const auto& g : v->as_array())
      if (g.is_string()) out.emplace_back(g.as_string());
  return out;
}

// A username from a claim value: the part before '@' of an e-mail address, lower-cased, other
// characters than a-z 0-9 . _ - turned into '-', 3 to 32 characters.
std::string username_base(std::string raw) {
  if (auto at = raw.find('@'); at != std::string::npos) raw.resize(at);
  std::string out;
  for (char c : text::ascii_lower(raw)) {
    bool keep =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (keep)
      out += c;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > 32) out.resize(32);
  if (out.empty()) return "user";
  if (out.size() < 3) out += "-user";
  return out;
}

std::string with_suffix(const std::string& base, int n) {
  std::string suffix = "-" + std::to_string(n);
  return base.substr(0, std::min(base.size(), 32 - suffix.size())) + suffix;
}

struct Discovery {
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string jwks_uri;
  bool basic_auth = true;  // client_secret_basic, else client_secret_post
};

struct ProviderState {
  ProviderConfig cfg;
  std::mutex mu;  // held across the provider's fetches: one fetch per provider at a time
  std::optional<Discovery> discovery;
  Millis discovery_at = 0;
  std::vector<VerificationKey> keys;
  Millis keys_at = 0;
  bool keys_loaded = false;
  std::deque<Millis> refetches;  // unknown-kid refetches within the last minute
};

tl::unexpected<Error> refused(const char* why, std::string message) {
  return fail(Errc::unauthenticated, std::move(message), why);
}

}  // namespace

Result<ProviderConfig> parse_provider(std::string_view spec) {
  auto bad = [&](const std::string& why) {
    return fail(Errc::invalid_argument,
                "oidc: " + why + " (expected NAME=ISSUER_URL,CLIENT_ID[,CLIENT_SECRET])", "oidc");
  };
  auto eq = spec.find('=');
  if (eq == std::string_view::npos) return bad("no NAME=");
  ProviderConfig p;
  p.name = std::string(text::trim(spec.substr(0, eq)));
  if (!valid_provider_name(p.name)) return bad("NAME must be 1-32 of a-z 0-9 -");
  std::vector<std::string> parts;
  std::string_view rest = spec.substr(eq + 1);
  while (true) {
    auto comma = rest.find(',');
    parts.emplace_back(text::trim(rest.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (parts.size() < 2 || parts.size() > 3) return bad("wrong number of fields");
  p.issuer = parts[0];
  p.client_id = parts[1];
  if (parts.size() == 3) p.client_secret = parts[2];
  if (!http_url(p.issuer) || p.issuer.find_first_of("?#") != std::string::npos)
    return bad("ISSUER_URL must be an http(s) URL without query or fragment");
  if (p.client_id.empty()) return bad("empty CLIENT_ID");
  return p;
}

struct SsoService::Impl {
  SsoStore& store;
  users::UserService& users;
  outbound::HttpFetcher& fetcher;
  const Clock& clock;
  SsoOptions opts;
  std::map<std::string, std::unique_ptr<ProviderState>, std::less<>> providers;

  Impl(SsoStore& s, users::UserService& u, outbound::HttpFetcher& f, const Clock& c, SsoOptions o)
      : store(s), users(u), fetcher(f), clock(c), opts(std::move(o)) {
    for (const auto& p : opts.providers) {
      auto st = std::make_unique<ProviderState>();
      st->cfg = p;
      providers.emplace(p.name, std::move(st));
    }
  }

  ProviderState* find(std::string_view name) {
    auto it = providers.find(name);
    return it == providers.end() ? nullptr : it->second.get();
  }

  Result<outbound::FetchResponse> get_json(const std::string& url, const char* what) {
    outbound::FetchRequest req;
    req.url = url;
    req.headers = {{"Accept", "application/json"}};
    req.limits.max_body_bytes = kMaxDocumentBytes;
    auto r = fetcher.fetch(req);
    if (!r) return fail(Errc::unavailable, std::string(what) + ": " + r.error().message);
    if (r->status != 200)
      return fail(Errc::unavailable, std::string(what) + ": HTTP " + std::to_string(r->status));
    return r;
  }

  // Under p.mu.
  Result<Discovery> discovery(ProviderState& p) {
    Millis now = clock.now_ms();
    if (p.discovery && now - p.discovery_at < opts.discovery_ttl_ms) return *p.discovery;
    std::string base = p.cfg.issuer;
    while (!base.empty() && base.back() == '/') base.pop_back();
    auto r = get_json(base + "/.well-known/openid-configuration", "discovery");
    if (!r) {
      if (p.discovery) return *p.discovery;  // a stale document beats none
      return fail(r.error());
    }
    auto doc = json::parse_object(r->body);
    if (!doc) return fail(Errc::unavailable, "discovery: not a JSON object");
    // OIDC Discovery 4.3: the document must name exactly the issuer it was fetched for.
    if (string_claim(*doc, "issuer").value_or("") != p.cfg.issuer)
      return fail(Errc::unavailable, "discovery: issuer differs from the configured one");
    Discovery d;
    d.authorization_endpoint = string_claim(*doc, "authorization_endpoint").value_or("");
    d.token_endpoint = string_claim(*doc, "token_endpoint").value_or("");
    d.jwks_uri = string_claim(*doc, "jwks_uri").value_or("");
    if (!http_url(d.authorization_endpoint) || !http_url(d.token_endpoint) || !http_url(d.jwks_uri))
      return fail(Errc::unavailable, "discovery: endpoints missing");
    if (auto* methods = doc->if_contains("token_endpoint_auth_methods_supported");
        methods && methods->is_array()) {
      bool basic = false, post = false;
      for (const auto& m : methods->as_array()) {
        if (m == "client_secret_basic") basic = true;
        if (m == "client_secret_post") post = true;
      }
      d.basic_auth = basic || !post;
    }
    p.discovery = d;
    p.discovery_at = now;
    return d;
  }

  // Under p.mu.
  Result<void> load_keys(ProviderState& p, const Discovery& d) {
    auto r = get_json(d.jwks_uri, "JWKS");
    if (!r) return fail(r.error());
    auto keys = parse_jwks(r->body);
    if (!keys) return fail(Errc::unavailable, "JWKS: " + keys.error().message);
    p.keys = std::move(*keys);
    p.keys_at = clock.now_ms();
    p.keys_loaded = true;
    return ok();
  }

  // The key that checks jws: from the cache, or after fetching the JWK Set again when the
  // token names a key the cache does not hold (rotation), within the refetch budget.
  Result<VerificationKey> key_for(ProviderState& p, const Discovery& d, const CompactJws& jws) {
    std::lock_guard lock(p.mu);
    Millis now = clock.now_ms();
    if (!p.keys_loaded || now - p.keys_at >= opts.jwks_ttl_ms) {
      if (auto r = load_keys(p, d); !r && !p.keys_loaded) return fail(r.error());
    }
    if (auto* k = select_key(p.keys, jws)) return *k;
    while (!p.refetches.empty() && now - p.refetches.front() >= 60'000) p.refetches.pop_front();
    if (static_cast<int>(p.refetches.size()) >= opts.jwks_refetches_per_minute)
      return refused("signature", "ID token signed with an unknown key");
    p.refetches.push_back(now);
    if (auto r = load_keys(p, d); !r) return fail(r.error());
    if (auto* k = select_key(p.keys, jws)) return *k;
    return refused("signature", "ID token signed with an unknown key");
  }

  Result<std::string> redeem_code(ProviderState& p, const Discovery& d, const FlowRecord& flow,
                                  const std::string& code) {
    outbound::FetchRequest req;
    req.method = "POST";
    req.url = d.token_endpoint;
    req.limits.max_body_bytes = kMaxDocumentBytes;
    req.limits.max_redirects = 0;  // a token endpoint that redirects is not one we post to
    std::vector<std::pair<std::string, std::string>> fields = {{"grant_type", "authorization_code"},
                                                               {"code", code},
                                                               {"redirect_uri", flow.redirect_uri},
                                                               {"code_verifier", flow.verifier}};
    req.headers = {{"Accept", "application/json"},
                   {"Content-Type", "application/x-www-form-urlencoded"}};
    if (p.cfg.client_secret.empty()) {
      fields.emplace_back("client_id", p.cfg.client_id);
    } else if (d.basic_auth) {
      // RFC 6749 2.3.1: both halves form-encoded before base64.
      req.headers.emplace_back("Authorization",
                               "Basic " + base64_std(text::percent_encoded(p.cfg.client_id) + ":" +
                                                     text::percent_encoded(p.cfg.client_secret)));
    } else {
      fields.emplace_back("client_id", p.cfg.client_id);
      fields.emplace_back("client_secret", p.cfg.client_secret);
    }
    req.body = form(fields);
    auto r = fetcher.fetch(req);
    if (!r) return fail(Errc::unavailable, "token endpoint: " + r.error().message);
    auto doc = json::parse_object(r->body);
    if (r->status == 400 || r->status == 401) {
      std::string err = doc ? string_claim(*doc, "error").value_or("") : "";
      log::info("oidc code refused by the provider",
                {{"provider", p.cfg.name}, {"status", r->status}, {"error", err}});
      return refused("code", "the provider refused the authorization code");
    }
    if (r->status != 200 || !doc)
      return fail(Errc::unavailable, "token endpoint: HTTP " + std::to_string(r->status));
    auto id_token = string_claim(*doc, "id_token");
    if (!id_token) return refused("id_token", "the provider sent no ID token");
    return *id_token;
  }

  Result<users::User> provision(const boost::json::object& claims) {
    std::string raw = string_claim(claims, opts.username_claim)
                          .value_or(string_claim(claims, "email").value_or(""));
    std::string base = username_base(raw);
    std::optional<std::string> display = string_claim(claims, "name");
    if (display && (display->empty() || display->size() > 64)) display.reset();
    std::optional<std::string> email;
    auto* verified = claims.if_contains("email_verified");
    if (!(verified && verified->is_bool() && !verified->as_bool()))
      email = string_claim(claims, "email");
    for (int n = 1; n <= kUsernameSuffixTries + 1; ++n) {
      std::string name = n == 1 ? base
                         : n <= kUsernameSuffixTries
                             ? with_suffix(base, n)
                             : with_suffix(base, static_cast<int>(random_u64() % 1'000'000));
      auto u = users.create({name, display, email});
      if (u) return u;
      if (u.error().code == Errc::already_exists) continue;
      if (u.error().code == Errc::invalid_argument && u.error().field != "username" &&
          (display || email)) {
        // A display name or address the profile rules refuse: the account without them.
        display.reset();
        email.reset();
        --n;
        continue;
      }
      return fail(u.error());
    }
    return fail(Errc::already_exists, "no free username for this identity");
  }

  // The account linked to the identity, or a new one linked to it.
  Result<std::pair<users::User, bool>> account_for(const std::string& issuer,
                                                   const boost::json::object& claims) {
    std::string sub = string_claim(claims, "sub").value_or("");
    auto link = store.find_link(issuer, sub);
    if (!link) return fail(link.error());
    if (*link) {
      auto u = users.get((*link)->user_id);
      if (!u) return fail(u.error());
      return std::pair{*u, false};
    }
    auto u = provision(claims);
    if (!u) return fail(u.error());
    auto made = store.create_link({issuer, sub, u->id, clock.now_ms()});
    if (made) return std::pair{*u, true};
    (void)users.remove(u->id);
    if (made.error().code != Errc::already_exists) return fail(made.error());
    // Another node linked this identity first (two first sign-ins at once): use its account.
    auto again = store.find_link(issuer, sub);
    if (!again) return fail(again.error());
    if (!*again) return fail(Errc::unavailable, "identity link vanished; try again");
    auto other = users.get((*again)->user_id);
    if (!other) return fail(other.error());
    return std::pair{*other, false};
  }
};

SsoService::SsoService(SsoStore& store, users::UserService& users, outbound::HttpFetcher& fetcher,
                       const Clock& clock, SsoOptions options)
    : impl_(std::make_unique<Impl>(store, users, fetcher, clock, std::move(options))) {}

SsoService::~SsoService() = default;

std::vector<ProviderInfo> SsoService::providers() const {
  std::vector<ProviderInfo> out;
  for (const auto& p : impl_->opts.providers) {
    std::string display = p.name;
    if (!display.empty() && display[0] >= 'a' && display[0] <= 'z') display[0] -= 'a' - 'A';
    out.push_back({p.name, display});
  }
  return out;
}

bool SsoService::has_provider(std::string_view name) const {
  return impl_->providers.find(name) != impl_->providers.end();
}

Result<StartedFlow> SsoService::start(const std::string& provider,
                                      const std::string& redirect_uri) {
  auto& s = *impl_;
  auto* p = s.find(provider);
  if (!p) return fail(Errc::not_found, "no such sign-in provider");
  if (!http_url(redirect_uri))
    return fail(Errc::invalid_argument, "redirect URI must be http(s)", "redirect_uri");
  Result<Discovery> d = [&] {
    std::lock_guard lock(p->mu);
    return s.discovery(*p);
  }();
  if (!d) return fail(d.error());
  Millis now = s.clock.now_ms();
  std::string state = random_token(), nonce = random_token(), verifier = random_token();
  StartedFlow out;
  out.browser_binding = random_token();
  auto put = s.store.put_flow({sha256(state), p->cfg.name, nonce, verifier, redirect_uri,
                               sha256(out.browser_binding), now + s.opts.flow_ttl_ms},
                              now);
  if (!put) return fail(put.error());
  out.authorize_url = d->authorization_endpoint +
                      (d->authorization_endpoint.find('?') == std::string::npos ? "?" : "&") +
                      form({{"response_type", "code"},
                            {"client_id", p->cfg.client_id},
                            {"redirect_uri", redirect_uri},
                            {"scope", s.opts.scopes},
                            {"state", state},
                            {"nonce", nonce},
                            {"code_challenge", base64url_encode(sha256(verifier))},
                            {"code_challenge_method", "S256"}});
  return out;
}

Result<SignedIn> SsoService::finish(const FinishRequest& r) {
  auto& s = *impl_;
  auto* p = s.find(r.provider);
  if (!p) return fail(Errc::not_found, "no such sign-in provider");
  Millis now = s.clock.now_ms();
  // The state is spent whatever happens next: a replay finds nothing.
  auto flow = r.state.empty() ? Result<std::optional<FlowRecord>>(std::nullopt)
                              : s.store.take_flow(sha256(r.state), now);
  if (!flow) return fail(flow.error());
  if (!*flow || (*flow)->provider != p->cfg.name)
    return refused("state", "unknown, used or expired sign-in state");
  const FlowRecord& f = **flow;
  if (r.browser_binding.empty() || !constant_time_equal(sha256(r.browser_binding), f.binding_hash))
    return refused("binding", "this sign-in was started in another browser");
  if (!r.provider_error.empty())
    return refused("provider", "the provider did not sign you in (" + r.provider_error + ")");
  if (r.code.empty()) return refused("code", "no authorization code");

  Result<Discovery> d = [&] {
    std::lock_guard lock(p->mu);
    return s.discovery(*p);
  }();
  if (!d) return fail(d.error());
  auto id_token = s.redeem_code(*p, *d, f, r.code);
  if (!id_token) return fail(id_token.error());
  auto jws = parse_jws(*id_token);
  if (!jws) return refused("id_token", "malformed ID token: " + jws.error().message);
  if (jws->alg != "RS256" && jws->alg != "ES256")
    return refused("signature", "ID token algorithm " + jws->alg.substr(0, 16) + " not accepted");
  auto key = s.key_for(*p, *d, *jws);
  if (!key) return fail(key.error());
  if (!key->verify(jws->alg, jws->signing_input, jws->signature))
    return refused("signature", "ID token signature does not verify");
  IdTokenExpectations expect{p->cfg.issuer, p->cfg.client_id, f.nonce, s.clock.now_ms(),
                             s.opts.clock_skew_ms};
  if (auto c = check_id_token_claims(jws->payload, expect); !c) return fail(c.error());

  auto account = s.account_for(p->cfg.issuer, jws->payload);
  if (!account) return fail(account.error());
  SignedIn out;
  out.user_id = account->first.id;
  out.provisioned = account->second;
  if (!p->cfg.admin_group.empty()) {
    auto groups = groups_of(jws->payload, s.opts.groups_claim);
    out.admin = std::find(groups.begin(), groups.end(), p->cfg.admin_group) != groups.end();
  }
  out.handoff_code = random_token();
  if (auto h = s.store.put_handoff(sha256(out.handoff_code), out.user_id,
                                   now + s.opts.handoff_ttl_ms, now);
      !h)
    return fail(h.error());
  log::info(
      "oidc sign-in",
      {{"provider", p->cfg.name}, {"user_id", out.user_id}, {"provisioned", out.provisioned}});
  return out;
}

Result<std::string> SsoService::redeem(const std::string& handoff_code) {
  auto& s = *impl_;
  if (handoff_code.empty() || handoff_code.size() > 128)
    return fail(Errc::unauthenticated, "no sign-in to finish");
  auto user = s.store.take_handoff(sha256(handoff_code), s.clock.now_ms());
  if (!user) return fail(user.error());
  if (!*user) return fail(Errc::unauthenticated, "unknown, used or expired sign-in code");
  return **user;
}

}  // namespace parley::sso
