// Single sign-on routes (OpenID Connect). The browser goes to /start, which redirects it to the
// provider with a flow cookie; the provider sends it back to /callback, which finishes the flow
// and redirects to the web app with a one-time hand-off cookie; the web app POSTs /exchange
// (the cookie travels, same-origin) and gets its tokens in the JSON answer. No token or code
// of ours ever appears in a URL. docs/sso.md and docs/decisions.md section 34 say why.
#include "context.h"
#include "core/json.h"
#include "core/log.h"
#include "modules/audit/audit.h"

namespace parley::api {
namespace {

constexpr std::string_view kFlowCookie = "parley_sso_flow";
constexpr std::string_view kHandoffCookie = "parley_sso_handoff";
constexpr const char* kCookiePath = "/api/v1/auth/oidc";

// The value of a cookie from the Cookie header; "" when absent.
std::string cookie(const net::Request& req, std::string_view name) {
  std::string_view all = req.header("Cookie");
  while (!all.empty()) {
    auto semi = all.find(';');
    std::string_view pair = all.substr(0, semi);
    all = semi == std::string_view::npos ? std::string_view() : all.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    auto eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name)
      return std::string(pair.substr(eq + 1));
  }
  return "";
}

bool host_ok(std::string_view h) {
  if (h.empty() || h.size() > 255) return false;
  for (char c : h)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']')
      return false;
  return true;
}

// scheme://host[:port] of this server as the browser sees it: --public-url, else the Host
// header (the provider only redirects to callback URLs registered with it, so a forged Host
// gains nothing). nullopt when neither is usable.
std::optional<std::string> public_base(const Context& ctx, const net::Request& req) {
  if (!ctx.opts.public_url.empty()) return ctx.opts.public_url;
  std::string_view host = req.header("Host");
  if (!host_ok(host)) return std::nullopt;
  return "http://" + std::string(host);
}

std::string set_cookie(std::string_view name, std::string_view value, int max_age_s, bool secure) {
  std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + kCookiePath +
                  "; Max-Age=" + std::to_string(max_age_s) + "; HttpOnly; SameSite=Lax";
  if (secure) c += "; Secure";
  return c;
}

net::Response redirect(const std::string& location) {
  net::Response r;
  r.status = 303;
  r.content_type.clear();
  r.headers.push_back({"Location", location});
  return r;
}

// Back to the web app with why the sign-in did not happen (no secrets: a code and a reason).
net::Response back_with_error(const Error& e, bool secure) {
  std::string code = e.code == Errc::unauthenticated  ? "sign_in_refused"
                     : e.code == Errc::unavailable    ? "provider_unavailable"
                     : e.code == Errc::already_exists ? "account_unavailable"
                                                      : "sign_in_failed";
  std::string location = "/?sso_error=" + code;
  if (e.code == Errc::unauthenticated && !e.field.empty()) location += "&reason=" + e.field;
  auto r = redirect(location);
  r.headers.push_back({"Set-Cookie", set_cookie(kFlowCookie, "", 0, secure)});
  return r;
}

}  // namespace

net::Response password_login_disabled() {
  return net::error_response(403, "password_login_disabled",
                             "password sign-in is disabled on this server; use single sign-on");
}

void add_sso_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::get, "/api/v1/auth/providers",
        respond([&ctx](net::Request&) -> Result<net::Response> {
          boost::json::array list;
          if (ctx.s.sso)
            for (const auto& p : ctx.s.sso->providers())
              list.push_back({{"name", p.name},
                              {"display_name", p.display_name},
                              {"start_url", std::string(kCookiePath) + "/" + p.name + "/start"}});
          return json_response(
              200, {{"providers", std::move(list)}, {"password_login", ctx.opts.password_login}});
        }));

  r.add(net::Method::get, "/api/v1/auth/oidc/{name}/start",
        respond([&ctx](net::Request& req) -> Result<net::Response> {
          std::string name(req.param("name"));
          if (!ctx.s.sso || !ctx.s.sso->has_provider(name))
            return fail(Errc::not_found, "no such sign-in provider");
          if (auto rl = rate_limit(ctx.s.limiter, {{"login:ip:" + ctx.client.of(req),
                                                    ctx.opts.limits.login_per_ip}});
              !rl)
            return fail(rl.error());
          auto base = public_base(ctx, req);
          if (!base) return fail(Errc::malformed, "no usable Host header", "Host");
          bool secure = base->rfind("https://", 0) == 0;
          auto flow = ctx.s.sso->start(name, *base + kCookiePath + "/" + name + "/callback");
          if (!flow) {
            if (flow.error().code == Errc::unavailable) {
              log::warn("oidc provider unavailable",
                        {{"provider", name}, {"reason", flow.error().message}});
              return back_with_error(flow.error(), secure);
            }
            return fail(flow.error());
          }
          auto resp = redirect(flow->authorize_url);
          resp.status = 302;
          resp.headers.push_back(
              {"Set-Cookie", set_cookie(kFlowCookie, flow->browser_binding, 600, secure)});
          return resp;
        }));

  r.add(
      net::Method::get, "/api/v1/auth/oidc/{name}/callback",
      respond([&ctx](net::Request& req) -> Result<net::Response> {
        std::string name(req.param("name"));
        if (!ctx.s.sso || !ctx.s.sso->has_provider(name))
          return fail(Errc::not_found, "no such sign-in provider");
        sso::FinishRequest f;
        f.provider = name;
        for (auto [key, out] : {std::pair<const char*, std::string*>{"state", &f.state},
                                {"code", &f.code},
                                {"error", &f.provider_error}}) {
          auto v = req.query(key);
          if (!v) return fail(v.error());
          if (*v) *out = std::move(**v);
        }
        // The provider's error code goes into our message: keep it to its grammar.
        if (f.provider_error.size() > 64 ||
            f.provider_error.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos)
          f.provider_error = f.provider_error.empty() ? "" : "error";
        f.browser_binding = cookie(req, kFlowCookie);
        auto base = public_base(ctx, req);
        bool secure = base && base->rfind("https://", 0) == 0;
        auto done = ctx.s.sso->finish(f);
        if (!done) {
          log::info("oidc sign-in refused", {{"provider", name},
                                             {"reason", done.error().field},
                                             {"detail", done.error().message},
                                             {"client_ip", ctx.client.of(req)}});
          return back_with_error(done.error(), secure);
        }
        // The provider's group says admin: grant the role (never taken away here, so an
        // admin made on the command line stays one). A failure does not stop the sign-in.
        if (done->admin) {
          if (auto u = ctx.s.users.get(done->user_id); u && u->role != users::Role::admin) {
            auto granted =
                ctx.s.admin->set_role({"", ctx.client.of(req)}, done->user_id, users::Role::admin);
            if (!granted)
              log::warn("oidc admin group: role not granted",
                        {{"user_id", done->user_id}, {"reason", granted.error().message}});
          }
        }
        auto resp = redirect("/?sso=done");
        resp.headers.push_back({"Set-Cookie", set_cookie(kFlowCookie, "", 0, secure)});
        resp.headers.push_back(
            {"Set-Cookie", set_cookie(kHandoffCookie, done->handoff_code, 60, secure)});
        return resp;
      }));

  r.add(
      net::Method::post, "/api/v1/auth/oidc/exchange",
      respond([&ctx](net::Request& req) -> Result<net::Response> {
        std::optional<std::string> device;
        if (!req.body.empty()) {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto d = json::optional_string(*body, "device_name");
          if (!d) return fail(d.error());
          device = std::move(*d);
        }
        if (auto rl = rate_limit(
                ctx.s.limiter, {{"login:ip:" + ctx.client.of(req), ctx.opts.limits.login_per_ip}});
            !rl)
          return fail(rl.error());
        if (!ctx.s.sso) return fail(Errc::unauthenticated, "no sign-in to finish");
        auto user_id = ctx.s.sso->redeem(cookie(req, kHandoffCookie));
        if (!user_id) return fail(user_id.error());
        auto a = ctx.s.auth.sign_in_verified(*user_id, device);
        if (!a) {
          if (a.error().code == Errc::permission_denied)  // deactivated
            audit(ctx, req, "", audit::actions::kSignInFailed,
                  audit::target("user", *user_id) + " via:oidc");
          return fail(a.error());
        }
        audit(ctx, req, a->user.id, audit::actions::kSignIn,
              audit::target("session", a->session_id) + " via:oidc");
        auto body = boost::json::object{{"access_token", a->tokens.access_token},
                                        {"refresh_token", a->tokens.refresh_token},
                                        {"expires_in", a->tokens.expires_in_s},
                                        {"user", user_json(a->user, true)}};
        auto resp = json_response(200, body);
        auto base = public_base(ctx, req);
        resp.headers.push_back({"Set-Cookie", set_cookie(kHandoffCookie, "", 0,
                                                         base && base->rfind("https://", 0) == 0)});
        return resp;
      }));
}

}  // namespace parley::api
