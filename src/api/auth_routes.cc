#include "context.h"
#include "core/json.h"
#include "modules/audit/audit.h"

namespace parley::api {
namespace {

boost::json::object tokens_json(const auth::Tokens& t) {
  return {{"access_token", t.access_token},
          {"refresh_token", t.refresh_token},
          {"expires_in", t.expires_in_s}};
}

net::Response authenticated_response(int status, const auth::Authenticated& a) {
  auto body = tokens_json(a.tokens);
  body["user"] = user_json(a.user, true);  // the user themself: with their role
  return json_response(status, body);
}

// The username a login or register names, normalised, for per-account rate limits.
std::string account_key(const std::string& username) {
  auto u = users::normalise_username(username);
  return u ? *u : std::string("~invalid");
}

// The fields register and login share: username, password and the optional device_name.
struct SignInFields {
  std::string username;
  std::string password;
  std::optional<std::string> device_name;
};

Result<SignInFields> sign_in_fields(const boost::json::object& body) {
  auto username = json::required_string(body, "username");
  if (!username) return fail(username.error());
  auto password = json::required_string(body, "password");
  if (!password) return fail(password.error());
  auto device = json::optional_string(body, "device_name");
  if (!device) return fail(device.error());
  return SignInFields{std::move(*username), std::move(*password), std::move(*device)};
}

// What a failed sign-in names: the account when it exists (so an admin filtering by the user's
// id sees the attempts), else the username tried, when it has a username's shape.
std::string sign_in_target(Context& ctx, const std::string& username) {
  auto u = ctx.s.users.find_by_username(username);
  if (u) return audit::target("user", u->id);
  auto n = users::normalise_username(username);
  return audit::target("username", n ? *n : "~invalid");
}

}  // namespace

void add_auth_routes(net::Router& r, Context& ctx) {
  // What the sign-up page needs to know: whether it may offer sign-up and must ask for an invite.
  r.add(net::Method::get, "/api/v1/auth/registration",
        respond([&ctx](net::Request&) -> Result<net::Response> {
          auto s = ctx.s.admin->settings();
          if (!s) return fail(s.error());
          return json_response(
              200, {{"registration", admin::mode_name(s->registration)},
                    {"invite_required", s->registration == admin::RegistrationMode::invite_only},
                    {"email_required", !s->allowed_email_domains.empty()}});
        }));

  r.add(net::Method::post, "/api/v1/auth/register",
        respond([&ctx](net::Request& req) -> Result<net::Response> {
          if (!ctx.opts.password_login) return password_login_disabled();
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto f = sign_in_fields(*body);
          if (!f) return fail(f.error());
          auto display = json::optional_string(*body, "display_name");
          if (!display) return fail(display.error());
          auto email = json::optional_string(*body, "email");
          if (!email) return fail(email.error());
          auto invite = json::optional_string(*body, "invite_token");
          if (!invite) return fail(invite.error());
          if (auto rl = rate_limit(ctx.s.limiter, {{"register:ip:" + ctx.client.of(req),
                                                    ctx.opts.limits.register_per_ip}});
              !rl)
            return fail(rl.error());
          // The server's registration settings (mode, invite, email domains) first.
          auto admitted = ctx.s.admin->admit(*email, *invite);
          if (!admitted) return fail(admitted.error());
          auto a = ctx.s.auth.register_user(
              {f->username, f->password, *display, *email, f->device_name});
          if (!a) {
            ctx.s.admin->release(*admitted);
            return fail(a.error());
          }
          audit(ctx, req, a->user.id, audit::actions::kRegistered,
                audit::target("user", a->user.id) +
                    (admitted->invite_id ? " invite:" + *admitted->invite_id : ""));
          return authenticated_response(201, *a);
        }));

  r.add(net::Method::post, "/api/v1/auth/login",
        respond([&ctx](net::Request& req) -> Result<net::Response> {
          if (!ctx.opts.password_login) return password_login_disabled();
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto f = sign_in_fields(*body);
          if (!f) return fail(f.error());
          auto totp = json::optional_string(*body, "totp_code");
          if (!totp) return fail(totp.error());
          if (auto rl = rate_limit(
                  ctx.s.limiter,
                  {{"login:ip:" + ctx.client.of(req), ctx.opts.limits.login_per_ip},
                   // Per account and address together: guesses from elsewhere never lock the
                   // owner out; the per-address bucket bounds one source across accounts.
                   {"login:user:" + account_key(f->username) + ":ip:" + ctx.client.of(req),
                    ctx.opts.limits.login_per_account}});
              !rl)
            return fail(rl.error());
          auto a = ctx.s.auth.login({f->username, f->password, *totp, f->device_name});
          if (!a) {
            // A wrong password, a missing or wrong code, a deactivated account: all attempts.
            const auto code = a.error().code;
            if (code == Errc::unauthenticated || code == Errc::second_factor_required ||
                code == Errc::permission_denied)
              audit(ctx, req, "", audit::actions::kSignInFailed,
                    sign_in_target(ctx, f->username));
            return fail(a.error());
          }
          audit(ctx, req, a->user.id, audit::actions::kSignIn,
                audit::target("session", a->session_id));
          return authenticated_response(200, *a);
        }));

  r.add(net::Method::post, "/api/v1/auth/refresh",
        respond([&ctx](net::Request& req) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto token = json::required_string(*body, "refresh_token");
          if (!token) return fail(token.error());
          if (auto rl = rate_limit(ctx.s.limiter, {{"refresh:ip:" + ctx.client.of(req),
                                                    ctx.opts.limits.refresh_per_ip}});
              !rl)
            return fail(rl.error());
          auto t = ctx.s.auth.refresh(*token);
          if (!t) return fail(t.error());
          return json_response(200, tokens_json(*t));
        }));

  r.add(net::Method::post, "/api/v1/auth/logout",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          if (auto r = ctx.s.auth.logout(p); !r) return fail(r.error());
          return no_content();
        }));

  r.add(net::Method::post, "/api/v1/auth/logout-all",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          if (auto r = ctx.s.auth.logout_all(p); !r) return fail(r.error());
          audit(ctx, req, p.user_id, audit::actions::kSignedOutEverywhere,
                audit::target("user", p.user_id));
          return no_content();
        }));

  // Both check a password: limited like sign-in, per account and per address.
  auto credential_check_limit = [&ctx](const net::Request& req, const auth::Principal& p) {
    return rate_limit(ctx.s.limiter,
                      {{"login:ip:" + ctx.client.of(req), ctx.opts.limits.login_per_ip},
                       {"reauth:user:" + p.user_id, ctx.opts.limits.login_per_account}});
  };

  r.add(net::Method::post, "/api/v1/auth/password",
        authed(ctx, [&ctx, credential_check_limit](net::Request& req, const auth::Principal& p)
                        -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto current = json::required_string(*body, "current_password");
          if (!current) return fail(current.error());
          auto next = json::required_string(*body, "new_password");
          if (!next) return fail(next.error());
          if (auto rl = credential_check_limit(req, p); !rl) return fail(rl.error());
          if (auto r = ctx.s.auth.change_password(p, *current, *next); !r) return fail(r.error());
          audit(ctx, req, p.user_id, audit::actions::kPasswordChanged,
                audit::target("user", p.user_id));
          return no_content();
        }));

  r.add(net::Method::post, "/api/v1/auth/reauth",
        authed(ctx, [&ctx, credential_check_limit](net::Request& req, const auth::Principal& p)
                        -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto password = json::optional_string(*body, "password");
          if (!password) return fail(password.error());
          auto code = json::optional_string(*body, "totp_code");
          if (!code) return fail(code.error());
          if (auto rl = credential_check_limit(req, p); !rl) return fail(rl.error());
          if (auto r = ctx.s.auth.reauthenticate(p, *password, *code); !r) return fail(r.error());
          return no_content();
        }));

  r.add(net::Method::get, "/api/v1/auth/sessions",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto list = ctx.s.auth.sessions(p);
          if (!list) return fail(list.error());
          boost::json::array out;
          for (const auto& s : *list)
            out.push_back({{"id", s.id},
                           {"device_name", s.device_name},
                           {"created_at", s.created_at},
                           {"last_seen_at", s.last_seen_at},
                           {"current", s.current}});
          return json_response(200, {{"sessions", std::move(out)}});
        }));

  r.add(net::Method::del, "/api/v1/auth/sessions/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          const std::string id(req.param("id"));
          if (auto r = ctx.s.auth.revoke_session(p, id); !r) return fail(r.error());
          audit(ctx, req, p.user_id, audit::actions::kSessionRevoked, audit::target("session", id));
          return no_content();
        }));

  r.add(
      net::Method::post, "/api/v1/auth/totp/setup",
      authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
        if (auto rl = rate_limit(ctx.s.limiter,
                                 {{"totp:user:" + p.user_id, ctx.opts.limits.totp_per_account}});
            !rl)
          return fail(rl.error());
        auto s = ctx.s.auth.totp_setup(p);
        if (!s) return fail(s.error());
        return json_response(200, {{"secret", s->secret_base32}, {"otpauth_uri", s->otpauth_uri}});
      }));

  auto code_route = [&ctx](bool enable) {
    return authed(
        ctx, [&ctx, enable](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto code = json::required_string(*body, "code");
          if (!code) return fail(code.error());
          if (auto rl = rate_limit(ctx.s.limiter,
                                   {{"totp:user:" + p.user_id, ctx.opts.limits.totp_per_account}});
              !rl)
            return fail(rl.error());
          if (!enable) {
            if (auto r = ctx.s.auth.totp_disable(p, *code); !r) return fail(r.error());
            audit(ctx, req, p.user_id, audit::actions::kTotpDisabled,
                  audit::target("user", p.user_id));
            return no_content();
          }
          auto codes = ctx.s.auth.totp_enable(p, *code);
          if (!codes) return fail(codes.error());
          audit(ctx, req, p.user_id, audit::actions::kTotpEnabled,
                audit::target("user", p.user_id));
          boost::json::array arr;
          for (const auto& c : *codes) arr.push_back(boost::json::string(c));
          return json_response(200, {{"recovery_codes", std::move(arr)}});
        });
  };
  r.add(net::Method::post, "/api/v1/auth/totp/enable", code_route(true));
  r.add(net::Method::post, "/api/v1/auth/totp/disable", code_route(false));
}

}  // namespace parley::api
