// Server configuration: defaults, then a config file (--config FILE, "key = value" lines), then
// PARLEY_* environment variables, then command-line flags; each later source wins. Every value
// is checked at load; a bad one stops start-up with one clear line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "core/log.h"
#include "core/result.h"

namespace parley::app {

// The web app built with the server (web/dist of the source tree) when it has an index.html;
// "" (API only) otherwise.
std::string default_web_root();

struct Config {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // --metrics-listen: /metrics on its own listener (and not on the main one); "" = main one.
  std::string metrics_host;
  std::optional<std::uint16_t> metrics_port;
  // --otlp-endpoint: where spans go (OTLP/HTTP JSON, POST <endpoint>/v1/traces); "" = no tracing.
  std::string otlp_endpoint;
  // --trace-sample-ratio: share of new traces recorded (an incoming traceparent's flag wins);
  // unset = 0.01 when an endpoint is set.
  std::optional<double> trace_sample_ratio;
  // After SIGTERM, how long the listener stays open answering readiness with 503.
  std::int64_t drain_delay_ms = 0;
  std::string data_dir = "./data";
  log::Format log_format = log::Format::text;
  log::Level log_level = log::Level::info;
  bool access_log = true;
  unsigned io_threads = 0;  // 0: one per core
  unsigned workers = 0;     // 0: 4 per core, at least 32
  std::size_t max_body_bytes = 1024 * 1024;
  std::int64_t presence_grace_ms = 30'000;
  std::vector<std::string> trusted_proxies;
  api::RateLimits rate_limits;
  api::SocketLimits sockets;
  std::size_t max_connections = 50'000;
  std::int64_t session_ttl_s = 30LL * 24 * 3600;  // a session lapses this long after its last use
  std::string web_root = default_web_root();      // "" = no web app
  std::string database;  // "" = SQLite in data_dir; postgres://... = a shared PostgreSQL
  std::string redis;     // "" = in-process bus and rate limits; redis://... = shared by nodes
  std::string node_id;   // names this node on the Redis bus; "" = host name and port
  // Files: "local" (DATA_DIR/files) or s3://BUCKET?endpoint=URL&region=R, with the keys from
  // PARLEY_S3_ACCESS_KEY / PARLEY_S3_SECRET_KEY.
  std::string storage = "local";
  std::string s3_access_key;
  std::string s3_secret_key;
  std::uint64_t max_file_bytes = 100ULL * 1024 * 1024;
  std::uint64_t user_quota_bytes = 10ULL * 1024 * 1024 * 1024;
  std::int64_t upload_ttl_s = 24 * 3600;
  std::string clamd;  // "" = no scanning; a socket path or HOST:PORT of clamd
  // Ranges outbound requests (link previews) may reach despite being private or loopback.
  std::vector<std::string> outbound_allow;
  bool link_previews = true;
  // Governance jobs: how often retention runs, and how often (and how far behind now) the
  // analytics rollups catch up.
  std::int64_t retention_interval_ms = 3'600'000;
  std::int64_t analytics_interval_ms = 60'000;
  std::int64_t analytics_lag_ms = 60'000;
  // Single sign-on (docs/sso.md): --oidc, repeatable; the admin group of each provider comes
  // from --oidc-admin-group NAME=GROUP.
  std::vector<sso::ProviderConfig> oidc_providers;
  std::string oidc_username_claim = "preferred_username";
  std::string oidc_groups_claim = "groups";
  std::string oidc_scopes = "openid profile email";
  bool password_login = true;  // --disable-password-login true turns it off
  // scheme://host[:port] browsers use (SSO callback, links in mail); "" = the request's Host
  // header for SSO, http://HOST:PORT of --listen in mail.
  std::string public_url;
  // Mail: --smtp smtp://HOST:PORT (STARTTLS when offered) or smtps://HOST:PORT, the login from
  // PARLEY_SMTP_USER / PARLEY_SMTP_PASSWORD; "" = no mail. --public-url for links in mail.
  std::string smtp;
  std::string smtp_user;
  std::string smtp_password;
  std::string smtp_ca_file;  // "" = the system's CAs
  std::string mail_from;
  std::int64_t password_reset_ttl_s = 30 * 60;  // how long a mailed reset link works
  // SMS: a provider's HTTP API (Twilio's shape); the account from PARLEY_SMS_ACCOUNT and
  // PARLEY_SMS_TOKEN; "" = no SMS.
  std::string sms_url;
  std::string sms_account;
  std::string sms_token;
  std::string sms_from;
  // Calls: ICE servers for clients (TURN REST credentials with coturn's static-auth-secret),
  // how long a call rings, and how long a participant whose sockets dropped stays in it.
  calls::TurnOptions turn;
  std::int64_t call_ring_timeout_ms = 45'000;
  std::int64_t call_rejoin_grace_ms = 30'000;
  // With several nodes: the node id of the one node that holds the state of every call; the
  // others forward call frames to it over the bus. "" = this node holds its own calls.
  std::string calls_node;
  // Group calls through Janus (VideoRoom): its HTTP API as Parley reaches it, as browsers reach
  // it, and the VideoRoom admin_key. "" = no SFU: every call peer to peer.
  std::string janus_url;
  std::string janus_public_url;
  std::string janus_admin_key;
  std::string janus_recordings;  // where Janus writes recordings (Parley reads them); "" = none
  // AI on the premises (docs/ai.md). The OpenAI-compatible engine exists only with
  // ai_openai_url set (its key from PARLEY_AI_OPENAI_KEY); ai_engines picks the engine per
  // capability: translate=apertium|openai|none, replies=onprem|openai|none, chat=openai|none.
  bool ai = true;
  std::string ai_openai_url;
  std::string ai_openai_model;
  std::string ai_openai_key;
  std::vector<std::pair<std::string, std::string>> ai_engines;
  ratelimit::Policy ai_user_quota{20, 3'000};
  ratelimit::Policy ai_server_quota{200, 100};
  std::int64_t ai_timeout_ms = 15'000;
  // Durable jobs (notifications): "" = the outbox in the main store drained by this node;
  // amqp://USER:PASS@HOST:PORT/VHOST = through RabbitMQ.
  std::string amqp;
  std::string amqp_queue = "parley.jobs";  // exchange/queue name prefix on the broker
  int job_workers = 4;
  // The VAPID "sub" claim push services may use to reach the operator (mailto: or https:).
  std::string vapid_subject = "mailto:parley@localhost";
  // One minute of a user's email_delay_minutes, in ms (60000; tests use less).
  std::int64_t email_delay_unit_ms = 60'000;
  std::int64_t push_delay_ms = 0;  // pushes wait this long, so a read elsewhere cancels them
};

// Loads from args (after "serve") and env; config file named by --config or PARLEY_CONFIG.
Result<Config> load_config(const std::vector<std::string>& args, char** envp);

// The text of `parley --help`.
const char* usage();

}  // namespace parley::app
