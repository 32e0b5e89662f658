// Single sign-on with OpenID Connect against real providers on loopback: oidc-provider (a
// certified implementation, tools/oidc-provider) driven through its sign-in page as a browser
// would (cookies, redirects, the form), and a forging issuer beside it that issues the ID
// tokens a test orders (bad signature, wrong audience, expired, wrong nonce, ...). Both are
// started by scripts/oidc-provider.sh; the tests skip, with a line, where node is not installed.
#include <unistd.h>

#include <boost/algorithm/string/predicate.hpp>
#include <filesystem>
#include <functional>
#include <map>

#include "core/crypto.h"
#include "core/json.h"
#include "harness.h"

namespace parley::itest {
namespace {

const std::string kScript = std::string(PARLEY_SOURCE_DIR) + "/scripts/oidc-provider.sh";

struct ProviderEnv {
  std::string dir;
  std::string issuer;
  std::string forge_issuer;
  std::string client_id;
  std::string secret;
  std::string skip;  // why the tests skip; "" when the provider runs
};

ProviderEnv& provider_env() {
  static ProviderEnv env = [] {
    ProviderEnv e;
    e.dir = (std::filesystem::temp_directory_path() /
             ("parley-oidc-itest-" + std::to_string(::getpid())))
                .string();
    auto out = [&](const std::string& cmd, int* status) {
      std::string text;
      FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
      char buf[512];
      while (p && std::fgets(buf, sizeof buf, p)) text += buf;
      *status = p ? ::pclose(p) : -1;
      return text;
    };
    int status = 0;
    std::string started = out(kScript + " start " + e.dir, &status);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
      e.skip = "node/npm are not installed: OIDC tests skipped (" + started + ")";
      return e;
    }
    if (status != 0) throw std::runtime_error("oidc-provider.sh start failed: " + started);
    std::string env = out(kScript + " env " + e.dir, &status);
    auto value = [&](const std::string& name) {
      auto at = env.find("export " + name + "='");
      if (at == std::string::npos) throw std::runtime_error("no " + name + " in: " + env);
      at += name.size() + 9;
      return env.substr(at, env.find('\'', at) - at);
    };
    e.issuer = value("PARLEY_TEST_OIDC_ISSUER");
    e.forge_issuer = value("PARLEY_TEST_OIDC_FORGE_ISSUER");
    e.client_id = value("PARLEY_TEST_OIDC_CLIENT_ID");
    e.secret = value("PARLEY_TEST_OIDC_CLIENT_SECRET");
    return e;
  }();
  return env;
}

// Stops the provider when the test program ends.
struct ProviderStopper {
  ~ProviderStopper() {
    auto& e = provider_env();
    if (e.skip.empty())
      (void)std::system((kScript + " stop " + e.dir + " >/dev/null 2>&1").c_str());
  }
};

// ---- URLs and cookies, as a browser handles them ----

struct Url {
  std::uint16_t port = 0;
  std::string target;  // path and query
};

Url parse_url(const std::string& url) {
  const std::string prefix = "http://127.0.0.1:";
  if (url.rfind(prefix, 0) != 0) throw std::runtime_error("not a loopback URL: " + url);
  auto slash = url.find('/', prefix.size());
  Url u;
  u.port = static_cast<std::uint16_t>(std::stoi(url.substr(prefix.size(), slash - prefix.size())));
  u.target = slash == std::string::npos ? "/" : url.substr(slash);
  return u;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::string percent_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string query_param(const std::string& url, const std::string& name) {
  auto q = url.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return "";
}

// One browser: a cookie jar per port (paths ignored: every request here is to the path the
// cookie was meant for), and every redirect's Location recorded.
class Browser {
 public:
  Reply request(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = {}, const std::string& content_type = {}) {
    Api api(port);
    std::vector<net::Header> headers = {{"Host", "127.0.0.1:" + std::to_string(port)}};
    std::string cookies;
    for (const auto& [k, v] : jar_[port]) cookies += (cookies.empty() ? "" : "; ") + k + "=" + v;
    if (!cookies.empty()) headers.push_back({"Cookie", cookies});
    if (!content_type.empty()) headers.push_back({"Content-Type", content_type});
    auto r = api.call(method, target, body, {}, headers);
    for (const auto& h : r.headers) {
      if (!boost::iequals(h.name, "set-cookie")) continue;
      auto eq = h.value.find('=');
      auto semi = h.value.find(';');
      std::string name = h.value.substr(0, eq);
      std::string value = h.value.substr(eq + 1, semi - eq - 1);
      if (h.value.find("Max-Age=0") != std::string::npos ||
          h.value.find("expires=Thu, 01 Jan 1970") != std::string::npos)
        jar_[port].erase(name);
      else
        jar_[port][name] = value;
    }
    if (r.has_header("Location")) locations.push_back(r.header("Location"));
    return r;
  }
  std::string cookie(std::uint16_t port, const std::string& name) {
    auto it = jar_[port].find(name);
    return it == jar_[port].end() ? "" : it->second;
  }
  void set_cookie(std::uint16_t port, const std::string& name, const std::string& value) {
    jar_[port][name] = value;
  }
  std::vector<std::string> locations;

 private:
  std::map<std::uint16_t, std::map<std::string, std::string>> jar_;
};

std::string absolute(const std::string& location, std::uint16_t port) {
  if (location.rfind("http", 0) == 0) return location;
  return "http://127.0.0.1:" + std::to_string(port) + location;
}

// ---- the fixture ----

class Oidc : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    auto& e = provider_env();
    static ProviderStopper stopper;  // after provider_env(): destroyed before it
    if (!e.skip.empty()) return;
    server_ = std::make_unique<ServerProcess>(server_args({}));
    start_error_ = server_->start();
  }
  static void TearDownTestSuite() { server_.reset(); }

  // --oidc for the real provider ("test"), the forging issuer ("forge", and "forge2" with its
  // own key cache for the rate-limit test) and one nobody answers ("down").
  static std::vector<std::string> server_args(std::vector<std::string> extra,
                                              bool allow_loopback = true) {
    auto& e = provider_env();
    std::string creds = "," + e.client_id + "," + e.secret;
    std::vector<std::string> args = {"--rate-limits",
                                     kGenerousLimits,
                                     "--oidc",
                                     "test=" + e.issuer + creds,
                                     "--oidc",
                                     "forge=" + e.forge_issuer + creds,
                                     "--oidc",
                                     "forge2=" + e.forge_issuer + creds,
                                     "--oidc",
                                     "down=http://127.0.0.1:1" + creds,
                                     "--oidc-admin-group",
                                     "test=admins"};
    if (allow_loopback) {
      args.push_back("--outbound-allow");
      args.push_back("127.0.0.1/32");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

 protected:
  void SetUp() override {
    auto& e = provider_env();
    if (!e.skip.empty()) GTEST_SKIP() << e.skip;
    ASSERT_TRUE(server_ && start_error_.empty()) << "server did not start: " << start_error_;
  }
  static std::uint16_t port() { return server_->port(); }

  // /start in the browser: the provider URL it redirects to.
  static std::string start(Browser& b, const std::string& provider, std::uint16_t at = 0) {
    auto r = b.request(at ? at : port(), "GET", "/api/v1/auth/oidc/" + provider + "/start");
    if (r.status != 302)
      throw std::runtime_error("start: " + std::to_string(r.status) + " " + r.body);
    return r.header("Location");
  }

  // Signs in at oidc-provider's page as login; the callback URL it sends the browser to.
  static std::string provider_login(Browser& b, const std::string& authorize_url,
                                    const std::string& login) {
    auto issuer = parse_url(provider_env().issuer);
    auto a = b.request(issuer.port, "GET", parse_url(authorize_url).target);
    if (a.status != 303) throw std::runtime_error("authorize: " + a.body);
    auto interaction = parse_url(absolute(a.header("Location"), issuer.port));
    auto page = b.request(issuer.port, "GET", interaction.target);
    if (page.body.find("name=\"login\"") == std::string::npos)
      throw std::runtime_error("no sign-in form: " + page.body);
    auto submit = b.request(issuer.port, "POST", interaction.target,
                            "prompt=login&login=" + percent_encode(login) + "&password=any",
                            "application/x-www-form-urlencoded");
    if (submit.status != 303) throw std::runtime_error("submit: " + submit.body);
    auto resume = b.request(issuer.port, "GET",
                            parse_url(absolute(submit.header("Location"), issuer.port)).target);
    if (resume.status != 303) throw std::runtime_error("resume: " + resume.body);
    return resume.header("Location");
  }

  // The callback in the browser: where Parley sends it next.
  static Reply callback(Browser& b, const std::string& callback_url, std::uint16_t at = 0) {
    return b.request(at ? at : port(), "GET", parse_url(callback_url).target);
  }

  static Reply exchange(Browser& b, std::uint16_t at = 0) {
    return b.request(at ? at : port(), "POST", "/api/v1/auth/oidc/exchange",
                     R"({"device_name": "sso browser"})");
  }

  // The whole sign-in through oidc-provider; the exchange's answer.
  static Reply sign_in(Browser& b, const std::string& login, std::uint16_t at = 0) {
    auto cb = provider_login(b, start(b, "test", at), login);
    auto done = callback(b, cb, at);
    if (done.status != 303 || done.header("Location") != "/?sso=done")
      throw std::runtime_error("callback: " + done.header("Location"));
    return exchange(b, at);
  }

  // A forging-issuer sign-in: the code orders the ID token (mode) for this flow's nonce and
  // PKCE challenge. The callback's answer.
  static Reply forged(Browser& b, const std::string& mode, const std::string& sub = "",
                      const std::string& provider = "forge") {
    auto authorize = start(b, provider);
    boost::json::object order{{"mode", mode},
                              {"nonce", query_param(authorize, "nonce")},
                              {"challenge", query_param(authorize, "code_challenge")},
                              {"sub", sub.empty() ? unique_name("forged") : sub}};
    std::string code = base64url_encode(json::serialize(order));
    return b.request(port(), "GET",
                     "/api/v1/auth/oidc/" + provider + "/callback?code=" + code +
                         "&state=" + percent_encode(query_param(authorize, "state")));
  }

  static int forge_jwks_fetches() {
    auto forge = parse_url(provider_env().forge_issuer);
    auto s = Api(forge.port).get("/stats");
    return static_cast<int>(s.obj().at("jwks").as_int64());
  }

  static std::unique_ptr<ServerProcess> server_;
  static std::string start_error_;
};

std::unique_ptr<ServerProcess> Oidc::server_;
std::string Oidc::start_error_;

std::string refusal(const Reply& r) {
  auto loc = r.header("Location");
  return query_param(loc, "sso_error") + "/" + query_param(loc, "reason");
}

TEST_F(Oidc, AuthorizeRequestCarriesPkceStateAndNonce) {
  Browser b;
  auto url = start(b, "test");
  EXPECT_EQ(url.rfind(provider_env().issuer + "/auth?", 0), 0u) << url;
  EXPECT_EQ(query_param(url, "response_type"), "code");
  EXPECT_EQ(query_param(url, "client_id"), provider_env().client_id);
  EXPECT_EQ(query_param(url, "code_challenge_method"), "S256");
  EXPECT_EQ(query_param(url, "code_challenge").size(), 43u);  // base64url of SHA-256
  EXPECT_GE(query_param(url, "state").size(), 43u);
  EXPECT_GE(query_param(url, "nonce").size(), 43u);
  EXPECT_EQ(query_param(url, "redirect_uri"),
            "http://127.0.0.1:" + std::to_string(port()) + "/api/v1/auth/oidc/test/callback");
  EXPECT_NE(query_param(url, "scope").find("openid"), std::string::npos);
  EXPECT_FALSE(b.cookie(port(), "parley_sso_flow").empty());
  // Two flows never share a state or nonce.
  Browser b2;
  auto url2 = start(b2, "test");
  EXPECT_NE(query_param(url, "state"), query_param(url2, "state"));
  EXPECT_NE(query_param(url, "nonce"), query_param(url2, "nonce"));
}

TEST_F(Oidc, FirstSignInProvisionsAndTheNextLinksToTheSameAccount) {
  std::string login = unique_name("sso");
  Browser b;
  auto first = sign_in(b, login);
  ASSERT_EQ(first.status, 200) << first;
  const auto& user = first.obj().at("user").as_object();
  EXPECT_EQ(user.at("username").as_string(), login);
  EXPECT_EQ(user.at("display_name").as_string(), "Test " + login);
  std::string id(user.at("id").as_string());
  // The tokens work, and no URL of the flow carried them (nor the hand-off code).
  auto me = Api(port()).get("/api/v1/users/me", first.str("access_token"));
  ASSERT_EQ(me.status, 200) << me;
  EXPECT_EQ(me.str("id"), id);
  for (const auto& loc : b.locations) {
    EXPECT_EQ(loc.find(first.str("access_token")), std::string::npos) << loc;
    EXPECT_EQ(loc.find(first.str("refresh_token")), std::string::npos) << loc;
  }
  EXPECT_TRUE(b.cookie(port(), "parley_sso_handoff").empty()) << "the exchange clears it";
  // Nor does the server's log (access lines name the route pattern, never the query).
  EXPECT_EQ(server_->logs().find(first.str("access_token")), std::string::npos);
  EXPECT_EQ(server_->logs().find(first.str("refresh_token")), std::string::npos);
  // The refresh token rotates like a password session's.
  auto refreshed = Api(port()).post(
      "/api/v1/auth/refresh", boost::json::object{{"refresh_token", first.str("refresh_token")}});
  EXPECT_EQ(refreshed.status, 200) << refreshed;

  Browser again;  // another browser, the same provider account
  auto second = sign_in(again, login);
  ASSERT_EQ(second.status, 200) << second;
  EXPECT_EQ(second.obj().at("user").as_object().at("id").as_string(), id);
  auto sessions = Api(port()).get("/api/v1/auth/sessions", second.str("access_token"));
  ASSERT_EQ(sessions.status, 200);
  EXPECT_EQ(sessions.obj().at("sessions").as_array().size(), 2u);
}

TEST_F(Oidc, UsernameTakenByAnotherAccountGetsASuffix) {
  Api api(port());
  auto local = register_account(api, "taken");
  Browser b;
  auto r = sign_in(b, local.username);
  ASSERT_EQ(r.status, 200) << r;
  const auto& user = r.obj().at("user").as_object();
  EXPECT_EQ(user.at("username").as_string(), local.username + "-2");
  EXPECT_NE(user.at("id").as_string(), local.id);
  // The password account is untouched and still signs in.
  EXPECT_EQ(login_account(api, local).id, local.id);
}

TEST_F(Oidc, ReplayedStateIsRefused) {
  Browser b;
  auto cb = provider_login(b, start(b, "test"), unique_name("replay"));
  std::string flow_cookie = b.cookie(port(), "parley_sso_flow");
  auto first = callback(b, cb);
  ASSERT_EQ(first.header("Location"), "/?sso=done") << first;
  ASSERT_EQ(exchange(b).status, 200);
  // The same callback again, with the flow cookie put back: the state was spent.
  b.set_cookie(port(), "parley_sso_flow", flow_cookie);
  auto replay = callback(b, cb);
  EXPECT_EQ(replay.status, 303);
  EXPECT_EQ(refusal(replay), "sign_in_refused/state");
  EXPECT_TRUE(b.cookie(port(), "parley_sso_handoff").empty());
  EXPECT_EQ(exchange(b).status, 401);
}

TEST_F(Oidc, CallbackInAnotherBrowserIsRefusedAndSpendsTheState) {
  Browser victim, attacker;
  auto cb = provider_login(attacker, start(attacker, "test"), unique_name("csrf"));
  // The attacker's callback URL opened in the victim's browser (login CSRF): no flow cookie.
  auto r = callback(victim, cb);
  EXPECT_EQ(refusal(r), "sign_in_refused/binding");
  EXPECT_EQ(exchange(victim).status, 401);
  auto late = callback(attacker, cb);
  EXPECT_EQ(refusal(late), "sign_in_refused/state");
}

TEST_F(Oidc, ForgingIssuerGoodTokensSignIn) {
  for (const char* mode : {"ok", "es256"}) {
    Browser b;
    auto r = forged(b, mode);
    ASSERT_EQ(r.header("Location"), "/?sso=done") << mode << ": " << r;
    auto x = exchange(b);
    EXPECT_EQ(x.status, 200) << mode << ": " << x;
  }
}

TEST_F(Oidc, ForgedWrongAndExpiredIdTokensAreRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"bad_signature", "signature"}, {"unknown_kid", "signature"}, {"none", "signature"},
      {"wrong_aud", "aud"},           {"expired", "exp"},           {"wrong_nonce", "nonce"},
      {"wrong_iss", "iss"},           {"future_iat", "iat"}};
  Api api(port());
  auto observer = register_account(api, "observer");
  for (const auto& [mode, reason] : cases) {
    Browser b;
    std::string sub = unique_name("refused");
    auto r = forged(b, mode, sub);
    EXPECT_EQ(r.status, 303) << mode;
    EXPECT_EQ(refusal(r), "sign_in_refused/" + reason) << mode << ": " << r.header("Location");
    EXPECT_TRUE(b.cookie(port(), "parley_sso_handoff").empty()) << mode;
    EXPECT_EQ(exchange(b).status, 401) << mode;
    // Nothing was provisioned for the refused identity.
    auto found = api.get("/api/v1/users?q=" + sub, observer.access);
    EXPECT_EQ(found.obj().at("users").as_array().size(), 0u) << mode << ": " << found;
  }
}

TEST_F(Oidc, WrongPkceVerifierIsRefusedByTheProvider) {
  Browser b;
  auto authorize = start(b, "forge");
  boost::json::object order{{"mode", "ok"},
                            {"nonce", query_param(authorize, "nonce")},
                            {"challenge", base64url_encode(sha256("another verifier"))}};
  auto r = b.request(
      port(), "GET",
      "/api/v1/auth/oidc/forge/callback?code=" + base64url_encode(json::serialize(order)) +
          "&state=" + percent_encode(query_param(authorize, "state")));
  EXPECT_EQ(refusal(r), "sign_in_refused/code");
}

TEST_F(Oidc, ProviderErrorIsShownAndSpendsTheState) {
  Browser b;
  auto authorize = start(b, "test");
  std::string state = percent_encode(query_param(authorize, "state"));
  auto r = b.request(port(), "GET",
                     "/api/v1/auth/oidc/test/callback?error=access_denied&state=" + state);
  EXPECT_EQ(refusal(r), "sign_in_refused/provider");
}

TEST_F(Oidc, RotatedSigningKeyIsFetchedOnce) {
  Browser b1;
  ASSERT_EQ(forged(b1, "ok").header("Location"), "/?sso=done");
  int before = forge_jwks_fetches();
  auto forge = parse_url(provider_env().forge_issuer);
  ASSERT_EQ(Api(forge.port).post("/rotate", std::string_view("{}")).status, 200);
  Browser b2;
  auto r = forged(b2, "ok");
  EXPECT_EQ(r.header("Location"), "/?sso=done") << r;
  EXPECT_EQ(forge_jwks_fetches(), before + 1);
  Browser b3;  // the new key is cached now
  EXPECT_EQ(forged(b3, "ok").header("Location"), "/?sso=done");
  EXPECT_EQ(forge_jwks_fetches(), before + 1);
}

TEST_F(Oidc, UnknownKidRefetchesAreRateLimited) {
  int before = forge_jwks_fetches();
  for (int i = 0; i < 8; ++i) {
    Browser b;
    EXPECT_EQ(refusal(forged(b, "unknown_kid", "", "forge2")), "sign_in_refused/signature");
  }
  // forge2's first token loads its keys, then five refetches a minute at most.
  EXPECT_EQ(forge_jwks_fetches(), before + 1 + 5);
}

TEST_F(Oidc, HandoffIsGoodOnceAndNeededForTheExchange) {
  Browser b;
  auto cb = provider_login(b, start(b, "test"), unique_name("once"));
  ASSERT_EQ(callback(b, cb).header("Location"), "/?sso=done");
  std::string code = b.cookie(port(), "parley_sso_handoff");
  ASSERT_FALSE(code.empty());
  EXPECT_EQ(exchange(b).status, 200);
  EXPECT_EQ(server_->logs().find(code), std::string::npos) << "the hand-off code is not logged";
  b.set_cookie(port(), "parley_sso_handoff", code);
  auto again = exchange(b);
  EXPECT_EQ(again.status, 401) << again;
  Browser none;
  EXPECT_EQ(exchange(none).status, 401);
  auto bad = b.request(port(), "POST", "/api/v1/auth/oidc/exchange", "{not json");
  EXPECT_EQ(bad.status, 400);
}

TEST_F(Oidc, ProvidersAreListedAndUnknownOnesAreNotFound) {
  auto r = Api(port()).get("/api/v1/auth/providers");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.obj().at("password_login"), true);
  std::vector<std::string> names;
  for (const auto& p : r.obj().at("providers").as_array()) {
    names.emplace_back(p.at("name").as_string());
    EXPECT_EQ(p.at("start_url").as_string(), "/api/v1/auth/oidc/" + names.back() + "/start");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"test", "forge", "forge2", "down"}));
  EXPECT_EQ(r.obj().at("providers").as_array()[0].at("display_name"), "Test");
  Browser b;
  EXPECT_EQ(b.request(port(), "GET", "/api/v1/auth/oidc/nope/start").status, 404);
  EXPECT_EQ(b.request(port(), "GET", "/api/v1/auth/oidc/nope/callback?state=x").status, 404);
}

TEST_F(Oidc, UnreachableProviderSendsTheBrowserBackWithAnError) {
  Browser b;
  auto r = b.request(port(), "GET", "/api/v1/auth/oidc/down/start");
  EXPECT_EQ(r.status, 303) << r;
  EXPECT_EQ(r.header("Location"), "/?sso_error=provider_unavailable");
}

TEST_F(Oidc, OutboundPolicyAppliesToTheProvider) {
  // Without --outbound-allow the loopback provider is a private address: refused.
  ServerProcess strict(server_args({}, false));
  auto err = strict.start();
  ASSERT_TRUE(err.empty()) << err;
  Browser b;
  auto r = b.request(strict.port(), "GET", "/api/v1/auth/oidc/test/start");
  EXPECT_EQ(r.header("Location"), "/?sso_error=provider_unavailable") << r;
  EXPECT_TRUE(strict.wait_for_log("address not allowed", 5s)) << strict.logs();
}

TEST_F(Oidc, PasswordLoginCanBeDisabled) {
  ServerProcess sso_only(server_args({"--disable-password-login"}));
  auto err = sso_only.start();
  ASSERT_TRUE(err.empty()) << err;
  Api api(sso_only.port());
  auto reg = api.post("/api/v1/auth/register", boost::json::object{{"username", unique_name("pw")},
                                                                   {"password", "long enough pw"}});
  EXPECT_EQ(reg.status, 403) << reg;
  EXPECT_EQ(reg.error_code(), "password_login_disabled");
  auto login = api.post("/api/v1/auth/login",
                        boost::json::object{{"username", "anyone"}, {"password", "whatever1"}});
  EXPECT_EQ(login.status, 403);
  EXPECT_EQ(login.error_code(), "password_login_disabled");
  auto providers = api.get("/api/v1/auth/providers");
  EXPECT_EQ(providers.obj().at("password_login"), false);
  EXPECT_EQ(providers.obj().at("providers").as_array().size(), 4u);
  Browser b;
  auto r = sign_in(b, unique_name("ssoonly"), sso_only.port());
  EXPECT_EQ(r.status, 200) << r;
}

TEST_F(Oidc, AdminGroupGrantsTheAdminRoleAndDeactivationStopsSsoSignIn) {
  Api api(port());
  (void)register_account(api, "first");  // so that the first-account rule is not in play
  Browser staff_browser;
  auto staff = sign_in(staff_browser, unique_name("staff"));
  ASSERT_EQ(staff.status, 200) << staff;
  EXPECT_EQ(staff.obj().at("user").as_object().at("role"), "user");
  // oidc-provider puts a login starting with "admin" in the "admins" group:
  // --oidc-admin-group test=admins makes that account an admin.
  Browser admin_browser;
  auto admin = sign_in(admin_browser, "admin" + unique_name("x"));
  ASSERT_EQ(admin.status, 200) << admin;
  EXPECT_EQ(admin.obj().at("user").as_object().at("role"), "admin") << admin;
  std::string admin_id(admin.obj().at("user").as_object().at("id").as_string());
  std::string staff_id(staff.obj().at("user").as_object().at("id").as_string());
  auto audit = api.get("/api/v1/admin/audit?action=admin.role_changed", admin.str("access_token"));
  ASSERT_EQ(audit.status, 200) << audit;
  bool granted = false;
  for (const auto& e : audit.obj().at("events").as_array())
    if (e.at("target").as_string().find("user:" + admin_id) != std::string::npos) granted = true;
  EXPECT_TRUE(granted) << audit;
  // The SSO sign-in is audited like a password one.
  auto signins = api.get("/api/v1/admin/audit?action=auth.sign_in&actor=" + staff_id,
                         admin.str("access_token"));
  ASSERT_EQ(signins.status, 200) << signins;
  EXPECT_FALSE(signins.obj().at("events").as_array().empty()) << signins;

  // The new admin deactivates the staff account: its next SSO sign-in is refused at the
  // exchange, and it gets no session.
  auto off = api.post("/api/v1/admin/users/" + staff_id + "/deactivate", std::string_view("{}"),
                      admin.str("access_token"));
  ASSERT_EQ(off.status / 100, 2) << off;
  Browser again;
  auto cb =
      provider_login(again, start(again, "test"),
                     std::string(staff.obj().at("user").as_object().at("username").as_string()));
  ASSERT_EQ(callback(again, cb).header("Location"), "/?sso=done");
  auto refused = exchange(again);
  EXPECT_EQ(refused.status, 403) << refused;
  EXPECT_EQ(refused.error_code(), "deactivated");
}

// Two nodes on one PostgreSQL (a schema of this test's own): a flow started on one finishes
// on the other, and the identity links to one account whichever node sees it.
TEST_F(Oidc, FlowStartedOnOneNodeFinishesOnAnother) {
  const char* pg = std::getenv("PARLEY_TEST_POSTGRES_URL");
  if (!pg || std::string(pg).find("://") == std::string::npos)
    GTEST_SKIP() << "PARLEY_TEST_POSTGRES_URL is not set: the two-node SSO test is skipped";
  std::string psql;
  if (FILE* p = ::popen("command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | "
                        "sort -V | tail -n 1",
                        "r")) {
    char buf[512];
    if (std::fgets(buf, sizeof buf, p)) psql = buf;
    ::pclose(p);
  }
  while (!psql.empty() && std::isspace(static_cast<unsigned char>(psql.back()))) psql.pop_back();
  if (psql.empty()) GTEST_SKIP() << "psql is not installed: the two-node SSO test is skipped";
  std::string schema = "sso_" + std::to_string(::getpid());
  auto sql = [&](const std::string& stmt) {
    return std::system(
        ("'" + psql + "' '" + pg + "' -qAt -v ON_ERROR_STOP=1 -c '" + stmt + "' >/dev/null 2>&1")
            .c_str());
  };
  ASSERT_EQ(sql("CREATE SCHEMA " + schema), 0);
  struct Drop {
    std::function<void()> f;
    ~Drop() { f(); }
  } drop{[&] { sql("DROP SCHEMA IF EXISTS " + schema + " CASCADE"); }};
  std::string url = std::string(pg) + (std::string(pg).find('?') == std::string::npos ? "?" : "&") +
                    "options=-csearch_path%3D" + schema + "%2Cpublic";
  ServerProcess a(server_args({"--database", url})), b(server_args({"--database", url}));
  auto err = a.start();
  ASSERT_TRUE(err.empty()) << err;
  err = b.start();
  ASSERT_TRUE(err.empty()) << err;

  std::string login = unique_name("twonode");
  Browser browser;
  auto cb = provider_login(browser, start(browser, "test", a.port()), login);
  // Behind one origin the browser holds one cookie jar: carry the flow cookie to node B.
  browser.set_cookie(b.port(), "parley_sso_flow", browser.cookie(a.port(), "parley_sso_flow"));
  auto done = callback(browser, cb, b.port());
  ASSERT_EQ(done.header("Location"), "/?sso=done") << done;
  browser.set_cookie(a.port(), "parley_sso_handoff",
                     browser.cookie(b.port(), "parley_sso_handoff"));
  auto first = exchange(browser, a.port());  // and the hand-off back on node A
  ASSERT_EQ(first.status, 200) << first;
  Browser again;
  auto second = sign_in(again, login, b.port());
  ASSERT_EQ(second.status, 200) << second;
  EXPECT_EQ(second.obj().at("user").as_object().at("id"),
            first.obj().at("user").as_object().at("id"));
}

}  // namespace
}  // namespace parley::itest
