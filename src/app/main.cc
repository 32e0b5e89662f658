// parley: the composition root. Loads configuration, picks the adapters (embedded defaults
// for now), wires modules, api and server, runs until SIGTERM/SIGINT, and stops everything in
// reverse order of start.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "adapters/apertium/apertium_translator.h"
#include "adapters/clamav/clamd_scanner.h"
#include "adapters/cld2/cld2_detector.h"
#include "adapters/curl/curl_fetcher.h"
#include "adapters/inprocess/in_process_bus.h"
#include "adapters/janus/janus_sfu.h"
#include "adapters/local/local_blob_store.h"
#include "adapters/otlp/otlp_exporter.h"
#include "adapters/pocketsphinx/pocketsphinx_transcriber.h"
#include "adapters/postgres/pool.h"
#include "adapters/postgres/stores.h"
#include "adapters/rabbitmq/amqp_job_queue.h"
#include "adapters/redis/redis.h"
#include "adapters/s3/s3_blob_store.h"
#include "adapters/smshttp/http_sms_sender.h"
#include "adapters/smtp/smtp_mailer.h"
#include "adapters/sqlite/stores.h"
#include "adapters/vips/vips_image_processor.h"
#include "api/api.h"
#include "app/admin_command.h"
#include "app/backup.h"
#include "app/config.h"
#include "app/storage_copy.h"
#include "core/crypto.h"
#include "core/heap_trim.h"
#include "core/log.h"
#include "core/trace.h"
#include "modules/admin/admin.h"
#include "modules/ai/ai.h"
#include "modules/ai/openai_engine.h"
#include "modules/ai/sentiment.h"
#include "modules/audit/audit.h"
#include "modules/auth/auth.h"
#include "modules/contact/contact.h"
#include "modules/calls/calls.h"
#include "modules/calls/turn.h"
#include "modules/files/files.h"
#include "modules/governance/governance.h"
#include "modules/integrations/integrations.h"
#include "modules/jobs/jobs.h"
#include "modules/notifications/notifications.h"
#include "modules/messaging/messaging.h"
#include "modules/presence/presence.h"
#include "modules/ratelimit/rate_limiter.h"
#include "modules/search/search.h"
#include "modules/sso/sso.h"
#include "modules/users/users.h"
#include "net/router.h"
#include "net/server.h"

#ifndef PARLEY_VERSION
#define PARLEY_VERSION "0.0.0-dev"
#endif

extern char** environ;

namespace parley::app {
namespace {

int die(const std::string& line) {
  std::fprintf(stderr, "parley: %s\n", line.c_str());
  return 2;
}

// Every module's store, on the embedded SQLite or on a PostgreSQL shared by several nodes.
// Declared so that the stores go before the database they use.
struct Storage {
  std::unique_ptr<sqlite::Database> sqlite;
  std::unique_ptr<postgres::Pool> postgres;
  std::unique_ptr<users::UserStore> users;
  std::unique_ptr<auth::AuthStore> auth;
  std::unique_ptr<messaging::MessagingStore> messaging;
  std::unique_ptr<search::SearchIndex> search;
  std::unique_ptr<files::FileStore> files;
  std::unique_ptr<sso::SsoStore> sso;
  std::unique_ptr<audit::AuditStore> audit;
  std::unique_ptr<admin::AdminStore> admin;
  std::unique_ptr<governance::GovernanceStore> governance;
  std::unique_ptr<contact::ContactStore> contact;
  std::unique_ptr<integrations::IntegrationStore> integrations;
  std::unique_ptr<ai::AiStore> ai;
  std::unique_ptr<jobs::JobStore> jobs;  // the outbox; messages write into it through hooks
  std::unique_ptr<notifications::NotificationStore> notifications;
};

// Db is sqlite::Database or postgres::Pool: the factories are found by argument-dependent lookup.
template <class Db>
Result<void> open_stores(Storage& s, Db& db) {
  auto users = make_user_store(db);
  if (!users) return fail(users.error());
  auto auth = make_auth_store(db);
  if (!auth) return fail(auth.error());
  auto jobs = make_job_store(db);  // before any append can write outbox rows
  if (!jobs) return fail(jobs.error());
  auto messaging = make_messaging_store(db);
  if (!messaging) return fail(messaging.error());
  auto search = make_search_index(db);  // after messaging: it indexes the messages table
  if (!search) return fail(search.error());
  auto files = make_file_store(db);
  if (!files) return fail(files.error());
  auto sso = make_sso_store(db);
  if (!sso) return fail(sso.error());
  s.sso = std::move(*sso);
  auto audit = make_audit_store(db);
  if (!audit) return fail(audit.error());
  auto admin = make_admin_store(db);
  if (!admin) return fail(admin.error());
  auto governance = make_governance_store(db);  // last: it indexes the tables above
  if (!governance) return fail(governance.error());
  s.governance = std::move(*governance);
  auto contact = make_contact_store(db);
  if (!contact) return fail(contact.error());
  s.contact = std::move(*contact);
  auto integrations = make_integration_store(db);
  if (!integrations) return fail(integrations.error());
  s.integrations = std::move(*integrations);
  auto ai = make_ai_store(db);
  if (!ai) return fail(ai.error());
  s.ai = std::move(*ai);
  auto notifications = make_notification_store(db);
  if (!notifications) return fail(notifications.error());
  s.notifications = std::move(*notifications);
  s.files = std::move(*files);
  s.jobs = std::move(*jobs);
  s.audit = std::move(*audit);
  s.admin = std::move(*admin);
  s.users = std::move(*users);
  s.auth = std::move(*auth);
  s.messaging = std::move(*messaging);
  s.search = std::move(*search);
  return ok();
}

// The file side: where bytes live, image processing, and scanning when clamd is named.
struct FileAdapters {
  std::unique_ptr<files::BlobStore> blobs;
  std::unique_ptr<files::ImageProcessor> images;
  std::unique_ptr<files::Scanner> scanner;
};

Result<FileAdapters> open_file_adapters(const Config& cfg) {
  FileAdapters a;
  if (cfg.storage == "local") {
    auto local = local::LocalBlobStore::open(cfg.data_dir + "/files");
    if (!local) return fail(local.error());
    a.blobs = std::move(*local);
  } else {
    auto s3 = s3::make_s3_blob_store(cfg.storage, cfg.s3_access_key, cfg.s3_secret_key);
    if (!s3) return fail(Errc::invalid_argument, "storage: " + s3.error().message);
    a.blobs = std::move(*s3);
  }
  auto vips = vips::VipsImageProcessor::create();
  if (!vips) return fail(Errc::internal, "images: " + vips.error().message);
  a.images = std::make_unique<vips::VipsImageProcessor>(std::move(*vips));
  if (!cfg.clamd.empty()) {
    auto clamd = clamav::ClamdScanner::create({cfg.clamd});
    if (!clamd) return fail(Errc::invalid_argument, "clamd: " + clamd.error().message);
    a.scanner = std::make_unique<clamav::ClamdScanner>(std::move(*clamd));
  }
  return a;
}

// What /api/v1/health/ready asks: the database, Redis when the nodes share one, and the blob
// store (a probe key that does not exist: not_found means the store answered).
std::vector<api::ReadinessCheck> readiness_checks(const Config& cfg, Storage& storage,
                                                  files::BlobStore& blobs) {
  std::vector<api::ReadinessCheck> checks;
  if (storage.sqlite) {
    checks.push_back({"database", [db = storage.sqlite.get()] { return db->ping(); }});
  } else {
    checks.push_back({"database", [pg = storage.postgres.get()] {
                        return pg->run([](postgres::Connection& c) -> Result<void> {
                          c.exec("SELECT 1");
                          return ok();
                        });
                      }});
  }
  if (!cfg.redis.empty())
    checks.push_back({"redis", [url = cfg.redis] { return redis::ping(url, 1'000); }});
  checks.push_back({"storage", [&blobs]() -> Result<void> {
                      auto r = blobs.size("health-probe-missing");
                      if (r || r.error().code == Errc::not_found) return ok();
                      return fail(r.error());
                    }});
  return checks;
}

// The AI engines as configured: on-premises ones by default; the OpenAI-compatible engine only
// when --ai-openai-url names one, and then only for the capabilities it is chosen for.
struct AiEngines {
  std::unique_ptr<ai::Translator> apertium;
  std::unique_ptr<ai::LanguageDetector> cld2;
  std::unique_ptr<ai::Transcriber> pocketsphinx;
  ai::VaderScorer vader;
  ai::OnPremReplies onprem;
  std::unique_ptr<ai::OpenAiEngine> openai;
  ai::EngineSet set;
  ai::EngineChoice choice;
};

Result<void> choose_ai_engines(const Config& cfg, outbound::HttpFetcher& fetcher, AiEngines& e) {
  std::map<std::string, std::string> pick = {
      {"translate", "apertium"}, {"replies", "onprem"}, {"transcribe", "pocketsphinx"},
      {"chat", cfg.ai_openai_url.empty() ? "none" : "openai"}};
  for (const auto& [cap, engine] : cfg.ai_engines) pick[cap] = engine;
  if (!cfg.ai_openai_url.empty())
    e.openai = std::make_unique<ai::OpenAiEngine>(
        fetcher, ai::OpenAiOptions{cfg.ai_openai_url, cfg.ai_openai_model, cfg.ai_openai_key});
  for (const auto& [cap, engine] : pick)
    if (engine == "openai" && !e.openai)
      return fail(Errc::invalid_argument,
                  "ai-engines: " + cap + "=openai needs --ai-openai-url (and --ai-openai-model)");
  e.cld2 = cld2::make_cld2_detector();
  e.set.detect = e.cld2.get();
  e.set.sentiment = &e.vader;
  if (pick["translate"] == "apertium") {
    e.apertium = apertium::make_apertium_translator();
    e.set.translate = e.apertium.get();
  } else if (pick["translate"] == "openai") {
    e.set.translate = e.openai.get();
    e.choice.external_translate = true;
  }
  // Speech-to-text stays off (capabilities list no language) where the model is missing.
  if (pick["transcribe"] == "pocketsphinx" && pocketsphinx::model_installed()) {
    e.pocketsphinx = pocketsphinx::make_pocketsphinx_transcriber();
    e.set.transcribe = e.pocketsphinx.get();
  }
  if (pick["replies"] == "onprem") {
    e.set.replies = &e.onprem;
  } else if (pick["replies"] == "openai") {
    e.set.replies = e.openai.get();
    e.choice.external_replies = true;
  }
  if (pick["chat"] == "openai") {
    e.set.chat = e.openai.get();
    e.choice.external_chat = true;
  }
  return ok();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || !name[0]) return "node";
  return name;
}

// What serve() does once everything is wired: run the server, or (`parley routes`) print the
// route table the server would serve, "METHOD PATTERN" per line, and exit.
enum class Mode { serve, print_routes };

int serve(const std::vector<std::string>& args, Mode mode) {
  auto config = load_config(args, environ);
  if (!config) return die(config.error().message);
  const Config& cfg = *config;

  init_crypto();
  log::init(cfg.log_format, cfg.log_level);
  // Tracing: spans go to the operator's collector from a background thread; uninstalled before
  // the exporter goes (end of main), which posts what is still queued.
  std::unique_ptr<otlp::OtlpExporter> tracer;
  struct TraceOff {
    ~TraceOff() { trace::configure(nullptr, 0); }
  } trace_off;
  if (!cfg.otlp_endpoint.empty()) {
    tracer = std::make_unique<otlp::OtlpExporter>(otlp::ExporterOptions{cfg.otlp_endpoint});
    trace::configure(tracer.get(), cfg.trace_sample_ratio.value_or(0.01));
    log::info("tracing", {{"otlp_endpoint", cfg.otlp_endpoint},
                          {"sample_ratio", cfg.trace_sample_ratio.value_or(0.01)}});
  }

  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) return die("cannot create data directory " + cfg.data_dir + ": " + ec.message());
  ::chmod(cfg.data_dir.c_str(), 0700);  // the database holds password hashes and keys

  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // A send holds its worker until its group commits, so the worker count caps how many sends
  // share a commit: 32 lets group commit work even on small machines (bench/RESULTS.md).
  const unsigned workers = cfg.workers ? cfg.workers : std::max(32u, 4 * cores);

  Storage storage;
  if (cfg.database.empty()) {
    auto db = sqlite::Database::open(cfg.data_dir + "/parley.db");
    if (!db) return die(db.error().message);
    storage.sqlite = std::move(*db);
    if (auto r = open_stores(storage, *storage.sqlite); !r) return die(r.error().message);
  } else {
    auto pg = postgres::open_pool(cfg.database, static_cast<int>(workers));
    if (!pg) return die("database: " + pg.error().message);
    storage.postgres = std::move(*pg);
    if (auto r = open_stores(storage, *storage.postgres); !r) return die(r.error().message);
  }

  SystemClock clock;
  std::unique_ptr<Bus> bus;
  std::unique_ptr<ratelimit::RateLimiter> limiter;
  std::unique_ptr<presence::PresenceStore> presence_store;
  const std::string node =
      cfg.node_id.empty() ? host_name() + "-" + std::to_string(cfg.port) : cfg.node_id;
  if (cfg.redis.empty()) {
    bus = adapters::make_in_process_bus();
    limiter = ratelimit::make_in_memory_rate_limiter(clock);
    presence_store = presence::make_in_memory_presence_store();
  } else {
    auto rbus = redis::make_redis_bus(cfg.redis, node);
    if (!rbus) return die("redis: " + rbus.error().message);
    bus = std::move(*rbus);
    auto rl = redis::make_redis_rate_limiter(cfg.redis, clock);
    if (!rl) return die("redis: " + rl.error().message);
    limiter = std::move(*rl);
    auto ps = redis::make_redis_presence_store(cfg.redis, node);
    if (!ps) return die("redis: " + ps.error().message);
    presence_store = std::move(*ps);
  }
  WorkerPool pool("worker", workers, 10'000);
  auto file_adapters = open_file_adapters(cfg);
  if (!file_adapters) return die(file_adapters.error().message);
  auto outbound_policy = outbound::AddressPolicy::parse(cfg.outbound_allow);
  if (!outbound_policy) return die(outbound_policy.error().message);
  auto fetcher = curl::make_curl_fetcher({*outbound_policy, {}});
  previews::PreviewService previews(*fetcher, {});
  // Slow sites wait here, never on the request workers; a full queue drops previews.
  WorkerPool preview_pool("previews", 4, 1'000);

  users::UserService users(*storage.users, clock);
  auth::AuthOptions auth_opts;
  auth_opts.refresh_ttl_ms = cfg.session_ttl_s * 1000;
  auth::AuthService auth(*storage.auth, users, *bus, clock, auth_opts);
  if (auto r = auth.init(); !r) return die("auth: " + r.error().message);
  messaging::MessagingService messaging(*storage.messaging, users, *bus, clock, {}, &pool);
  search::SearchService search(*storage.search, messaging);
  files::FilesOptions files_opts;
  files_opts.max_file_bytes = cfg.max_file_bytes;
  files_opts.user_quota_bytes = cfg.user_quota_bytes;
  files_opts.upload_ttl_ms = cfg.upload_ttl_s * 1000;
  files::FileService files(*storage.files, *file_adapters->blobs, messaging, clock, files_opts,
                           file_adapters->images.get(), file_adapters->scanner.get());
  presence::PresenceService presence(*presence_store, messaging, users, clock,
                                     {cfg.presence_grace_ms});
  audit::AuditLog audit_log(*storage.audit, clock);
  admin::AdminService admin(*storage.admin, users, auth, messaging, audit_log, clock);
  governance::RetentionOptions retention_opts;
  retention_opts.interval_ms = cfg.retention_interval_ms;
  governance::RetentionService retention(*storage.governance, *file_adapters->blobs, messaging,
                                         *bus, clock, retention_opts);
  governance::ExportOptions export_opts;
  export_opts.temp_dir = cfg.data_dir + "/exports";
  governance::ExportService exports(*storage.governance, *file_adapters->blobs, users, messaging,
                                    clock, export_opts);
  governance::AnalyticsOptions analytics_opts;
  analytics_opts.interval_ms = cfg.analytics_interval_ms;
  analytics_opts.lag_ms = cfg.analytics_lag_ms;
  governance::AnalyticsService analytics(*storage.governance, clock, analytics_opts);

  // Single sign-on: discovery, JWKS and the token endpoint through the same SSRF-hardened
  // fetcher (an on-premises provider on a private address needs --outbound-allow).
  std::unique_ptr<sso::SsoService> sso_service;
  if (!cfg.oidc_providers.empty()) {
    sso::SsoOptions sso_opts;
    sso_opts.providers = cfg.oidc_providers;
    sso_opts.username_claim = cfg.oidc_username_claim;
    sso_opts.groups_claim = cfg.oidc_groups_claim;
    sso_opts.scopes = cfg.oidc_scopes;
    sso_service =
        std::make_unique<sso::SsoService>(*storage.sso, users, *fetcher, clock, sso_opts);
  }

  // Mail and texts: sent on their own small pool, so a slow mail server or SMS provider never
  // holds a request worker (and no answer waits for one).
  std::unique_ptr<mail::Mailer> mailer;
  if (!cfg.smtp.empty()) {
    auto m = smtp::make_smtp_mailer(
        {cfg.smtp, cfg.mail_from, cfg.smtp_user, cfg.smtp_password, cfg.smtp_ca_file}, clock);
    if (!m) return die(m.error().message);
    mailer = std::move(*m);
  }
  std::unique_ptr<sms::SmsSender> sms_sender;
  if (!cfg.sms_url.empty()) {
    auto s = smshttp::make_http_sms_sender(
        {cfg.sms_url, cfg.sms_account, cfg.sms_token, cfg.sms_from}, *fetcher);
    if (!s) return die(s.error().message);
    sms_sender = std::move(*s);
  }
  WorkerPool send_pool("send", 2, 10'000);
  contact::ContactOptions contact_opts;
  contact_opts.public_url = cfg.public_url.empty()
                                ? "http://" + cfg.host + ":" + std::to_string(cfg.port)
                                : cfg.public_url;
  contact_opts.reset_ttl_ms = cfg.password_reset_ttl_s * 1000;
  contact::ContactService contact(*storage.contact, users, auth,
                                  {mailer.get(), sms_sender.get(), &send_pool}, clock,
                                  contact_opts);
  if (auto r = contact.init(); !r) return die("contact: " + r.error().message);
  // Slash commands wait for their URLs and outgoing webhooks deliver here, through the same
  // SSRF-hardened fetcher as previews (on even when previews are off).
  WorkerPool integration_pool("integrations", 4, 1'000);
  integrations::IntegrationOptions integration_opts;
  integration_opts.policy = *outbound_policy;
  integrations::IntegrationService integrations(*storage.integrations, users, messaging, *bus,
                                                clock, fetcher.get(), &integration_pool,
                                                integration_opts);
  if (auto r = calls::validate(cfg.turn); !r) return die(r.error().message);
  calls::CallOptions call_opts;
  call_opts.ring_timeout_ms = cfg.call_ring_timeout_ms;
  call_opts.rejoin_grace_ms = cfg.call_rejoin_grace_ms;
  // Calls held by another node (§42): this one forwards call frames to it over the bus.
  call_opts.calls_node = cfg.calls_node;
  call_opts.forward = !cfg.calls_node.empty() && cfg.calls_node != node;
  std::unique_ptr<calls::Sfu> sfu;
  if (!cfg.janus_url.empty()) {
    auto j = janus::make_janus_sfu(
        {cfg.janus_url, cfg.janus_public_url, cfg.janus_admin_key, cfg.janus_recordings});
    if (!j) return die(j.error().message);
    sfu = std::move(*j);
  }
  calls::CallService calls(messaging, *bus, clock, call_opts, sfu.get());
  WorkerPool call_pool("calls", 4, 1'000);

  AiEngines ai_engines;
  if (auto r = choose_ai_engines(cfg, *fetcher, ai_engines); !r) return die(r.error().message);
  ai::GatewayOptions ai_gateway_opts;
  ai_gateway_opts.per_user = cfg.ai_user_quota;
  ai_gateway_opts.per_server = cfg.ai_server_quota;
  ai_gateway_opts.timeout = std::chrono::milliseconds(cfg.ai_timeout_ms);
  ai::AiGateway ai_gateway(ai_engines.set, *limiter, ai_gateway_opts);
  ai::AiOptions ai_opts;
  // Voice messages: the recording as its sender may read it, up to 64 MiB (five minutes of
  // Opus are well under 5 MiB).
  ai_opts.read_file = [&files](const std::string& reader,
                               const std::string& file_id) -> Result<std::string> {
    constexpr std::uint64_t kMaxAudio = 64ull << 20;
    auto c = files.content(reader, file_id, false);
    if (!c) return fail(c.error());
    if (c->size > kMaxAudio) return fail(Errc::invalid_argument, "the recording is too large");
    return files.read(c->blob_key, 0, static_cast<std::size_t>(c->size));
  };
  ai::AiService ai_service(ai_gateway, *storage.ai, messaging, search, users, *bus, clock,
                           &ai_engines.onprem, ai_opts, ai_engines.choice);
  if (cfg.ai && mode == Mode::serve)
    if (auto r = ai_service.start(); !r) return die("ai: " + r.error().message);

  // Durable jobs: the outbox in the main store, drained by this node's job workers. Modules
  // register their job kinds (handle) and outbox producers (add_append_hook) here, before
  // start().
  jobs::OutboxOptions job_opts;
  job_opts.workers = cfg.job_workers;
  job_opts.exclusive_store = storage.sqlite != nullptr;  // one process holds the SQLite file
  std::unique_ptr<jobs::JobQueue> job_queue;
  if (cfg.amqp.empty()) {
    job_queue = jobs::make_outbox_job_queue(*storage.jobs, clock, job_opts);
  } else {
    rabbitmq::AmqpOptions amqp_opts;
    amqp_opts.url = cfg.amqp;
    amqp_opts.prefix = cfg.amqp_queue;
    amqp_opts.consumers = cfg.job_workers;
    amqp_opts.exclusive_store = job_opts.exclusive_store;
    auto q = rabbitmq::make_amqp_job_queue(amqp_opts, *storage.jobs, clock);
    if (!q) return die(q.error().message);  // never the URL: it holds the password
    job_queue = std::move(*q);
  }
  auto job_metrics = jobs::read_metrics_at_scrape(*job_queue, *storage.jobs, clock);
  notifications::NotificationOptions notify_opts;
  notify_opts.vapid_key_path = cfg.data_dir + "/vapid.pem";
  notify_opts.vapid_subject = cfg.vapid_subject;
  notify_opts.policy = *outbound_policy;
  notify_opts.push_delay_ms = cfg.push_delay_ms;
  notify_opts.email_delay_unit_ms = cfg.email_delay_unit_ms;
  notifications::NotificationService notifications(*storage.notifications, messaging, presence,
                                                   users, *job_queue, *fetcher, clock,
                                                   notify_opts);
  if (auto r = notifications.init(); !r) return die("notifications: " + r.error().message);
  notifications.enable_contact(contact);  // notify.email digests, notify.sms texts
  integrations.use_job_queue(*job_queue);  // webhook.deliver: outgoing webhooks, durable
  storage.messaging->add_append_hook(notifications.append_hook());
  // Outgoing webhooks of new messages, in the message's commit (needs the job queue above).
  if (auto hook = integrations.append_hook(); hook.produce)
    storage.messaging->add_append_hook(std::move(hook));

  api::ApiOptions api_opts;
  api_opts.version = PARLEY_VERSION;
  api_opts.trusted_proxies = cfg.trusted_proxies;
  api_opts.limits = cfg.rate_limits;
  api_opts.sockets = cfg.sockets;
  api_opts.web_root = cfg.web_root;
  api_opts.metrics_route = !cfg.metrics_port.has_value();
  api_opts.password_login = cfg.password_login;
  api_opts.public_url = cfg.public_url;
  api_opts.turn = cfg.turn;
  if (sfu) {
    // Browsers talk to Janus's API themselves: its origin joins the web app's connect-src.
    std::string u = sfu->public_url();
    auto scheme = u.find("://");
    auto path = scheme == std::string::npos ? std::string::npos : u.find('/', scheme + 3);
    if (scheme != std::string::npos) api_opts.connect_src.push_back(u.substr(0, path));
  }
  net::ServerOptions server_opts;
  api_opts.heartbeat_ms = static_cast<int>(server_opts.ws_heartbeat.count());
  api::Services services{auth, users, messaging, search, presence, *limiter, files, *bus, pool,
                         clock,
                         cfg.link_previews ? &previews : nullptr,
                         cfg.link_previews ? &preview_pool : nullptr,
                         cfg.link_previews ? fetcher.get() : nullptr};
  services.audit = &audit_log;
  services.admin = &admin;
  services.retention = &retention;
  services.exports = &exports;
  services.analytics = &analytics;
  services.sso = sso_service.get();
  services.contact = &contact;
  services.integrations = &integrations;
  services.integration_pool = &integration_pool;
  services.calls = &calls;
  services.call_pool = &call_pool;
  services.ai = cfg.ai ? &ai_service : nullptr;
  services.notifications = &notifications;
  api::Api api(services, api_opts);
  if (auto r = api.init(); !r) return die(r.error().message);
  api.set_readiness_checks(readiness_checks(cfg, storage, *file_adapters->blobs));

  net::Router router;
  api.register_routes(router);
  if (mode == Mode::print_routes) {
    for (const auto& r : router.routes())
      std::printf("%s %s\n", net::method_name(r.method), r.pattern.c_str());
    return 0;
  }
  server_opts.host = cfg.host;
  server_opts.port = cfg.port;
  server_opts.io_threads = cfg.io_threads ? cfg.io_threads : cores;
  server_opts.max_body_bytes = cfg.max_body_bytes;
  server_opts.access_log = cfg.access_log;
  server_opts.client_ip = api.client_ip();
  server_opts.max_connections = cfg.max_connections;
  // Answers are JSON for one client and never worth caching; the web app's files set their own.
  server_opts.default_headers = {{"X-Content-Type-Options", "nosniff"},
                                 {"Cache-Control", "no-store"}};
  server_opts.drain_delay = std::chrono::milliseconds(cfg.drain_delay_ms);
  server_opts.on_drain = [&api] { api.begin_drain(); };

  // --metrics-listen: a second, small server (its own router, no WebSockets, no signals) on the
  // same worker pool; it stops when it goes out of scope, after the main one has drained.
  net::Router metrics_router;
  std::unique_ptr<net::Server> metrics_server;
  if (cfg.metrics_port) {
    api::add_metrics_route(metrics_router);
    net::ServerOptions mo;
    mo.host = cfg.metrics_host;
    mo.port = *cfg.metrics_port;
    mo.io_threads = 1;
    mo.access_log = false;
    mo.handle_signals = false;
    mo.max_connections = 64;
    mo.websocket_path = "";
    mo.default_headers = server_opts.default_headers;
    metrics_server = std::make_unique<net::Server>(mo, metrics_router, pool, net::WsFactory{});
    if (auto r = metrics_server->start(); !r) return die("metrics: " + r.error().message);
    log::info("serving metrics",
              {{"address", cfg.metrics_host}, {"port", static_cast<int>(metrics_server->port())}});
  }

  // Memory a burst of connections freed goes back to the system once it settles (heap_trim.h).
  HeapTrimmer heap_trimmer(std::chrono::seconds(2), 16u << 20);
  net::Server server(server_opts, router, pool, api.websocket_factory(),
                     api.websocket_admission());
  if (auto r = server.start(); !r) return die(r.error().message);
  retention.start();
  exports.start();
  analytics.start();
  // Only now: an early return above destroys the services the job handlers use.
  job_queue->start();
  log::info("listening", {{"address", cfg.host},
                          {"port", static_cast<int>(server.port())},
                          {"data_dir", cfg.data_dir},
                          {"version", PARLEY_VERSION}});

  // Returns after SIGTERM/SIGINT and a graceful drain: WebSockets closed with 1012, in-flight
  // requests answered. Then the pool finishes its queued work (sends waiting for their commit),
  // and only then do the stores stop.
  server.run();
  metrics_server.reset();
  ai_service.stop();  // no more events handled; reminders stop
  ai_gateway.stop();  // queued AI jobs finish
  pool.stop();
  job_queue->stop();  // running jobs finish; the rest wait in the outbox for the next start
  preview_pool.stop();
  retention.stop();
  exports.stop();
  analytics.stop();
  send_pool.stop();  // queued mail and texts go out before the stores stop
  integrations.stop();
  integration_pool.stop();
  files.stop();
  call_pool.stop();
  calls.stop();
  presence.stop();
  if (storage.sqlite) storage.sqlite->stop();
  storage.messaging->stop();  // queued sends complete while the messaging service exists
  log::info("stopped");
  log::flush();
  return 0;
}

}  // namespace
}  // namespace parley::app

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(parley::app::usage(), args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::printf("parley %s\n", PARLEY_VERSION);
    return 0;
  }
  if (args[0] == "serve" || args[0] == "routes")
    return parley::app::serve(
        {args.begin() + 1, args.end()},
        args[0] == "serve" ? parley::app::Mode::serve : parley::app::Mode::print_routes);
  if (args[0] == "backup") return parley::app::backup_command({args.begin() + 1, args.end()});
  if (args[0] == "restore") return parley::app::restore_command({args.begin() + 1, args.end()});
  if (args[0] == "admin")
    return parley::app::admin_command({args.begin() + 1, args.end()}, environ);
  if (args[0] == "storage")
    return parley::app::storage_command({args.begin() + 1, args.end()}, environ);
  return parley::app::die("unknown command \"" + args[0] + "\" (see parley --help)");
}
