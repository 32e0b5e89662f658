// /api/v1/admin/...: the system administrators' API (docs/administration.md). Every route here
// goes through admin_authed(), so a non-admin gets 403 `forbidden` before anything is read; the
// work is the admin module's, which records each change in the audit log.
#include "context.h"
#include "core/json.h"
#include "core/log.h"

namespace parley::api {
namespace {

// The user as an admin sees it: the public object, the role, the email and the account's state.
boost::json::object admin_user_json(Context& ctx, const users::User& u) {
  auto o = user_json(u, true);
  o["email"] = u.email ? boost::json::value(*u.email) : boost::json::value(nullptr);
  o["deactivated"] = u.deactivated_at.has_value();
  o["deactivated_at"] =
      u.deactivated_at ? boost::json::value(*u.deactivated_at) : boost::json::value(nullptr);
  auto totp = ctx.s.auth.second_factor_enabled(u.id);
  o["totp_enabled"] = totp && *totp;
  return o;
}

boost::json::object settings_json(const admin::Settings& s) {
  boost::json::array domains;
  for (const auto& d : s.allowed_email_domains) domains.push_back(boost::json::string(d));
  return {{"registration", admin::mode_name(s.registration)},
          {"allowed_email_domains", std::move(domains)}};
}

boost::json::object invite_json(const admin::Invite& i) {
  auto opt = [](const std::optional<Millis>& v) {
    return v ? boost::json::value(*v) : boost::json::value(nullptr);
  };
  return {{"id", i.id},
          {"created_by", i.created_by},
          {"created_at", i.created_at},
          {"expires_at", opt(i.expires_at)},
          {"max_uses", i.max_uses},
          {"uses", i.uses},
          {"revoked_at", opt(i.revoked_at)}};
}

boost::json::object channel_json(Context& ctx, const messaging::Conversation& c) {
  auto o = messaging::to_json(c);
  auto owner = ctx.s.messaging.owner_of(c.id);
  o["owner_id"] =
      owner && !owner->empty() ? boost::json::value(*owner) : boost::json::value(nullptr);
  return o;
}

admin::Actor actor(Context& ctx, const net::Request& req, const auth::Principal& p) {
  return {p.user_id, ctx.client.of(req)};
}

std::string id_param(const net::Request& req) { return std::string(req.param("id")); }

// The user {id} as an admin sees it, after a change.
Result<net::Response> user_answer(Context& ctx, const Result<users::User>& u) {
  if (!u) return fail(u.error());
  return json_response(200, admin_user_json(ctx, *u));
}

// An optional integer field of a JSON body: nullopt when absent or null, malformed otherwise.
Result<std::optional<std::int64_t>> optional_int(const boost::json::object& o,
                                                 std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<std::int64_t>();
  if (it->value().is_int64()) return std::optional<std::int64_t>(it->value().as_int64());
  if (it->value().is_uint64() && it->value().as_uint64() <= 1ULL << 53)
    return std::optional<std::int64_t>(static_cast<std::int64_t>(it->value().as_uint64()));
  return fail(Errc::malformed, std::string(key) + " must be an integer", std::string(key));
}

// The query of a searchable list: q (default ""), cursor, limit.
struct ListQuery {
  std::string q;
  std::optional<std::string> cursor;
  int limit = 50;
};

Result<ListQuery> list_query(const net::Request& req) {
  auto limit = page_limit(req);
  if (!limit) return fail(limit.error());
  auto q = req.query("q");
  if (!q) return fail(q.error());
  auto cursor = req.query("cursor");
  if (!cursor) return fail(cursor.error());
  return ListQuery{q->value_or(""), *cursor, *limit};
}

void add_admin_user_routes(net::Router& r, Context& ctx) {
  r.add(
      net::Method::get, "/api/v1/admin/users",
      admin_authed(ctx, [&ctx](net::Request& req, const auth::Principal&) -> Result<net::Response> {
        auto lq = list_query(req);
        if (!lq) return fail(lq.error());
        auto page = ctx.s.users.search(lq->q, lq->limit, lq->cursor);
        if (!page) return fail(page.error());
        boost::json::array arr;
        for (const auto& u : page->users) arr.push_back(admin_user_json(ctx, u));
        boost::json::object out{{"users", std::move(arr)}};
        if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
        return json_response(200, out);
      }));

  r.add(net::Method::get, "/api/v1/admin/users/{id}",
        admin_authed(ctx, [&ctx](net::Request& req, const auth::Principal&) {
          return user_answer(ctx, ctx.s.users.get(id_param(req)));
        }));

  r.add(net::Method::post, "/api/v1/admin/users/{id}/deactivate",
        admin_authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) {
          auto u = ctx.s.admin->deactivate(actor(ctx, req, p), id_param(req));
          // People's sockets close with their revoked sessions; bots' (theirs, or the bot's
          // own) hold no session to revoke.
          if (u && ctx.s.integrations)
            if (auto r = ctx.s.integrations->disconnect_bots(u->id); !r)
              log::warn("deactivate: closing bot sockets failed", {{"error", r.error().message}});
          return user_answer(ctx, std::move(u));
        }));

  r.add(net::Method::post, "/api/v1/admin/users/{id}/reactivate",
        admin_authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) {
          return user_answer(ctx, ctx.s.admin->reactivate(actor(ctx, req, p), id_param(req)));
        }));

  r.add(net::Method::post, "/api/v1/admin/users/{id}/reset-2fa",
        admin_authed(
            ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
              auto done = ctx.s.admin->reset_second_factor(actor(ctx, req, p), id_param(req));
              if (!done) return fail(done.error());
              return no_content();
            }));

  r.add(net::Method::post, "/api/v1/admin/users/{id}/sign-out",
        admin_authed(ctx,
                     [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                       auto n = ctx.s.admin->sign_out(actor(ctx, req, p), id_param(req));
                       if (!n) return fail(n.error());
                       return json_response(200, {{"sessions_ended", *n}});
                     }));

  r.add(net::Method::put, "/api/v1/admin/users/{id}/role",
        admin_authed(ctx,
                     [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                       auto body = parse_body(req);
                       if (!body) return fail(body.error());
                       auto name = json::required_string(*body, "role");
                       if (!name) return fail(name.error());
                       auto role = users::parse_role(*name);
                       if (!role)
                         return fail(Errc::invalid_argument, "role must be user or admin", "role");
                       return user_answer(
                           ctx, ctx.s.admin->set_role(actor(ctx, req, p), id_param(req), *role));
                     }));
}

void add_admin_channel_routes(net::Router& r, Context& ctx) {
  r.add(
      net::Method::get, "/api/v1/admin/channels",
      admin_authed(ctx, [&ctx](net::Request& req, const auth::Principal&) -> Result<net::Response> {
        auto lq = list_query(req);
        if (!lq) return fail(lq.error());
        auto page = ctx.s.messaging.all_channels(lq->q, lq->limit, lq->cursor);
        if (!page) return fail(page.error());
        boost::json::array arr;
        for (const auto& c : page->channels) arr.push_back(channel_json(ctx, c));
        boost::json::object out{{"channels", std::move(arr)}};
        if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
        return json_response(200, out);
      }));

  auto archive = [&ctx](bool archived) {
    return admin_authed(
        ctx,
        [&ctx, archived](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto c = ctx.s.admin->set_channel_archived(actor(ctx, req, p), id_param(req), archived);
          if (!c) return fail(c.error());
          return json_response(200, channel_json(ctx, *c));
        });
  };
  r.add(net::Method::post, "/api/v1/admin/channels/{id}/archive", archive(true));
  r.add(net::Method::post, "/api/v1/admin/channels/{id}/unarchive", archive(false));

  r.add(net::Method::put, "/api/v1/admin/channels/{id}/owner",
        admin_authed(
            ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
              auto body = parse_body(req);
              if (!body) return fail(body.error());
              auto user_id = json::required_string(*body, "user_id");
              if (!user_id) return fail(user_id.error());
              auto m = ctx.s.admin->set_channel_owner(actor(ctx, req, p), id_param(req), *user_id);
              if (!m) {
                // An unknown user is a bad value in the body, not a missing channel.
                if (m.error().code == Errc::not_found && m.error().field == "user_id")
                  return fail(Errc::invalid_argument, "user_id names no user", "user_id");
                return fail(m.error());
              }
              auto c = ctx.s.messaging.channel_for_admin(id_param(req));
              if (!c) return fail(c.error());
              return json_response(200, channel_json(ctx, *c));
            }));
}

void add_admin_settings_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::get, "/api/v1/admin/settings",
        admin_authed(ctx, [&ctx](net::Request&, const auth::Principal&) -> Result<net::Response> {
          auto s = ctx.s.admin->settings();
          if (!s) return fail(s.error());
          return json_response(200, settings_json(*s));
        }));

  r.add(net::Method::patch, "/api/v1/admin/settings",
        admin_authed(ctx,
                     [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                       auto body = parse_body(req);
                       if (!body) return fail(body.error());
                       admin::SettingsPatch patch;
                       auto mode = json::optional_string(*body, "registration");
                       if (!mode) return fail(mode.error());
                       patch.registration = *mode;
                       if (body->contains("allowed_email_domains")) {
                         auto domains = string_array(*body, "allowed_email_domains");
                         if (!domains) return fail(domains.error());
                         patch.allowed_email_domains = std::move(*domains);
                       }
                       auto s = ctx.s.admin->update_settings(actor(ctx, req, p), patch);
                       if (!s) return fail(s.error());
                       return json_response(200, settings_json(*s));
                     }));

  r.add(net::Method::get, "/api/v1/admin/invites",
        admin_authed(ctx, [&ctx](net::Request&, const auth::Principal&) -> Result<net::Response> {
          auto list = ctx.s.admin->invites();
          if (!list) return fail(list.error());
          boost::json::array arr;
          for (const auto& i : *list) arr.push_back(invite_json(i));
          return json_response(200, {{"invites", std::move(arr)}});
        }));

  r.add(net::Method::post, "/api/v1/admin/invites",
        admin_authed(
            ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
              auto body = parse_body(req);
              if (!body) return fail(body.error());
              auto expires_in = optional_int(*body, "expires_in");
              if (!expires_in) return fail(expires_in.error());
              auto max_uses = optional_int(*body, "max_uses");
              if (!max_uses) return fail(max_uses.error());
              admin::NewInvite in;
              if (*expires_in) {
                if (**expires_in <= 0 || **expires_in > 10LL * 365 * 24 * 3600)
                  return fail(Errc::invalid_argument, "expires_in must be 60 seconds to 365 days",
                              "expires_in");
                in.expires_in_ms = **expires_in * 1000;
              }
              if (*max_uses) {
                if (**max_uses < 0 || **max_uses > 1'000'000)
                  return fail(Errc::invalid_argument, "max_uses must be 0 (unlimited) to 10000",
                              "max_uses");
                in.max_uses = static_cast<int>(**max_uses);
              }
              auto created = ctx.s.admin->create_invite(actor(ctx, req, p), in);
              if (!created) return fail(created.error());
              return json_response(
                  201, {{"invite", invite_json(created->invite)}, {"token", created->token}});
            }));

  r.add(net::Method::del, "/api/v1/admin/invites/{id}",
        admin_authed(ctx,
                     [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                       auto inv = ctx.s.admin->revoke_invite(actor(ctx, req, p), id_param(req));
                       if (!inv) return fail(inv.error());
                       return no_content();
                     }));
}

void add_admin_audit_routes(net::Router& r, Context& ctx) {
  r.add(
      net::Method::get, "/api/v1/admin/audit",
      admin_authed(ctx, [&ctx](net::Request& req, const auth::Principal&) -> Result<net::Response> {
        auto limit = page_limit(req);
        if (!limit) return fail(limit.error());
        auto actor_q = req.query("actor");
        if (!actor_q) return fail(actor_q.error());
        auto action = req.query("action");
        if (!action) return fail(action.error());
        auto cursor = req.query("cursor");
        if (!cursor) return fail(cursor.error());
        auto blank_is_none = [](const std::optional<std::string>& v) {
          return v && !v->empty() ? v : std::nullopt;
        };
        auto page = ctx.s.audit->list(blank_is_none(*actor_q), blank_is_none(*action),
                                      blank_is_none(*cursor), *limit);
        if (!page) return fail(page.error());
        boost::json::array arr;
        for (const auto& e : page->events)
          arr.push_back({{"id", e.id},
                         {"at", e.at},
                         {"actor_id", e.actor_id.empty() ? boost::json::value(nullptr)
                                                         : boost::json::value(e.actor_id)},
                         {"action", e.action},
                         {"target", e.target},
                         {"ip", e.ip}});
        boost::json::object out{{"events", std::move(arr)}};
        if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
        return json_response(200, out);
      }));
}

}  // namespace

void add_admin_routes(net::Router& r, Context& ctx) {
  add_admin_user_routes(r, ctx);
  add_admin_channel_routes(r, ctx);
  add_admin_settings_routes(r, ctx);
  add_admin_audit_routes(r, ctx);
}

void audit(Context& ctx, const net::Request& req, const std::string& actor_id, const char* action,
           std::string target) {
  (void)ctx.s.audit->record({actor_id, action, std::move(target), ctx.client.of(req)});
}

}  // namespace parley::api
