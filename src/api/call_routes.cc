#include "context.h"
#include "core/json.h"

namespace parley::api {
void add_call_routes(net::Router& r, Context& ctx) {
  r.add(net::Method::get, "/api/v1/calls/ice-servers",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto ice = calls::ice_servers(ctx.opts.turn, p.user_id, ctx.s.clock.now_ms());
          boost::json::array servers;
          for (const auto& s : ice.servers) {
            boost::json::array urls;
            for (const auto& u : s.urls) urls.emplace_back(u);
            boost::json::object o{{"urls", std::move(urls)}};
            if (!s.username.empty()) {
              o["username"] = s.username;
              o["credential"] = s.credential;
            }
            servers.push_back(std::move(o));
          }
          return json_response(
              200, boost::json::object{{"ice_servers", std::move(servers)}, {"ttl", ice.ttl_s}});
        }));

  // On the call pool: the node that holds the calls may take seconds to answer.
  auto on_call_pool = [&ctx](AsyncDone done, std::function<Result<net::Response>()> work) {
    auto* svc = ctx.s.calls;
    if (!svc) return done(fail(Errc::unavailable, "calls are not enabled on this server"));
    WorkerPool& pool = ctx.s.call_pool ? *ctx.s.call_pool : ctx.s.pool;
    if (!pool.try_submit([done, work = std::move(work)] { done(work()); }))
      done(fail(Errc::unavailable, "server busy, retry"));
  };

  r.add_async(net::Method::get, "/api/v1/calls",
              authed_async(ctx, [&ctx, on_call_pool](net::Request&, const auth::Principal& p,
                                                     AsyncDone done) {
                on_call_pool(done, [&ctx, user = p.user_id]() -> Result<net::Response> {
                  auto running = ctx.s.calls->running(user);
                  if (!running) return fail(running.error());
                  boost::json::array out;
                  for (const auto& c : *running) out.push_back(calls::to_json(c));
                  return json_response(200, boost::json::object{{"calls", std::move(out)}});
                });
              }));

  r.add_async(net::Method::get, "/api/v1/calls/{id}",
              authed_async(ctx, [&ctx, on_call_pool](net::Request& req, const auth::Principal& p,
                                                     AsyncDone done) {
                on_call_pool(done, [&ctx, user = p.user_id,
                                    id = std::string(req.param("id"))]() -> Result<net::Response> {
                  auto c = ctx.s.calls->get(user, id);
                  if (!c) return fail(c.error());
                  return json_response(200, boost::json::object{{"call", calls::to_json(*c)}});
                });
              }));
}

}  // namespace parley::api
