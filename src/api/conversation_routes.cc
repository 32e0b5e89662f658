// Conversations, channels, members and presence routes (API.md "Conversations", "Users and
// presence").
#include "context.h"
#include "core/json.h"

namespace parley::api {
namespace {

using messaging::ConversationView;

boost::json::object member_json(Context& ctx, const messaging::Member& m) {
  boost::json::object o{{"user_id", m.user_id},
                        {"role", messaging::to_string(m.role)},
                        {"joined_at", m.joined_at}};
  auto u = ctx.s.users.get(m.user_id);
  o["user"] = u ? boost::json::value(user_json(*u)) : boost::json::value(nullptr);
  return o;
}

boost::json::array members_json(Context& ctx, const std::vector<messaging::Member>& ms) {
  boost::json::array arr;
  for (const auto& m : ms) arr.push_back(member_json(ctx, m));
  return arr;
}

std::string id_param(const net::Request& req, std::string_view name = "id") {
  return std::string(req.param(name));
}

}  // namespace

void add_conversation_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::post, "/api/v1/conversations",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          messaging::NewConversation in;
          auto type = json::required_string(*body, "type");
          if (!type) return fail(type.error());
          in.type = *type;
          if ((in.type == "dm" || in.type == "group") && !body->contains("member_ids"))
            return fail(Errc::malformed, "member_ids is required", "member_ids");
          auto ids = string_array(*body, "member_ids");
          if (!ids) return fail(ids.error());
          in.member_ids = std::move(*ids);
          auto name = json::optional_string(*body, "name");
          if (!name) return fail(name.error());
          in.name = *name;
          auto topic = json::optional_string(*body, "topic");
          if (!topic) return fail(topic.error());
          in.topic = *topic;
          auto vis = json::optional_string(*body, "visibility");
          if (!vis) return fail(vis.error());
          in.visibility = *vis;
          // Each new conversation puts the caller in front of others (and adds them to groups).
          if (auto rl = rate_limit(ctx.s.limiter, {{"conversations:user:" + p.user_id,
                                                    ctx.opts.limits.conversations_per_user}});
              !rl)
            return fail(rl.error());
          auto created = ctx.s.messaging.create(p.user_id, in);
          if (!created) return fail(created.error());
          return json_response(created->created ? 201 : 200, messaging::to_json(created->view));
        }));

  r.add(net::Method::get, "/api/v1/conversations",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto cursor = req.query("cursor");
          if (!cursor) return fail(cursor.error());
          auto page = ctx.s.messaging.list(p.user_id, *limit, *cursor);
          if (!page) return fail(page.error());
          boost::json::array arr;
          for (const auto& v : page->conversations) arr.push_back(messaging::to_json(v));
          boost::json::object out{{"conversations", std::move(arr)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));

  r.add(net::Method::get, "/api/v1/conversations/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto v = ctx.s.messaging.get(p.user_id, id_param(req));
          if (!v) return fail(v.error());
          return json_response(200, messaging::to_json(*v));
        }));

  r.add(net::Method::patch, "/api/v1/conversations/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto name = json::optional_string(*body, "name");
          if (!name) return fail(name.error());
          auto topic = json::optional_string(*body, "topic");
          if (!topic) return fail(topic.error());
          auto v = ctx.s.messaging.update(p.user_id, id_param(req), *name, *topic);
          if (!v) return fail(v.error());
          return json_response(200, messaging::to_json(*v));
        }));

  r.add(net::Method::get, "/api/v1/channels",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto q = req.query("q");
          if (!q) return fail(q.error());
          auto cursor = req.query("cursor");
          if (!cursor) return fail(cursor.error());
          auto page = ctx.s.messaging.browse(p.user_id, q->value_or(""), *limit, *cursor);
          if (!page) return fail(page.error());
          boost::json::array arr;
          for (const auto& c : page->channels) arr.push_back(messaging::to_json(c));
          boost::json::object out{{"channels", std::move(arr)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));

  r.add(net::Method::post, "/api/v1/conversations/{id}/join",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto v = ctx.s.messaging.join(p.user_id, id_param(req));
          if (!v) return fail(v.error());
          return json_response(200, messaging::to_json(*v));
        }));

  r.add(net::Method::post, "/api/v1/conversations/{id}/leave",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          if (auto v = ctx.s.messaging.leave(p.user_id, id_param(req)); !v) return fail(v.error());
          return no_content();
        }));

  for (bool on : {true, false}) {
    r.add(on ? net::Method::put : net::Method::del, "/api/v1/conversations/{id}/star",
          authed(ctx,
                 [&ctx, on](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                   if (auto d = ctx.s.messaging.set_starred(p.user_id, id_param(req), on); !d)
                     return fail(d.error());
                   return no_content();
                 }));
    r.add(net::Method::post,
          on ? "/api/v1/conversations/{id}/archive" : "/api/v1/conversations/{id}/unarchive",
          authed(ctx,
                 [&ctx, on](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
                   auto v = ctx.s.messaging.set_archived(p.user_id, id_param(req), on);
                   if (!v) return fail(v.error());
                   return json_response(200, messaging::to_json(*v));
                 }));
  }

  r.add(net::Method::get, "/api/v1/conversations/{id}/members",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto cursor = req.query("cursor");
          if (!cursor) return fail(cursor.error());
          auto page = ctx.s.messaging.members(p.user_id, id_param(req), *limit, *cursor);
          if (!page) return fail(page.error());
          boost::json::object out{{"members", members_json(ctx, page->members)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));

  r.add(net::Method::post, "/api/v1/conversations/{id}/members",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          if (!body->contains("user_ids"))
            return fail(Errc::malformed, "user_ids is required", "user_ids");
          auto ids = string_array(*body, "user_ids");
          if (!ids) return fail(ids.error());
          auto added = ctx.s.messaging.add_members(p.user_id, id_param(req), *ids);
          if (!added) return fail(added.error());
          return json_response(200, {{"members", members_json(ctx, *added)}});
        }));

  r.add(net::Method::del, "/api/v1/conversations/{id}/members/{user_id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto done =
              ctx.s.messaging.remove_member(p.user_id, id_param(req), id_param(req, "user_id"));
          if (!done) return fail(done.error());
          return no_content();
        }));

  r.add(net::Method::patch, "/api/v1/conversations/{id}/members/{user_id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto role = json::required_string(*body, "role");
          if (!role) return fail(role.error());
          auto m = ctx.s.messaging.set_role(p.user_id, id_param(req), id_param(req, "user_id"),
                                            *role);
          if (!m) return fail(m.error());
          return json_response(200, member_json(ctx, *m));
        }));

  r.add(net::Method::get, "/api/v1/presence",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto raw = req.query("user_ids");
          if (!raw) return fail(raw.error());
          if (!*raw) return fail(Errc::malformed, "user_ids is required", "user_ids");
          std::vector<std::string> ids;
          std::string_view rest = **raw;
          while (!rest.empty()) {
            auto comma = rest.find(',');
            auto id = rest.substr(0, comma);
            if (!id.empty()) ids.emplace_back(id);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
          }
          auto found = ctx.s.presence.get(p.user_id, ids);
          if (!found) return fail(found.error());
          boost::json::array arr;
          for (const auto& pr : *found) arr.push_back(presence::to_json(pr));
          return json_response(200, {{"presence", std::move(arr)}});
        }));

  r.add(net::Method::put, "/api/v1/users/me/presence",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto status = json::required_string(*body, "status");
          if (!status) return fail(status.error());
          auto pr = ctx.s.presence.set_status(p.user_id, *status);
          if (!pr) return fail(pr.error());
          return json_response(200, presence::to_json(*pr));
        }));
}

}  // namespace parley::api
