// Single sign-on module: OpenID Connect sign-in with one or more providers (authorization code
// flow with PKCE S256, state and nonce), first-login provisioning and later linking by
// (issuer, subject).
//
// start() records a flow in the store (so any node can finish it) and returns the provider URL
// to send the browser to, plus a browser binding the caller hands the browser as a cookie;
// finish() takes the flow (once), checks the binding, redeems the code at the provider's token
// endpoint through the SSRF-hardened outbound client, verifies the ID token (signature against
// the provider's JWKS, iss, aud/azp, exp, iat, nonce), links or provisions the account and
// returns a one-time hand-off code; redeem() turns that code into the account id once. The
// caller (api/) turns the account into a session; this module never sees passwords or tokens
// of its own.
//
// Discovery documents and JWK Sets are fetched lazily and cached per provider; a token signed
// with an unknown kid makes the JWK Set be fetched again (key rotation), at most
// jwks_refetches_per_minute times a minute per provider.
//
// Blocking (store, outbound HTTP): call from worker threads. Thread-safe.
// Errors: not_found (unknown provider), unauthenticated (the sign-in is refused; Error::field
// says why: "state", "binding", "provider" (the provider answered with an error), "code" (the
// token endpoint refused the code), "signature", "iss", "aud", "azp", "exp", "iat", "nonce",
// "sub", "id_token" (missing or malformed)), unavailable (the provider could not be reached or
// answered nonsense), invalid_argument (a bad redirect URI or provider configuration).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "modules/outbound/outbound.h"
#include "modules/sso/store.h"
#include "modules/users/users.h"

namespace parley::sso {

struct ProviderConfig {
  std::string name;    // [a-z0-9-], 1-32: the {name} of the routes
  std::string issuer;  // exactly as the provider's discovery document states it
  std::string client_id;
  std::string client_secret;  // "" = a public client (PKCE only)
  std::string admin_group;    // a member of this group (groups claim) is an admin; "" = none
};

// "NAME=ISSUER_URL,CLIENT_ID[,CLIENT_SECRET]" (the --oidc flag); invalid_argument (field
// "oidc") naming what is wrong.
Result<ProviderConfig> parse_provider(std::string_view spec);

struct SsoOptions {
  std::vector<ProviderConfig> providers;
  std::string username_claim = "preferred_username";
  std::string groups_claim = "groups";
  std::string scopes = "openid profile email";
  Millis flow_ttl_ms = 10 * 60'000;
  Millis handoff_ttl_ms = 60'000;
  Millis clock_skew_ms = 60'000;
  Millis discovery_ttl_ms = 3'600'000;
  Millis jwks_ttl_ms = 24 * 3'600'000;
  int jwks_refetches_per_minute = 5;
};

struct ProviderInfo {
  std::string name;
  std::string display_name;  // the name with a capital letter: "Keycloak" for "keycloak"
};

struct StartedFlow {
  std::string authorize_url;
  std::string browser_binding;  // goes to the browser as an HttpOnly cookie, back at finish()
};

struct FinishRequest {
  std::string provider;
  std::string state;
  std::string code;
  std::string browser_binding;  // "" when the browser sent none
  std::string provider_error;   // the callback's "error" parameter, "" when none
};

struct SignedIn {
  std::string user_id;
  std::string handoff_code;  // good once, for handoff_ttl_ms
  bool provisioned = false;  // the account was made by this sign-in
  bool admin = false;        // the groups claim holds the provider's admin group
};

class SsoService {
 public:
  SsoService(SsoStore& store, users::UserService& users, outbound::HttpFetcher& fetcher,
             const Clock& clock, SsoOptions options);
  ~SsoService();

  std::vector<ProviderInfo> providers() const;
  bool has_provider(std::string_view name) const;
  // redirect_uri: this server's callback URL for the provider, sent to the provider and again
  // with the code.
  Result<StartedFlow> start(const std::string& provider, const std::string& redirect_uri);
  Result<SignedIn> finish(const FinishRequest& request);
  Result<std::string> redeem(const std::string& handoff_code);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::sso
