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
// (done gets it once durable, from any thread), then link previews in the background.
void send_message(Context& ctx, const std::string& user_id, Send in,
                  messaging::MessagingService::SendDone done);
// Fills a message's link previews in the background (after a send or an edit).
void preview_links(Context& ctx, const messaging::Message& m);
void add_message_routes(net::Router& r, Context& ctx);
void add_admin_routes(net::Router& r, Context& ctx);
// Records an audit event with the request's client address (admin_routes.cc). A failure is
// logged by the audit log and does not undo the action.
void audit(Context& ctx, const net::Request& req, const std::string& actor_id, const char* action,
           std::string target);
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
// The bytes of a file (or its thumbnail) as an HTTP answer, for every route that sends file
// bytes (file_routes.cc; avatars in user_routes.cc): ETag and If-None-Match, Range, and the
// headers that keep uploaded content from running in Parley's origin (nosniff, a sandbox CSP).
net::Response serve_content(Context& ctx, const net::Request& req, const files::Content& c,
                            bool thumbnail,
                            std::string_view cache_control = "private, max-age=86400");

}  // namespace parley::api
