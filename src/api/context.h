// What every route file shares: the services, options and helpers. Private to api/.
#pragma once

#include <functional>

#include "api/api.h"
#include "http_support.h"

namespace parley::api {

struct Context {
  Services s;
  ApiOptions opts;
  ClientAddress client;
};

using ResultHandler = std::function<Result<net::Response>(net::Request&)>;
using AuthedHandler = std::function<Result<net::Response>(net::Request&, const auth::Principal&)>;

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
// The per-user message limit, shared by the HTTP route and the WebSocket "send" frame.
Result<void> limit_sends(Context& ctx, const std::string& user_id);
void add_message_routes(net::Router& r, Context& ctx);

}  // namespace parley::api
