// Notification settings and Web Push subscriptions (API-EXTENSIONS.md, "Mentions and
// notifications"): wire JSON <-> notifications::NotificationService.
#include "context.h"
#include "core/json.h"

namespace parley::api {
namespace {

using notifications::ConversationSettings;
using notifications::PushSubscription;
using notifications::QuietHours;
using notifications::UserSettings;

boost::json::object settings_json(const UserSettings& s) {
  boost::json::array keywords;
  for (const auto& k : s.keywords) keywords.emplace_back(k);
  boost::json::value quiet = nullptr;
  if (s.quiet_hours)
    quiet = boost::json::object{
        {"start", s.quiet_hours->start}, {"end", s.quiet_hours->end}, {"tz", s.quiet_hours->tz}};
  return {{"push", s.push},
          {"email", s.email},
          {"email_delay_minutes", s.email_delay_minutes},
          {"quiet_hours", quiet},
          {"keywords", keywords},
          {"push_previews", s.push_previews}};
}

boost::json::object conversation_settings_json(const ConversationSettings& s) {
  boost::json::object o{{"level", s.level}};
  if (s.muted_until)
    o["muted_until"] = *s.muted_until;
  else
    o["muted_until"] = nullptr;
  return o;
}

boost::json::object subscription_json(const PushSubscription& s) {
  return {{"id", s.id},
          {"endpoint", s.endpoint},
          {"device_name", s.device_name},
          {"enabled", s.enabled},
          {"created_at", s.created_at}};
}

Result<std::optional<bool>> optional_bool(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::optional<bool>();
  if (!v->is_bool())
    return fail(Errc::malformed, std::string(key) + " must be a boolean", std::string(key));
  return std::optional<bool>(v->as_bool());
}

// The body of PATCH /users/me/notification-settings: only the fields present change.
Result<notifications::SettingsPatch> settings_patch(const boost::json::object& b) {
  notifications::SettingsPatch p;
  auto push = json::optional_string(b, "push");
  if (!push) return fail(push.error());
  p.push = *push;
  auto email = json::optional_string(b, "email");
  if (!email) return fail(email.error());
  p.email = *email;
  if (auto* d = b.if_contains("email_delay_minutes"); d && !d->is_null()) {
    if (!d->is_int64())
      return fail(Errc::malformed, "email_delay_minutes must be a whole number",
                  "email_delay_minutes");
    auto n = d->as_int64();
    p.email_delay_minutes = static_cast<int>(std::clamp<std::int64_t>(n, -1, 1'000'000));
  }
  if (auto* q = b.if_contains("quiet_hours")) {
    if (q->is_null()) {
      p.quiet_hours = std::optional<QuietHours>();
    } else if (!q->is_object()) {
      return fail(Errc::malformed, "quiet_hours must be an object or null", "quiet_hours");
    } else {
      QuietHours h;
      for (auto [key, out] : {std::pair<const char*, std::string*>{"start", &h.start},
                              {"end", &h.end},
                              {"tz", &h.tz}}) {
        auto v = json::required_string(q->as_object(), key);
        if (!v)
          return fail(Errc::malformed, "quiet_hours needs start, end and tz strings",
                      "quiet_hours");
        *out = *v;
      }
      p.quiet_hours = std::optional<QuietHours>(h);
    }
  }
  if (b.contains("keywords") && !b.at("keywords").is_null()) {
    auto k = string_array(b, "keywords");
    if (!k) return fail(k.error());
    p.keywords = *k;
  }
  auto previews = optional_bool(b, "push_previews");
  if (!previews) return fail(previews.error());
  p.push_previews = *previews;
  return p;
}

notifications::NotificationService& service(Context& ctx) { return *ctx.s.notifications; }

}  // namespace

void add_notification_routes(net::Router& r, Context& ctx) {
  if (!ctx.s.notifications) return;

  r.add(net::Method::get, "/api/v1/users/me/notification-settings",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto s = service(ctx).settings(p.user_id);
          if (!s) return fail(s.error());
          return json_response(200, settings_json(*s));
        }));

  r.add(net::Method::patch, "/api/v1/users/me/notification-settings",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto patch = settings_patch(*body);
          if (!patch) return fail(patch.error());
          auto s = service(ctx).update_settings(p.user_id, *patch);
          if (!s) return fail(s.error());
          return json_response(200, settings_json(*s));
        }));

  r.add(net::Method::get, "/api/v1/conversations/{id}/notification-settings",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto s = service(ctx).conversation_settings(p.user_id, std::string(req.param("id")));
          if (!s) return fail(s.error());
          return json_response(200, conversation_settings_json(*s));
        }));

  r.add(net::Method::put, "/api/v1/conversations/{id}/notification-settings",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          ConversationSettings s;
          auto level = json::optional_string(*body, "level");
          if (!level) return fail(level.error());
          s.level = level->value_or("default");
          if (auto* m = body->if_contains("muted_until"); m && !m->is_null()) {
            if (!m->is_int64())
              return fail(Errc::malformed, "muted_until must be a time in ms or null",
                          "muted_until");
            s.muted_until = m->as_int64();
          }
          auto out =
              service(ctx).set_conversation_settings(p.user_id, std::string(req.param("id")), s);
          if (!out) return fail(out.error());
          return json_response(200, conversation_settings_json(*out));
        }));

  r.add(net::Method::get, "/api/v1/push/vapid-key",
        authed(ctx, [&ctx](net::Request&, const auth::Principal&) -> Result<net::Response> {
          return json_response(
              200, boost::json::object{{"public_key", service(ctx).vapid_public_key()}});
        }));

  r.add(net::Method::get, "/api/v1/push/subscriptions",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto subs = service(ctx).subscriptions(p.user_id);
          if (!subs) return fail(subs.error());
          boost::json::array list;
          for (const auto& s : *subs) list.push_back(subscription_json(s));
          return json_response(200, boost::json::object{{"subscriptions", list}});
        }));

  r.add(net::Method::post, "/api/v1/push/subscriptions",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          notifications::NewSubscription in;
          auto endpoint = json::required_string(*body, "endpoint");
          if (!endpoint) return fail(endpoint.error());
          in.endpoint = *endpoint;
          auto* keys = body->if_contains("keys");
          if (!keys || !keys->is_object())
            return fail(Errc::malformed, "keys {p256dh, auth} is required", "keys");
          auto p256dh = json::required_string(keys->as_object(), "p256dh");
          if (!p256dh) return fail(Errc::malformed, "keys.p256dh is required", "keys.p256dh");
          auto auth = json::required_string(keys->as_object(), "auth");
          if (!auth) return fail(Errc::malformed, "keys.auth is required", "keys.auth");
          in.p256dh = *p256dh;
          in.auth = *auth;
          auto device = json::optional_string(*body, "device_name");
          if (!device) return fail(device.error());
          in.device_name = device->value_or("");
          auto s = service(ctx).subscribe(p.user_id, in);
          if (!s) return fail(s.error());
          return json_response(201, subscription_json(*s));
        }));

  r.add(net::Method::patch, "/api/v1/push/subscriptions/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto enabled = optional_bool(*body, "enabled");
          if (!enabled) return fail(enabled.error());
          if (!*enabled) return fail(Errc::malformed, "enabled is required", "enabled");
          auto s = service(ctx).set_subscription_enabled(p.user_id, std::string(req.param("id")),
                                                         **enabled);
          if (!s) return fail(s.error());
          return json_response(200, subscription_json(*s));
        }));

  r.add(net::Method::del, "/api/v1/push/subscriptions/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto r = service(ctx).unsubscribe(p.user_id, std::string(req.param("id")));
          if (!r) return fail(r.error());
          return no_content();
        }));
}

}  // namespace parley::api
