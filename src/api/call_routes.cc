#include "context.h"
#include "core/json.h"

namespace parley::api {
namespace {

Result<calls::CallService*> call_service(Context& ctx) {
  if (!ctx.s.calls) return fail(Errc::unavailable, "calls are not enabled on this server");
  return ctx.s.calls;
}

}  // namespace

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

  r.add(net::Method::get, "/api/v1/calls",
        authed(ctx, [&ctx](net::Request&, const auth::Principal& p) -> Result<net::Response> {
          auto svc = call_service(ctx);
          if (!svc) return fail(svc.error());
          auto running = (*svc)->running(p.user_id);
          if (!running) return fail(running.error());
          boost::json::array out;
          for (const auto& c : *running) out.push_back(calls::to_json(c));
          return json_response(200, boost::json::object{{"calls", std::move(out)}});
        }));

  r.add(net::Method::get, "/api/v1/calls/{id}",
        authed(ctx, [&ctx](net::Request& req, const auth::Principal& p) -> Result<net::Response> {
          auto svc = call_service(ctx);
          if (!svc) return fail(svc.error());
          auto c = (*svc)->get(p.user_id, std::string(req.param("id")));
          if (!c) return fail(c.error());
          return json_response(200, boost::json::object{{"call", calls::to_json(*c)}});
        }));
}

}  // namespace parley::api
