#include "api/api.h"

#include "context.h"
#include "core/log.h"
#include "core/metrics.h"
#include "gateway.h"
#include "static_files.h"

namespace parley::api {

net::Handler respond(ResultHandler h) {
  return [h = std::move(h)](net::Request& req) -> net::Response {
    auto r = h(req);
    return r ? std::move(*r) : error_response(r.error());
  };
}

// The bearer token's principal; every authenticated change is also limited here, so a new route
// cannot forget it.
Result<auth::Principal> authorise(Context& ctx, const net::Request& req) {
  auto p = authenticate(ctx.s.auth, req);
  if (!p) return p;
  if (req.method != net::Method::get && req.method != net::Method::head)
    if (auto rl = rate_limit(ctx.s.limiter, {{"mutations:user:" + p->user_id,
                                              ctx.opts.limits.mutations_per_user}});
        !rl)
      return fail(rl.error());
  return p;
}

net::Handler authed(Context& ctx, AuthedHandler h) {
  return respond([&ctx, h = std::move(h)](net::Request& req) -> Result<net::Response> {
    auto p = authorise(ctx, req);
    if (!p) return fail(p.error());
    return h(req, *p);
  });
}

net::AsyncHandler authed_async(Context& ctx, AsyncAuthedHandler h) {
  return [&ctx, h = std::move(h)](net::Request& req, net::Reply reply) {
    auto done = [reply = std::move(reply)](Result<net::Response> r) {
      reply(r ? std::move(*r) : error_response(r.error()));
    };
    auto p = authorise(ctx, req);
    if (!p) return done(fail(p.error()));
    h(req, *p, std::move(done));
  };
}

void add_ops_routes(net::Router& r, Context& ctx) {
  r.add(
      net::Method::get, "/api/v1/health",
      [&ctx](net::Request&) {
        return json_response(200, {{"status", "ok"}, {"version", ctx.opts.version}});
      },
      true);
  r.add(
      net::Method::get, "/metrics",
      [](net::Request&) {
        net::Response resp;
        resp.content_type = "text/plain; version=0.0.4";
        resp.body = metrics::render_text();
        return resp;
      },
      true);
}

struct Api::Impl {
  Context ctx;
  std::unique_ptr<Gateway> gateway;
};

Api::Api(Services services, ApiOptions options)
    : impl_(std::make_unique<Impl>(Impl{Context{services, std::move(options), {}}, nullptr})) {}

Api::~Api() = default;

Result<void> Api::init() {
  if (auto r = impl_->ctx.client.init(impl_->ctx.opts.trusted_proxies); !r) return r;
  impl_->gateway = std::make_unique<Gateway>(impl_->ctx);
  return ok();
}

void Api::register_routes(net::Router& router) {
  add_ops_routes(router, impl_->ctx);
  add_auth_routes(router, impl_->ctx);
  add_user_routes(router, impl_->ctx);
  add_conversation_routes(router, impl_->ctx);
  add_message_routes(router, impl_->ctx);
  add_file_routes(router, impl_->ctx);
  if (auto n = add_static_routes(router, impl_->ctx.opts.web_root); !n)
    log::error("web app not served", {{"reason", n.error().message}});
  else if (*n)
    log::info("serving the web app", {{"web_root", impl_->ctx.opts.web_root}, {"files", *n}});
}

net::WsFactory Api::websocket_factory() { return impl_->gateway->factory(); }

net::WsAdmission Api::websocket_admission() { return impl_->gateway->admission(); }

}  // namespace parley::api
