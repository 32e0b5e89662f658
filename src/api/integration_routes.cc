// Bots, incoming and outgoing webhooks and slash commands (API-EXTENSIONS.md "Administration,
// audit, bots"), and what a bot token may do: its principal and the scope of every route a bot
// may use.
#include <strings.h>

#include <algorithm>

#include "context.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"

namespace parley::api {

// ---- bot tokens ----

Result<auth::Principal> authenticate_token(Context& ctx, const std::string& token) {
  if (!integrations::is_bot_token(token)) return ctx.s.auth.authenticate(token);
  if (!ctx.s.integrations) return fail(Errc::unauthenticated, "invalid or revoked token");
  auto b = ctx.s.integrations->authenticate(token);
  if (!b) return fail(b.error());
  auth::Principal p{b->user_id, b->session_id};
  p.bot = true;
  p.scopes = std::move(b->scopes);
  return p;
}

bool has_scope(const auth::Principal& p, std::string_view scope) {
  return std::find(p.scopes.begin(), p.scopes.end(), scope) != p.scopes.end();
}

namespace {

struct ScopedRoute {
  net::Method method;
  std::string_view pattern;
  std::string_view scope;
};

// Every route a bot token may use, with the scope it needs. Anything not here (sessions,
// passwords, profiles, bots, webhooks, uploads...) is a person's business: 403 for bots.
constexpr ScopedRoute kBotRoutes[] = {
    {net::Method::get, "/api/v1/users/me", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/users/{id}", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/users", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/presence", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/conversations", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/conversations/{id}", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/conversations/{id}/members", integrations::kConversationsRead},
    {net::Method::get, "/api/v1/channels", integrations::kConversationsRead},
    {net::Method::post, "/api/v1/conversations/{id}/join", integrations::kConversationsWrite},
    {net::Method::post, "/api/v1/conversations/{id}/leave", integrations::kConversationsWrite},
    {net::Method::post, "/api/v1/conversations/{id}/messages", integrations::kMessagesWrite},
    {net::Method::get, "/api/v1/conversations/{id}/messages", integrations::kMessagesRead},
    {net::Method::get, "/api/v1/messages/{id}", integrations::kMessagesRead},
    {net::Method::patch, "/api/v1/messages/{id}", integrations::kMessagesWrite},
    {net::Method::del, "/api/v1/messages/{id}", integrations::kMessagesWrite},
    {net::Method::get, "/api/v1/messages/{id}/replies", integrations::kMessagesRead},
    {net::Method::put, "/api/v1/messages/{id}/reactions/{emoji}", integrations::kMessagesWrite},
    {net::Method::del, "/api/v1/messages/{id}/reactions/{emoji}", integrations::kMessagesWrite},
    {net::Method::get, "/api/v1/conversations/{id}/pins", integrations::kMessagesRead},
    {net::Method::post, "/api/v1/conversations/{id}/read", integrations::kMessagesRead},
    {net::Method::get, "/api/v1/search/messages", integrations::kMessagesRead},
    {net::Method::get, "/api/v1/files/{id}", integrations::kMessagesRead},
    {net::Method::get, "/api/v1/files/{id}/thumbnail", integrations::kMessagesRead},
    {net::Method::get, "/api/v1/files/{id}/info", integrations::kMessagesRead},
};

// Whether path (no query) matches pattern, "{name}" matching one non-empty segment.
bool matches(std::string_view pattern, std::string_view path) {
  while (!pattern.empty() && !path.empty()) {
    auto pe = pattern.find('/', 1);
    auto se = path.find('/', 1);
    std::string_view ps = pattern.substr(0, pe), ss = path.substr(0, se);
    bool wild = ps.size() > 2 && ps[1] == '{';
    if (wild ? ss.size() < 2 : ps != ss) return false;
    pattern = pe == std::string_view::npos ? std::string_view{} : pattern.substr(pe);
    path = se == std::string_view::npos ? std::string_view{} : path.substr(se);
  }
  return pattern.empty() && path.empty();
}

}  // namespace

Result<void> check_bot_scope(const auth::Principal& p, const net::Request& req) {
  auto method = req.method == net::Method::head ? net::Method::get : req.method;
  for (const auto& r : kBotRoutes) {
    if (r.method != method || !matches(r.pattern, req.path())) continue;
    if (has_scope(p, r.scope)) return ok();
    return fail(Errc::permission_denied, "this token lacks the scope " + std::string(r.scope));
  }
  return fail(Errc::permission_denied, "bot tokens may not use this route");
}

// ---- routes ----

namespace {

std::string id_param(const net::Request& req, std::string_view name = "id") {
  return std::string(req.param(name));
}

Result<integrations::IntegrationService*> service(Context& ctx) {
  if (!ctx.s.integrations) return fail(Errc::unavailable, "integrations are not enabled");
  return ctx.s.integrations;
}

// People manage integrations; a bot token never reaches these routes (check_bot_scope), so this
// is only the service check.
using IntegrationHandler = std::function<Result<net::Response>(
    net::Request&, const auth::Principal&, integrations::IntegrationService&)>;
net::Handler managed(Context& ctx, IntegrationHandler h) {
  return authed(ctx,
                [&ctx, h = std::move(h)](net::Request& req,
                                         const auth::Principal& p) -> Result<net::Response> {
                  auto s = service(ctx);
                  if (!s) return fail(s.error());
                  return h(req, p, **s);
                });
}

boost::json::object token_json(const integrations::TokenInfo& t) {
  boost::json::array scopes;
  for (const auto& s : t.scopes) scopes.push_back(boost::json::value(s));
  boost::json::object o{{"id", t.id}, {"scopes", std::move(scopes)}, {"created_at", t.created_at}};
  o["revoked_at"] = t.revoked_at ? boost::json::value(*t.revoked_at) : boost::json::value(nullptr);
  return o;
}

boost::json::object issued_json(const integrations::IssuedToken& t) {
  auto o = token_json(t.info);
  o["token"] = t.token;
  return o;
}

boost::json::object bot_json(const integrations::Bot& b) {
  boost::json::array tokens;
  for (const auto& t : b.tokens) tokens.push_back(token_json(t));
  return {{"id", b.id},
          {"username", b.username},
          {"display_name", b.display_name},
          {"owner_id", b.owner_id},
          {"created_at", b.created_at},
          {"tokens", std::move(tokens)}};
}

Result<std::optional<std::vector<std::string>>> optional_scopes(const boost::json::object& body) {
  if (!body.contains("scopes") || body.at("scopes").is_null())
    return std::optional<std::vector<std::string>>();
  auto s = string_array(body, "scopes");
  if (!s) return fail(s.error());
  return std::optional<std::vector<std::string>>(std::move(*s));
}

// The absolute URL of an incoming webhook, on the host the caller used (a reverse proxy passes
// X-Forwarded-Proto when it ends TLS).
std::string hook_url(const net::Request& req, const std::string& id, const std::string& secret) {
  std::string_view host = req.header("Host");
  std::string scheme =
      strcasecmp(std::string(req.header("X-Forwarded-Proto")).c_str(), "https") == 0 ? "https"
                                                                                     : "http";
  std::string path = "/api/v1/webhooks/" + id + "/" + secret;
  if (host.empty() || host.find_first_of(" /\\@\r\n") != std::string_view::npos) return path;
  return scheme + "://" + std::string(host) + path;
}

boost::json::object incoming_json(const integrations::IncomingWebhook& w) {
  return {
      {"id", w.id},         {"conversation_id", w.conversation_id}, {"name", w.name},
      {"bot_id", w.bot_id}, {"created_by", w.created_by},           {"created_at", w.created_at}};
}

boost::json::object outgoing_json(const integrations::OutgoingWebhook& w) {
  boost::json::array events;
  for (const auto& e : w.events) events.push_back(boost::json::value(e));
  return {{"id", w.id},
          {"conversation_id", w.conversation_id},
          {"url", w.url},
          {"events", std::move(events)},
          {"created_by", w.created_by},
          {"created_at", w.created_at}};
}

boost::json::object command_object(const integrations::Command& c, bool with_url) {
  boost::json::object o{{"id", c.id},
                        {"trigger", "/" + c.trigger},
                        {"owner_id", c.owner_id},
                        {"created_at", c.created_at}};
  if (with_url) o["url"] = c.url;
  return o;
}

// The Slack-style payload of an incoming webhook: a JSON body, or a form with payload=<JSON>
// as Slack also accepts.
Result<std::string> webhook_payload(const net::Request& req) {
  std::string_view type = req.header("Content-Type");
  if (strncasecmp(std::string(type).c_str(), "application/x-www-form-urlencoded", 33) != 0)
    return req.body;
  std::string_view rest = req.body;
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != "payload" || eq == std::string_view::npos) continue;
    auto decoded = net::url_decode(pair.substr(eq + 1), true);
    if (!decoded) return fail(Errc::malformed, "payload is not URL-encoded", "payload");
    return *decoded;
  }
  return fail(Errc::malformed, "a form body needs a payload field", "payload");
}

void add_bot_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::post, "/api/v1/bots",
        managed(ctx,
                [&ctx](net::Request& req, const auth::Principal& p,
                       integrations::IntegrationService& s) -> Result<net::Response> {
                  auto body = parse_body(req);
                  if (!body) return fail(body.error());
                  integrations::NewBot in;
                  auto username = json::required_string(*body, "username");
                  if (!username) return fail(username.error());
                  in.username = *username;
                  auto display = json::optional_string(*body, "display_name");
                  if (!display) return fail(display.error());
                  in.display_name = *display;
                  auto scopes = optional_scopes(*body);
                  if (!scopes) return fail(scopes.error());
                  in.scopes = std::move(*scopes);
                  auto created = s.create_bot(p.user_id, in);
                  if (!created) return fail(created.error());
                  audit(ctx, req, p.user_id, audit::actions::kBotTokenCreated,
                        audit::target("bot", created->bot.id));
                  return json_response(
                      201, {{"bot", bot_json(created->bot)}, {"token", created->token.token}});
                }));

  r.add(net::Method::get, "/api/v1/bots",
        managed(ctx,
                [](net::Request&, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto bots = s.bots(p.user_id);
                  if (!bots) return fail(bots.error());
                  boost::json::array arr;
                  for (const auto& b : *bots) arr.push_back(bot_json(b));
                  return json_response(200, {{"bots", std::move(arr)}});
                }));

  r.add(net::Method::get, "/api/v1/bots/{id}",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto b = s.bot(p.user_id, id_param(req));
                  if (!b) return fail(b.error());
                  return json_response(200, bot_json(*b));
                }));

  r.add(net::Method::del, "/api/v1/bots/{id}",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  if (auto d = s.delete_bot(p.user_id, id_param(req)); !d) return fail(d.error());
                  return no_content();
                }));

  r.add(net::Method::post, "/api/v1/bots/{id}/tokens",
        managed(ctx,
                [&ctx](net::Request& req, const auth::Principal& p,
                       integrations::IntegrationService& s) -> Result<net::Response> {
                  auto body = req.body.empty() ? Result<boost::json::object>(boost::json::object{})
                                               : parse_body(req);
                  if (!body) return fail(body.error());
                  auto scopes = optional_scopes(*body);
                  if (!scopes) return fail(scopes.error());
                  auto t = s.issue_token(p.user_id, id_param(req), *scopes);
                  if (!t) return fail(t.error());
                  audit(ctx, req, p.user_id, audit::actions::kBotTokenCreated,
                        audit::target("bot", id_param(req)));
                  return json_response(201, issued_json(*t));
                }));

  r.add(net::Method::del, "/api/v1/bots/{id}/tokens/{token_id}",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  if (auto d = s.revoke_token(p.user_id, id_param(req), id_param(req, "token_id"));
                      !d)
                    return fail(d.error());
                  return no_content();
                }));

  r.add(net::Method::post, "/api/v1/bots/{id}/tokens/{token_id}/rotate",
        managed(ctx,
                [&ctx](net::Request& req, const auth::Principal& p,
                       integrations::IntegrationService& s) -> Result<net::Response> {
                  auto t = s.rotate_token(p.user_id, id_param(req), id_param(req, "token_id"));
                  if (!t) return fail(t.error());
                  audit(ctx, req, p.user_id, audit::actions::kBotTokenCreated,
                        audit::target("bot", id_param(req)));
                  return json_response(201, issued_json(*t));
                }));
}

void add_webhook_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::post, "/api/v1/conversations/{id}/webhooks",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto body = parse_body(req);
                  if (!body) return fail(body.error());
                  auto name = json::required_string(*body, "name");
                  if (!name) return fail(name.error());
                  auto created = s.create_incoming(p.user_id, id_param(req), *name);
                  if (!created) return fail(created.error());
                  auto o = incoming_json(created->hook);
                  o["url"] = hook_url(req, created->hook.id, created->secret);
                  return json_response(201, o);
                }));

  r.add(net::Method::get, "/api/v1/conversations/{id}/webhooks",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto hooks = s.incoming(p.user_id, id_param(req));
                  if (!hooks) return fail(hooks.error());
                  boost::json::array arr;
                  for (const auto& h : *hooks) arr.push_back(incoming_json(h));
                  return json_response(200, {{"webhooks", std::move(arr)}});
                }));

  r.add(
      net::Method::del, "/api/v1/conversations/{id}/webhooks/{hook_id}",
      managed(ctx,
              [](net::Request& req, const auth::Principal& p,
                 integrations::IntegrationService& s) -> Result<net::Response> {
                if (auto d = s.delete_incoming(p.user_id, id_param(req), id_param(req, "hook_id"));
                    !d)
                  return fail(d.error());
                return no_content();
              }));

  // The incoming webhook itself: no authentication but the secret in its URL (the access log
  // and metrics name the route's pattern, never the path). Answered "ok" as Slack does, once the
  // message is durable.
  r.add_async(net::Method::post, "/api/v1/webhooks/{id}/{secret}",
              [&ctx](net::Request& req, net::Reply reply) {
                auto done = [reply](Result<net::Response> r) {
                  reply(r ? std::move(*r) : error_response(r.error()));
                };
                auto s = service(ctx);
                if (!s) return done(fail(s.error()));
                if (auto rl = rate_limit(ctx.s.limiter, {{"webhooks:ip:" + ctx.client.of(req),
                                                          ctx.opts.limits.webhooks_per_ip}});
                    !rl)
                  return done(fail(rl.error()));
                auto hook = (*s)->check_incoming(id_param(req), id_param(req, "secret"));
                if (!hook) return done(fail(hook.error()));
                auto payload = webhook_payload(req);
                if (!payload) return done(fail(payload.error()));
                auto text = integrations::render_slack_payload(*payload);
                if (!text) return done(fail(text.error()));
                Send in;
                in.request.conversation_id = hook->conversation_id;
                in.request.text = std::move(*text);
                // Each post is a new message: a webhook has no retry id of its own.
                in.request.client_msg_id = "hook-" + new_id(ctx.s.clock.now_ms());
                send_message(ctx, hook->bot_id, std::move(in),
                             [done](Result<messaging::Appended> sent) {
                               if (!sent) return done(fail(sent.error()));
                               net::Response resp;
                               resp.content_type = "text/plain; charset=utf-8";
                               resp.body = "ok";
                               done(std::move(resp));
                             });
              });

  r.add(net::Method::post, "/api/v1/conversations/{id}/outgoing-webhooks",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto body = parse_body(req);
                  if (!body) return fail(body.error());
                  auto url = json::required_string(*body, "url");
                  if (!url) return fail(url.error());
                  if (!body->contains("events"))
                    return fail(Errc::malformed, "events is required", "events");
                  auto events = string_array(*body, "events");
                  if (!events) return fail(events.error());
                  auto created = s.create_outgoing(p.user_id, id_param(req), *url, *events);
                  if (!created) return fail(created.error());
                  auto o = outgoing_json(created->hook);
                  o["secret"] = created->secret;
                  return json_response(201, o);
                }));

  r.add(net::Method::get, "/api/v1/conversations/{id}/outgoing-webhooks",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto hooks = s.outgoing(p.user_id, id_param(req));
                  if (!hooks) return fail(hooks.error());
                  boost::json::array arr;
                  for (const auto& h : *hooks) arr.push_back(outgoing_json(h));
                  return json_response(200, {{"webhooks", std::move(arr)}});
                }));

  r.add(
      net::Method::del, "/api/v1/conversations/{id}/outgoing-webhooks/{hook_id}",
      managed(ctx,
              [](net::Request& req, const auth::Principal& p,
                 integrations::IntegrationService& s) -> Result<net::Response> {
                if (auto d = s.delete_outgoing(p.user_id, id_param(req), id_param(req, "hook_id"));
                    !d)
                  return fail(d.error());
                return no_content();
              }));
}

void add_command_routes(net::Router& r, Context& ctx) {
  // System admins only: a trigger is server-wide, and whoever registers it receives the text
  // everyone types after it.
  r.add(net::Method::post, "/api/v1/commands",
        managed(ctx,
                [&ctx](net::Request& req, const auth::Principal& p,
                       integrations::IntegrationService& s) -> Result<net::Response> {
                  if (auto admin = require_admin(ctx, p); !admin) return fail(admin.error());
                  auto body = parse_body(req);
                  if (!body) return fail(body.error());
                  auto trigger = json::required_string(*body, "trigger");
                  if (!trigger) return fail(trigger.error());
                  auto url = json::required_string(*body, "url");
                  if (!url) return fail(url.error());
                  auto created = s.create_command(p.user_id, *trigger, *url);
                  if (!created) return fail(created.error());
                  auto o = command_object(created->command, true);
                  o["secret"] = created->secret;
                  return json_response(201, o);
                }));

  // Every command (the composer offers them after "/"); the URL only to its owner.
  r.add(net::Method::get, "/api/v1/commands",
        managed(ctx,
                [](net::Request&, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  auto all = s.commands();
                  if (!all) return fail(all.error());
                  boost::json::array arr;
                  for (const auto& c : *all)
                    arr.push_back(command_object(c, c.owner_id == p.user_id));
                  return json_response(200, {{"commands", std::move(arr)}});
                }));

  r.add(net::Method::del, "/api/v1/commands/{id}",
        managed(ctx,
                [](net::Request& req, const auth::Principal& p,
                   integrations::IntegrationService& s) -> Result<net::Response> {
                  if (auto d = s.delete_command(p.user_id, id_param(req)); !d)
                    return fail(d.error());
                  return no_content();
                }));
}

}  // namespace

void add_integration_routes(net::Router& r, Context& ctx) {
  add_bot_routes(r, ctx);
  add_webhook_routes(r, ctx);
  add_command_routes(r, ctx);
}

}  // namespace parley::api
