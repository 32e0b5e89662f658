#include "context.h"
#include "core/json.h"

namespace parley::api {
namespace {

// The caller's own settings that only they see (their language for translations), added to
// their profile answers.
void add_own_settings(Context& ctx, boost::json::object& body, const std::string& user_id) {
  if (!ctx.s.ai) return;
  auto lang = ctx.s.ai->language(user_id);
  body["language"] = lang && !lang->empty() ? boost::json::value(*lang) : nullptr;
}

// The profile as the caller now has it, and as their contacts learn it (user.updated).
net::Response updated(Context& ctx, const users::User& u) {
  auto body = user_json(u);
  ctx.s.messaging.notify_contacts(u.id, "user.updated", json::serialize(body));
  auto own = user_json(u, true);  // the caller's own: with their role
  add_own_settings(ctx, own, u.id);
  return json_response(200, own);
}

// Whether the caller may see other users' roles (admins may).
bool sees_roles(Context& ctx, const auth::Principal& p) {
  auto me = ctx.s.users.get(p.user_id);
  return me && me->role == users::Role::admin;
}

// What the files module says about file_id as the caller's avatar: a file the caller may not
// see is refused like one that does not exist (422 on file_id).
Result<users::AvatarImage> avatar_candidate(Context& ctx, const std::string& caller,
                                            const std::string& file_id) {
  users::AvatarImage img;
  img.file_id = file_id;
  auto f = ctx.s.files.file(caller, file_id);
  if (!f) {
    if (f.error().code == Errc::not_found)
      return fail(Errc::invalid_argument, "file_id must name a file you uploaded", "file_id");
    return fail(f.error());
  }
  img.created_by = f->created_by;
  img.width = f->width;
  // Ready means its bytes may be served: not waiting for a scan, not quarantined.
  auto c = ctx.s.files.content(caller, file_id, false);
  if (c) {
    img.ready = true;
  } else if (c.error().code != Errc::failed_precondition &&
             c.error().code != Errc::permission_denied) {
    return fail(c.error());
  }
  return img;
}

}  // namespace

void add_user_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::get, "/api/v1/users/me",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto u = ctx.s.users.get(p.user_id);
          if (!u) return fail(u.error());
          auto body = user_json(*u, true);
          add_own_settings(ctx, body, p.user_id);
          return json_response(200, body);
        }));

  r.add(net::Method::patch, "/api/v1/users/me",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto display = json::optional_string(*body, "display_name");
          if (!display) return fail(display.error());
          auto status = json::optional_string(*body, "status_text");
          if (!status) return fail(status.error());
          auto timezone = json::optional_string(*body, "timezone");
          if (!timezone) return fail(timezone.error());
          auto language = json::optional_string(*body, "language");
          if (!language) return fail(language.error());
          if (*language && ctx.s.ai)
            if (auto l = ctx.s.ai->set_language(p.user_id, **language); !l) return fail(l.error());
          auto u = ctx.s.users.update_profile(p.user_id, {*display, *status, *timezone});
          if (!u) return fail(u.error());
          return updated(ctx, *u);
        }));

  r.add(net::Method::put, "/api/v1/users/me/avatar",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto body = parse_body(req);
          if (!body) return fail(body.error());
          auto file_id = json::required_string(*body, "file_id");
          if (!file_id) return fail(file_id.error());
          auto img = avatar_candidate(ctx, p.user_id, *file_id);
          if (!img) return fail(img.error());
          auto u = ctx.s.users.set_avatar(p.user_id, *img);
          if (!u) return fail(u.error());
          return updated(ctx, *u);
        }));

  r.add(net::Method::del, "/api/v1/users/me/avatar",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto u = ctx.s.users.clear_avatar(p.user_id);
          if (!u) return fail(u.error());
          return updated(ctx, *u);
        }));

  // No token: an <img> cannot send one, and avatars are directory data every user may see. It
  // answers only for a file that is someone's avatar now (anything else is the same 404), so
  // the URL stops working when the avatar changes; hence it may be cached publicly.
  r.add(net::Method::get, "/api/v1/avatars/{file_id}",
        respond([&ctx](net::Request& req) -> Result<net::Response> {
          const std::string file_id(req.param("file_id"));
          auto owner = ctx.s.users.find_by_avatar(file_id);
          if (!owner) return fail(owner.error());
          auto c = ctx.s.files.public_content(file_id, false);
          if (c && c->file.has_thumbnail) c = ctx.s.files.public_content(file_id, true);
          if (!c) return fail(c.error());
          return serve_content(ctx, req, *c, c->file.has_thumbnail, "public, max-age=86400");
        }));

  r.add(net::Method::get, "/api/v1/users/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto u = ctx.s.users.get(std::string(req.param("id")));
          if (!u) return fail(u.error());
          return json_response(200, user_json(*u, u->id == p.user_id || sees_roles(ctx, p)));
        }));

  r.add(net::Method::get, "/api/v1/users",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto limit = page_limit(req);
          if (!limit) return fail(limit.error());
          auto q = req.query("q");
          if (!q) return fail(q.error());
          auto cursor = req.query("cursor");
          if (!cursor) return fail(cursor.error());
          auto page = ctx.s.users.search(q->value_or(""), *limit, *cursor);
          if (!page) return fail(page.error());
          const bool roles = sees_roles(ctx, p);
          boost::json::array arr;
          for (const auto& u : page->users) arr.push_back(user_json(u, roles || u.id == p.user_id));
          boost::json::object out{{"users", std::move(arr)}};
          if (page->next_cursor) out["next_cursor"] = *page->next_cursor;
          return json_response(200, out);
        }));
}

}  // namespace parley::api
