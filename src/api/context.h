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
void add_file_routes(net::Router& r, Context& ctx);
// Notification settings and push subscriptions; none when the service is not wired.
void add_notification_routes(net::Router& r, Context& ctx);
// The bytes of a file (or its thumbnail) as an HTTP answer, for every route that sends file
// bytes (file_routes.cc; avatars in user_routes.cc): ETag and If-None-Match, Range, and the
// headers that keep uploaded content from running in Parley's origin (nosniff, a sandbox CSP).
net::Response serve_content(Context& ctx, const net::Request& req, const files::Content& c,
                            bool thumbnail,
                            std::string_view cache_control = "private, max-age=86400");

}  // namespace parley::api
