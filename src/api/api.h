// The client API of API.md over HTTP and WebSocket: wire JSON <-> module calls, authentication,
// rate limits, and the one table that maps Errc to HTTP statuses and WebSocket error frames.
//
// Api is built once by app/ and registers its routes before the server starts. Handlers run on
// worker threads (they call blocking module APIs); WebSocket sessions run on I/O threads and
// hand blocking work to the worker pool.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/bus.h"
#include "core/clock.h"
#include "core/worker_pool.h"
#include "modules/admin/admin.h"
#include "modules/ai/ai.h"
#include "modules/audit/audit.h"
#include "modules/auth/auth.h"
#include "modules/contact/contact.h"
#include "modules/calls/calls.h"
#include "modules/calls/turn.h"
#include "modules/files/files.h"
#include "modules/governance/governance.h"
#include "modules/integrations/integrations.h"
#include "modules/messaging/messaging.h"
#include "modules/notifications/notifications.h"
#include "modules/presence/presence.h"
#include "modules/previews/previews.h"
#include "modules/ratelimit/rate_limiter.h"
#include "modules/search/search.h"
#include "modules/sso/sso.h"
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
  // Every other authenticated request that changes something (profile, presence, reactions,
  // edits, pins, membership, read marks): one user cannot flood everyone they share a room with.
  ratelimit::Policy mutations_per_user{100, 100};
  ratelimit::Policy conversations_per_user{20, 30'000};  // new DMs, groups and channels
  ratelimit::Policy search_per_user{30, 2'000};
  // Mail the server sends on request (verification, password reset): per client address, and
  // per target address whoever asks; SMS codes per user.
  ratelimit::Policy email_per_ip{10, 60'000};
  ratelimit::Policy email_per_address{3, 20 * 60'000};
  ratelimit::Policy sms_per_user{5, 12 * 60'000};
  // Posts to incoming webhook URLs, per client address, before the URL's secret is checked.
  ratelimit::Policy webhooks_per_ip{60, 1'000};
};

// WebSocket admission and connection caps (docs/security.md).
struct SocketLimits {
  int per_user = 20;         // on this node; a new one past it closes the user's oldest (4009)
  int per_address = 500;     // upgrades from one client address past it are refused (429)
  int pending_hellos = 512;  // hellos being checked at once; past it: close 1013, retry later
  // Origins allowed besides the server's own (scheme://host[:port]); "*" allows any.
  std::vector<std::string> allowed_origins;
};

struct ApiOptions {
  std::string version;
  std::vector<std::string> trusted_proxies;  // addresses/CIDRs allowed to set X-Forwarded-For
  RateLimits limits;
  SocketLimits sockets;
  int heartbeat_ms = 30'000;
  std::string web_root;  // the web app served at / (static_files.h); "" = none
  // Whether /metrics is served with the API; false when it has a listener of its own.
  bool metrics_route = true;
  // How long /api/v1/health/ready waits for its checks before answering 503.
  int readiness_timeout_ms = 2'000;
  // false (--disable-password-login): sign-in and registration with a password answer 403.
  bool password_login = true;
  // scheme://host[:port] the browser reaches this server at (--public-url); "" = from the Host
  // header. Single sign-on builds its callback URL from it.
  std::string public_url;
  // ICE servers handed to call clients (GET /api/v1/calls/ice-servers).
  calls::TurnOptions turn;
  // Origins the web app may connect to besides its own (the SFU's API when it has another).
  std::vector<std::string> connect_src;
};

// One engine that readiness depends on: probe() answers ok when it works. It runs on a worker
// thread and may block, but should answer within a second or two.
struct ReadinessCheck {
  std::string name;  // "database", "redis", "storage"
  std::function<Result<void>()> probe;
};

struct Services {
  auth::AuthService& auth;
  users::UserService& users;
  messaging::MessagingService& messaging;
  search::SearchService& search;
  presence::PresenceService& presence;
  ratelimit::RateLimiter& limiter;
  files::FileService& files;
  Bus& bus;
  WorkerPool& pool;
  const Clock& clock;
  // Link previews: fetched on their own pool, so slow sites never hold the request workers.
  // All null: no previews. Their images come through fetcher and are served from Parley's
  // origin (the web app's CSP allows no other).
  previews::PreviewService* previews = nullptr;
  WorkerPool* preview_pool = nullptr;
  outbound::HttpFetcher* fetcher = nullptr;
  // Single sign-on; null when no --oidc provider is configured.
  sso::SsoService* sso = nullptr;
  // Required (init() fails without them): the audit log the API records into and reads for
  // admins, and the administration service behind /api/v1/admin/... and registration.
  audit::AuditLog* audit = nullptr;
  admin::AdminService* admin = nullptr;
  // Retention, data export and usage analytics; all null: none of their routes.
  governance::RetentionService* retention = nullptr;
  governance::ExportService* exports = nullptr;
  governance::AnalyticsService* analytics = nullptr;
  // Email and phone verification, password reset by email; null: those routes are absent.
  contact::ContactService* contact = nullptr;
  // Bots, webhooks and slash commands; null: their routes answer 503 and bot tokens are refused.
  // Slash commands wait for their URL on integration_pool, never on the request workers.
  integrations::IntegrationService* integrations = nullptr;
  WorkerPool* integration_pool = nullptr;
  // Call signaling (the call.* frames and /api/v1/calls); null: calls answer 503. Its work runs
  // on call_pool: it may wait for Janus or for the node that holds the calls (up to seconds),
  // which must not hold the request workers.
  calls::CallService* calls = nullptr;
  WorkerPool* call_pool = nullptr;
  // AI on the premises (ai_routes.cc); null: the AI routes are not served.
  ai::AiService* ai = nullptr;
  // Notification settings and Web Push subscriptions; null: those routes are not served.
  notifications::NotificationService* notifications = nullptr;
};

class Api {
 public:
  Api(Services services, ApiOptions options);
  ~Api();
  // Fails with invalid_argument when an option (a trusted proxy) does not parse, or when
  // Services::audit or Services::admin is missing.
  Result<void> init();
  // Before register_routes: what /api/v1/health/ready checks.
  void set_readiness_checks(std::vector<ReadinessCheck> checks);
  void register_routes(net::Router& router);
  // From the moment the server starts draining, readiness answers 503 "draining". Any thread.
  void begin_drain();
  net::WsFactory websocket_factory();
  net::WsAdmission websocket_admission();
  // The real client address of a request (X-Forwarded-For through --trusted-proxies), for the
  // server's access log (net::ServerOptions::client_ip).
  std::function<std::string(const net::Request&)> client_ip();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GET /metrics (Prometheus text format), for the API's router or a metrics listener's own.
void add_metrics_route(net::Router& router);

}  // namespace parley::api
