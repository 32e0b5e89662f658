#include "api/api.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

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
  auto token = bearer_token(req);
  if (!token) return fail(token.error());
  auto p = authenticate_token(ctx, *token);
  if (!p) return p;
  if (p->bot)
    if (auto allowed = check_bot_scope(*p, req); !allowed) return fail(allowed.error());
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

Result<users::User> require_admin(Context& ctx, const auth::Principal& p) {
  auto me = ctx.s.users.get(p.user_id);
  if (!me) {
    if (me.error().code == Errc::not_found)
      return fail(Errc::permission_denied, "administrators only");
    return fail(me.error());
  }
  if (me->role != users::Role::admin || me->deactivated_at)
    return fail(Errc::permission_denied, "administrators only");
  return me;
}

net::Handler admin_authed(Context& ctx, AuthedHandler h) {
  return authed(ctx, [&ctx, h = std::move(h)](net::Request& req,
                                              const auth::Principal& p) -> Result<net::Response> {
    if (auto admin = require_admin(ctx, p); !admin) return fail(admin.error());
    return h(req, p);
  });
}

net::AsyncHandler admin_authed_async(Context& ctx, AsyncAuthedHandler h) {
  return authed_async(ctx, [&ctx, h = std::move(h)](net::Request& req, const auth::Principal& p,
                                                    AsyncDone done) {
    if (auto admin = require_admin(ctx, p); !admin) return done(fail(admin.error()));
    h(req, p, std::move(done));
  });
}

void add_metrics_route(net::Router& r) {
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

namespace {

// Runs every readiness check on the worker pool at once and answers when all have, or when the
// deadline passes (a check still running then counts as failing). Runs on a worker itself: it
// waits, but never longer than the deadline.
net::Response readiness(Context& ctx) {
  if (ctx.draining) return json_response(503, {{"status", "draining"}});
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::optional<std::string>> outcome;  // nullopt: still running; "": ok
  };
  auto shared = std::make_shared<Shared>();
  shared->outcome.resize(ctx.readiness.size());
  for (std::size_t i = 0; i < ctx.readiness.size(); ++i) {
    auto probe = ctx.readiness[i].probe;
    auto run = [shared, i, probe] {
      std::string why;
      try {
        auto r = probe();
        if (!r) why = r.error().message.empty() ? "failed" : r.error().message;
      } catch (const std::exception& e) {
        why = e.what();
      }
      std::lock_guard lock(shared->mu);
      shared->outcome[i] = std::move(why);
      shared->cv.notify_all();
    };
    if (!ctx.s.pool.try_submit(run)) {
      std::lock_guard lock(shared->mu);
      shared->outcome[i] = "worker pool overloaded";
    }
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx.opts.readiness_timeout_ms);
  std::unique_lock lock(shared->mu);
  shared->cv.wait_until(lock, deadline, [&] {
    return std::all_of(shared->outcome.begin(), shared->outcome.end(),
                       [](const auto& o) { return o.has_value(); });
  });
  boost::json::object checks;
  bool all_ok = true;
  for (std::size_t i = 0; i < ctx.readiness.size(); ++i) {
    const auto& o = shared->outcome[i];
    std::string v = !o ? "timed out" : o->empty() ? "ok" : *o;
    if (v != "ok") all_ok = false;
    checks[ctx.readiness[i].name] = v;
  }
  lock.unlock();
  if (ctx.draining) return json_response(503, {{"status", "draining"}});
  return json_response(all_ok ? 200 : 503,
                       {{"status", all_ok ? "ready" : "unavailable"}, {"checks", checks}});
}

}  // namespace

void add_ops_routes(net::Router& r, Context& ctx) {
  r.add(
      net::Method::get, "/api/v1/health",
      [&ctx](net::Request&) {
        return json_response(200, {{"status", "ok"}, {"version", ctx.opts.version}});
      },
      true);
  // Liveness: the process and its I/O threads answer; nothing it depends on is asked.
  r.add(
      net::Method::get, "/api/v1/health/live",
      [](net::Request&) {
        return json_response(200, {{"status", "live"}});
      },
      true);
  r.add_async(net::Method::get, "/api/v1/health/ready",
              [&ctx](net::Request&, net::Reply reply) { reply(readiness(ctx)); });
  if (ctx.opts.metrics_route) {
    add_metrics_route(r);
  } else {
    // Served on --metrics-listen instead; answered here, or the web app's fallback would.
    r.add(
        net::Method::get, "/metrics",
        [](net::Request&) {
          return error_response({Errc::not_found, "metrics are served on their own listener",
                                 {}, 0});
        },
        true);
  }
}

struct Api::Impl {
  Impl(Services s, ApiOptions o) : ctx{s, std::move(o), {}, {}, {}} {}
  Context ctx;
  std::unique_ptr<Gateway> gateway;
};

Api::Api(Services services, ApiOptions options)
    : impl_(std::make_unique<Impl>(services, std::move(options))) {}

Api::~Api() = default;

Result<void> Api::init() {
  if (!impl_->ctx.s.audit || !impl_->ctx.s.admin)
    return fail(Errc::invalid_argument, "the API needs the audit log and the admin service");
  if (auto r = impl_->ctx.client.init(impl_->ctx.opts.trusted_proxies); !r) return r;
  impl_->gateway = std::make_unique<Gateway>(impl_->ctx);
  return ok();
}

void Api::set_readiness_checks(std::vector<ReadinessCheck> checks) {
  impl_->ctx.readiness = std::move(checks);
}

void Api::begin_drain() { impl_->ctx.draining = true; }

void Api::register_routes(net::Router& router) {
  add_ops_routes(router, impl_->ctx);
  add_auth_routes(router, impl_->ctx);
  add_user_routes(router, impl_->ctx);
  add_conversation_routes(router, impl_->ctx);
  add_message_routes(router, impl_->ctx);
  add_file_routes(router, impl_->ctx);
  add_sso_routes(router, impl_->ctx);
  add_admin_routes(router, impl_->ctx);
  add_data_routes(router, impl_->ctx);
  add_contact_routes(router, impl_->ctx);
  add_integration_routes(router, impl_->ctx);
  add_call_routes(router, impl_->ctx);
  add_ai_routes(router, impl_->ctx);
  add_notification_routes(router, impl_->ctx);
  add_openapi_route(router);
  if (auto n = add_static_routes(router, impl_->ctx.opts.web_root, impl_->ctx.opts.connect_src);
      !n)
    log::error("web app not served", {{"reason", n.error().message}});
  else if (*n)
    log::info("serving the web app", {{"web_root", impl_->ctx.opts.web_root}, {"files", *n}});
}

net::WsFactory Api::websocket_factory() { return impl_->gateway->factory(); }

net::WsAdmission Api::websocket_admission() { return impl_->gateway->admission(); }

std::function<std::string(const net::Request&)> Api::client_ip() {
  return [impl = impl_.get()](const net::Request& req) { return impl->ctx.client.of(req); };
}

}  // namespace parley::api
