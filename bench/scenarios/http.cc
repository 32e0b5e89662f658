// The HTTP and WebSocket scenarios against main's server: login, health, users/me, and the
// WebSocket connect-hello-close cycle, each one operation in a closed loop on many connections.
#include "scenarios/chat.h"

namespace parley::bench {

namespace {

// Runs `conns` connections of `connection` for `seconds` after the warm-up, prints the result
// and keeps it.
void measure(
    Env& env, const std::string& name, unsigned conns, double seconds,
    const std::function<asio::awaitable<void>(const Window&, ThreadStats&, unsigned)>& connection,
    std::string what, std::string latency2_label = {}) {
  auto r = run_scenario(name, conns, env.threads, env.pid(), env.ep(), env.opt->warmup, seconds,
                        false, connection);
  r.what = std::move(what);
  if (!latency2_label.empty()) r.latency2_label = std::move(latency2_label);
  print_result(r, env.cores);
  env.results->push_back(std::move(r));
}

// measure() of HTTP requests from sc on conns keep-alive connections.
void measure_http(Env& env, const std::string& name, unsigned conns, double seconds,
                  HttpScenario& sc, std::string what) {
  measure(
      env, name, conns, seconds,
      [&](const Window& w, ThreadStats& st, unsigned c) {
        return http_connection(sc, w, st, c, conns);
      },
      std::move(what));
}

}  // namespace

void run_login(Env& env) {
  const Options& opt = *env.opt;
  const Registered& reg = *env.registered;
  HttpScenario sc;
  sc.pick = HttpScenario::Pick::cycle;
  sc.timeout = 30s;
  for (unsigned i = 0; i < opt.users; ++i)
    if (!reg.tokens[i].empty())
      sc.requests.push_back(http_request(
          "POST", "/api/v1/auth/login", env.port(), "",
          "{\"username\":\"" + reg.usernames[i] + "\",\"password\":\"" + reg.passwords[i] + "\"}"));
  measure_http(
      env, "login", opt.login_conns, opt.seconds, sc,
      "POST /api/v1/auth/login, users in turn (Argon2id m=19 MiB t=2 verify + new session)");
}

// Answered on the I/O thread: no auth, no pool.
void run_health(Env& env) {
  const Options& opt = *env.opt;
  HttpScenario sc;
  sc.requests.push_back(http_request("GET", "/api/v1/health", env.port(), "", ""));
  measure_http(env, "health", opt.me_conns, std::max(1.0, opt.seconds / 2), sc,
               "GET /api/v1/health on keep-alive connections (reference: no auth, no pool)");
}

void run_me(Env& env) {
  const Options& opt = *env.opt;
  HttpScenario sc;
  for (const auto& t : env.tokens)
    sc.requests.push_back(http_request("GET", "/api/v1/users/me", env.port(),
                                       "Authorization: Bearer " + t + "\r\n", ""));
  measure_http(env, "users/me", opt.me_conns, opt.seconds, sc,
               "GET /api/v1/users/me with a bearer token, keep-alive, one token per connection");
}

void run_ws(Env& env) {
  const Options& opt = *env.opt;
  WsScenario sc;
  sc.upgrade = ws_upgrade_request(env.port());
  for (const auto& t : env.tokens) sc.hellos.push_back(hello_frame(t));
  sc.close_frame = client_frame(0x8, std::string("\x03\xe8", 2));
  measure(
      env, "ws hello", opt.ws_conns, opt.seconds,
      [&](const Window& w, ThreadStats& st, unsigned c) {
        return ws_connection(sc, w, st, c, opt.ws_conns);
      },
      "WebSocket: TCP connect, upgrade, hello -> ready (latency), close handshake",
      "whole cycle (connect to server FIN)");
}

}  // namespace parley::bench
