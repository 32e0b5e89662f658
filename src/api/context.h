// What every route file shares: the services, options and helpers. Private to api/.
#pragma once

#include <functional>

#include "api/api.h"
#include "frames.h"
#include "http_support.h"

namespace parley::api {

struct Context {
  Services s;
  ApiOptions opts;
  ClientAddress client;
  std::vector<ReadinessCheck> readiness;
  std::atomic<bool> draining{false};
};

using ResultHandler = std::function<Result<net::Response>(net::Request&)>;
using AuthedHandler = std::function<Result<net::Response>(net::Request&, const auth::Principal&)>;

// The bearer token's principal, and for a change the mutation limit: what every authenticated
// route goes through (authed() for most; streaming routes call it themselves).
Result<auth::Principal> authorise(Context& ctx, const net::Request& req);
// Turns a Result-returning handler into a net::Handler: errors go through the error table.
net::Handler respond(ResultHandler h);
// The same, after authenticating the bearer token (and, for a change, the mutation limit).
net::Handler authed(Context& ctx, AuthedHandler h);
// authed() for a handler that answers later, through done, from any thread.
using AsyncDone = std::function<void(Result<net::Response>)>;
using AsyncAuthedHandler =
    std::function<void(net::Request&, const auth::Principal&, AsyncDone done)>;
net::AsyncHandler authed_async(Context& ctx, AsyncAuthedHandler h);

// The system-admin gate, one for every /api/v1/admin/... route (this helper's and other
// modules'): the caller's account when it is an active admin, permission_denied (403
// `forbidden`) otherwise. Reads the account on each call, so a revoked role or a deactivation
// takes effect on the next request. Blocking: call on a worker thread.
Result<users::User> require_admin(Context& ctx, const auth::Principal& p);
// authed() / authed_async() behind require_admin(): h runs only for admins.
net::Handler admin_authed(Context& ctx, AuthedHandler h);
net::AsyncHandler admin_authed_async(Context& ctx, AsyncAuthedHandler h);

void add_ops_routes(net::Router& r, Context& ctx);
void add_auth_routes(net::Router& r, Context& ctx);
void add_user_routes(net::Router& r, Context& ctx);
void add_conversation_routes(net::Router& r, Context& ctx);
// The send path of both transports (the HTTP route and the WebSocket "send" frame), on a worker
// thread: the per-user message limit, the attachments resolved by the files module, the append
// (done gets it once durable, from any thread), then link previews and outgoing webhooks in the
// background.
//
// Slash commands: when on_command is set and the text is "/trigger ...", the command runs
// instead (on the integration pool) and its outcome goes to on_command, not done: an in_channel
// answer is posted through this same path in the caller's name, an ephemeral one goes to the
// caller's sessions as a command.response event. A text starting with "//" is sent with one
// slash less. Without on_command, or with attachments, the text is sent as it is.
struct CommandOutcome {
  integrations::CommandAnswer answer;
  std::optional<messaging::Message> message;  // the in_channel answer as posted
};
using CommandDone = std::function<void(Result<CommandOutcome>)>;
void send_message(Context& ctx, const std::string& user_id, Send in,
                  messaging::MessagingService::SendDone done, CommandDone on_command = {});
// The JSON answer to a command (HTTP body, WebSocket ack field).
boost::json::object command_json(const CommandOutcome& c);
// Fills a message's link previews in the background (after a send or an edit).
void preview_links(Context& ctx, const messaging::Message& m);
void add_message_routes(net::Router& r, Context& ctx);
void add_admin_routes(net::Router& r, Context& ctx);
// Records an audit event with the request's client address (admin_routes.cc). A failure is
// logged by the audit log and does not undo the action.
void audit(Context& ctx, const net::Request& req, const std::string& actor_id, const char* action,
           std::string target);
// Bots, incoming and outgoing webhooks, slash commands (integration_routes.cc).
void add_integration_routes(net::Router& r, Context& ctx);
// GET /api/v1/openapi.json: the OpenAPI document embedded at build time (openapi.cc).
void add_openapi_route(net::Router& r);
// A bearer token's principal, for HTTP and the WebSocket hello alike: a bot token ("pbt_...")
// through the integrations module, anything else through auth.
Result<auth::Principal> authenticate_token(Context& ctx, const std::string& token);
// Whether a bot principal's scopes allow this request: every route a bot may use is listed
// with the scope it needs (integration_routes.cc); any other route is forbidden to bots.
Result<void> check_bot_scope(const auth::Principal& p, const net::Request& req);
bool has_scope(const auth::Principal& p, std::string_view scope);
void add_file_routes(net::Router& r, Context& ctx);
// Retention policies, data exports and usage analytics (data_routes.cc); none without the
// governance services.
void add_data_routes(net::Router& r, Context& ctx);
// Single sign-on: /auth/providers and the OpenID Connect routes (registered always, so the
// route table does not depend on configuration; without ctx.s.sso there are no providers).
void add_sso_routes(net::Router& r, Context& ctx);
// 403 password_login_disabled, for sign-in and registration under --disable-password-login.
net::Response password_login_disabled();
// Email and phone of the caller, their verification, password reset by email.
void add_contact_routes(net::Router& r, Context& ctx);
// GET /api/v1/calls/ice-servers, /api/v1/calls (running calls), /api/v1/calls/{id}.
void add_call_routes(net::Router& r, Context& ctx);
void add_ai_routes(net::Router& r, Context& ctx);
// Notification settings and push subscriptions; none when the service is not wired.
void add_notification_routes(net::Router& r, Context& ctx);
// The bytes of a file (or its thumbnail) as an HTTP answer, for every route that sends file
// bytes (file_routes.cc; avatars in user_routes.cc): ETag and If-None-Match, Range, and the
// headers that keep uploaded content from running in Parley's origin (nosniff, a sandbox CSP).
net::Response serve_content(Context& ctx, const net::Request& req, const files::Content& c,
                            bool thumbnail,
                            std::string_view cache_control = "private, max-age=86400");

}  // namespace parley::api
