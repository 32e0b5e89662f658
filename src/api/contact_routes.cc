// Email address and phone number of the caller, their verification, and password reset by
// email (modules/contact). The forgot-password route answers 202 for every well-formed address
// and is rate-limited per client address and per target address alike, so neither its answer
// nor its limits tell whether an account uses that address.
#include "context.h"
#include "core/json.h"
#include "modules/mail/mail.h"

namespace parley::api {
namespace {

boost::json::value opt(const std::optional<std::string>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

boost::json::object email_json(const contact::EmailState& e) {
  return {{"email", opt(e.email)},
          {"verified", e.email.has_value()},
          {"pending_email", opt(e.pending_email)}};
}

boost::json::object phone_json(const contact::PhoneState& p) {
  return {{"phone", opt(p.phone)},
          {"verified", p.phone.has_value()},
          {"pending_phone", opt(p.pending_phone)},
          {"sms_notifications", p.sms_notifications}};
}

Result<bool> required_bool(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_bool())
    return fail(Errc::malformed, std::string(key) + " must be true or false", std::string(key));
  return it->value().as_bool();
}

}  // namespace

void add_contact_routes(net::Router& r, Context& ctx) {
  if (!ctx.s.contact) return;
  auto& contact = *ctx.s.contact;

  // Every route that makes the server send a mail or text: one bucket per client address.
  auto send_limit = [&ctx](const net::Request& req) {
    return rate_limit(ctx.s.limiter,
                      {{"mail:ip:" + ctx.client.of(req), ctx.opts.limits.email_per_ip}});
  };

  r.add(net::Method::get, "/api/v1/users/me/email",
        authed(ctx, [&contact](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto e = contact.email(p.user_id);
          if (!e) return fail(e.error());
          return json_response(200, email_json(*e));
        }));

  r.add(net::Method::put, "/api/v1/users/me/email",
        authed(ctx,
               [&ctx, &contact, send_limit](net::Request& req,
                                            const auth::Principal& p) -> Result<net::Response> {
                 auto body = parse_body(req);
                 if (!body) return fail(body.error());
                 auto email = json::required_string(*body, "email");
                 if (!email) return fail(email.error());
                 auto address = mail::check_address(*email);
                 if (!address) return fail(address.error());
                 if (auto rl = rate_limit(ctx.s.limiter, {{"mail:to:" + mail::address_key(*address),
                                                           ctx.opts.limits.email_per_address}});
                     !rl)
                   return fail(rl.error());
                 if (auto rl = send_limit(req); !rl) return fail(rl.error());
                 auto e = contact.change_email(p, *address);
                 if (!e) return fail(e.error());
                 return json_response(202, email_json(*e));
               }));

  r.add(net::Method::post, "/api/v1/auth/email/verify",
        respond([&ctx, &contact](net::Request& req) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto token = json::required_string(*body, "token");
          if (!token) return fail(token.error());
          if (auto rl = rate_limit(ctx.s.limiter, {{"token:ip:" + ctx.client.of(req),
                                                    ctx.opts.limits.login_per_ip}});
              !rl)
            return fail(rl.error());
          if (auto v = contact.verify_email(*token); !v) return fail(v.error());
          return no_content();
        }));

  r.add(net::Method::post, "/api/v1/auth/password/forgot",
        respond([&ctx, &contact, send_limit](net::Request& req) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto email = json::required_string(*body, "email");
          if (!email) return fail(email.error());
          auto address = mail::check_address(*email);
          if (!address) return fail(address.error());
          // Keyed by the address typed, whoever owns it: the limits cannot tell either.
          if (auto rl = rate_limit(ctx.s.limiter, {{"mail:to:" + mail::address_key(*address),
                                                    ctx.opts.limits.email_per_address}});
              !rl)
            return fail(rl.error());
          if (auto rl = send_limit(req); !rl) return fail(rl.error());
          if (auto f = contact.forgot_password(*address); !f) return fail(f.error());
          return json_response(202, boost::json::object{});
        }));

  r.add(net::Method::post, "/api/v1/auth/password/reset",
        respond([&ctx, &contact](net::Request& req) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto token = json::required_string(*body, "token");
          if (!token) return fail(token.error());
          auto password = json::required_string(*body, "new_password");
          if (!password) return fail(password.error());
          if (auto rl = rate_limit(ctx.s.limiter, {{"token:ip:" + ctx.client.of(req),
                                                    ctx.opts.limits.login_per_ip}});
              !rl)
            return fail(rl.error());
          if (auto v = contact.reset_password(*token, *password); !v) return fail(v.error());
          return no_content();
        }));

  // RFC 8058 one-click unsubscribe: mail clients POST "List-Unsubscribe=One-Click" to the URL
  // of a digest's List-Unsubscribe header, without a session. The signed token in the query is
  // the authorization (it can do nothing else). GET changes nothing: link checkers fetch URLs.
  r.add(net::Method::post, "/api/v1/mail/unsubscribe",
        respond([&ctx, &contact](net::Request& req) -> Result<net::Response> {
          auto token = req.query("token");
          if (!token) return fail(token.error());
          if (!*token) return fail(Errc::malformed, "token is required", "token");
          if (auto rl = rate_limit(ctx.s.limiter, {{"token:ip:" + ctx.client.of(req),
                                                    ctx.opts.limits.login_per_ip}});
              !rl)
            return fail(rl.error());
          auto user = contact.unsubscribe(**token);
          if (!user) return fail(user.error());
          return json_response(200, {{"unsubscribed", true}});
        }));

  r.add(net::Method::get, "/api/v1/users/me/phone",
        authed(ctx, [&contact](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto s = contact.phone(p.user_id);
          if (!s) return fail(s.error());
          return json_response(200, phone_json(*s));
        }));

  r.add(net::Method::put, "/api/v1/users/me/phone",
        authed(
            ctx,
            [&ctx, &contact](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
              auto body = parse_body(req);
              if (!body) return fail(body.error());
              auto phone = json::required_string(*body, "phone");
              if (!phone) return fail(phone.error());
              if (auto n = sms::normalise_phone(*phone); !n) return fail(n.error());
              // Each code costs money and lands on someone's phone.
              if (auto rl = rate_limit(ctx.s.limiter,
                                       {{"sms:user:" + p.user_id, ctx.opts.limits.sms_per_user}});
                  !rl)
                return fail(rl.error());
              auto s = contact.change_phone(p, *phone);
              if (!s) return fail(s.error());
              return json_response(202, phone_json(*s));
            }));

  r.add(net::Method::post, "/api/v1/users/me/phone/verify",
        authed(
            ctx,
            [&ctx, &contact](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
              auto body = parse_body(req);
              if (!body) return fail(body.error());
              auto code = json::required_string(*body, "code");
              if (!code) return fail(code.error());
              if (auto rl = rate_limit(ctx.s.limiter, {{"totp:user:" + p.user_id,
                                                        ctx.opts.limits.totp_per_account}});
                  !rl)
                return fail(rl.error());
              auto s = contact.verify_phone(p.user_id, *code);
              if (!s) return fail(s.error());
              return json_response(200, phone_json(*s));
            }));

  r.add(
      net::Method::patch, "/api/v1/users/me/phone",
      authed(ctx, [&contact](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
        auto body = parse_body(req);
        if (!body) return fail(body.error());
        auto on = required_bool(*body, "sms_notifications");
        if (!on) return fail(on.error());
        auto s = contact.set_sms_notifications(p.user_id, *on);
        if (!s) return fail(s.error());
        return json_response(200, phone_json(*s));
      }));

  r.add(net::Method::del, "/api/v1/users/me/phone",
        authed(ctx, [&contact](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          if (auto r = contact.remove_phone(p.user_id); !r) return fail(r.error());
          return no_content();
        }));
}

}  // namespace parley::api
