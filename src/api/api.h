// The client API of API.md over HTTP and WebSocket: wire JSON <-> module calls, authentication,
// rate limits, and the one table that maps Errc to HTTP statuses and WebSocket error frames.
//
// Api is built once by app/ and registers its routes before the server starts. Handlers run on
// worker threads (they call blocking module APIs); WebSocket sessions run on I/O threads and
// hand blocking work to the worker pool.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/bus.h"
#include "core/worker_pool.h"
#include "modules/auth/auth.h"
#include "modules/messaging/messaging.h"
#include "modules/presence/presence.h"
#include "modules/ratelimit/rate_limiter.h"
#include "modules/search/search.h"
#include "modules/users/users.h"
#include "net/router.h"
#include "net/websocket.h"

namespace parley::api {

struct RateLimits {
  ratelimit::Policy register_per_ip{10, 60'000};
  ratelimit::Policy login_per_ip{30, 2'000};
  ratelimit::Policy login_per_account{10, 30'000};
  ratelimit::Policy refresh_per_ip{60, 1'000};
  ratelimit::Policy totp_per_account{5, 30'000};
  ratelimit::Policy ws_frames_per_user{200, 10};
  ratelimit::Policy messages_per_user{50, 200};
};

struct ApiOptions {
  std::string version;
  std::vector<std::string> trusted_proxies;  // addresses/CIDRs allowed to set X-Forwarded-For
  RateLimits limits;
  int heartbeat_ms = 30'000;
  std::string web_root;  // the web app served at / (static_files.h); "" = none
};

struct Services {
  auth::AuthService& auth;
  users::UserService& users;
  messaging::MessagingService& messaging;
  search::SearchService& search;
  presence::PresenceService& presence;
  ratelimit::RateLimiter& limiter;
  Bus& bus;
  WorkerPool& pool;
};

class Api {
 public:
  Api(Services services, ApiOptions options);
  ~Api();
  // Fails with invalid_argument when an option (a trusted proxy) does not parse.
  Result<void> init();
  void register_routes(net::Router& router);
  net::WsFactory websocket_factory();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace parley::api
