#include "context.h"
#include "core/json.h"

namespace parley::api {

void add_user_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::get, "/api/v1/users/me",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto u = ctx.s.users.get(p.user_id);
          if (!u) return fail(u.error());
          return json_response(200, user_json(*u));
        }));

  r.add(net::Method::patch, "/api/v1/users/me",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto display = json::optional_string(*body, "display_name");
          if (!display) return fail(display.error());
          auto status = json::optional_string(*body, "status_text");
          if (!status) return fail(status.error());
          auto u = ctx.s.users.update_profile(p.user_id, {*display, *status});
          if (!u) return fail(u.error());
          auto body_json = user_json(*u);
          ctx.s.messaging.notify_contacts(p.user_id, "user.updated", json::serialize(body_json));
          return json_response(200, body_json);
        }));

  r.add(net::Method::get, "/api/v1/users/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal&) -> Result<net::Response> {
          auto u = ctx.s.users.get(std::string(req.param("id")));
          if (!u) return fail(u.error());
          return json_response(200, user_json(*u));
        }));

  r.add(net::Method::get, "/api/v1/users",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal&) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto q = req.query("q");
          if (!q) return fail(q.error());
          auto cursor = req.query("cursor");
          if (!cursor) return fail(cursor.error());
          auto page = ctx.s.users.search(q->value_or(""), *limit, *cursor);
          if (!page) return fail(page.error());
          boost::json::array arr;
          for (const auto& u : page->users) arr.push_back(user_json(u));
          boost::json::object out{{"users", std::move(arr)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));
}

}  // namespace parley::api
