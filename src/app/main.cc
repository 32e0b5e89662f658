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
#include "adapters/pocketsphinx/pocketsphinx_transcriber.h"
#include "adapters/clamav/clamd_scanner.h"
#include "adapters/cld2/cld2_detector.h"
#include "adapters/curl/curl_fetcher.h"
#include "adapters/inprocess/in_process_bus.h"
#include "adapters/local/local_blob_store.h"
#include "adapters/postgres/pool.h"
#include "adapters/postgres/stores.h"
#include "adapters/redis/redis.h"
#include "adapters/s3/s3_blob_store.h"
#include "adapters/sqlite/stores.h"
#include "adapters/vips/vips_image_processor.h"
#include "api/api.h"
#include "app/admin_command.h"
#include "app/backup.h"
#include "app/config.h"
#include "app/storage_copy.h"
#include "core/crypto.h"
#include "core/log.h"
#include "modules/admin/admin.h"
#include "modules/ai/ai.h"
#include "modules/ai/openai_engine.h"
#include "modules/ai/sentiment.h"
#include "modules/audit/audit.h"
#include "modules/auth/auth.h"
#include "modules/files/files.h"
#include "modules/messaging/messaging.h"
#include "modules/presence/presence.h"
#include "modules/ratelimit/rate_limiter.h"
#include "modules/search/search.h"
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
  std::unique_ptr<audit::AuditStore> audit;
  std::unique_ptr<admin::AdminStore> admin;
  std::unique_ptr<ai::AiStore> ai;
};

// Db is sqlite::Database or postgres::Pool: the factories are found by argument-dependent lookup.
template <class Db>
Result<void> open_stores(Storage& s, Db& db) {
  auto users = make_user_store(db);
  if (!users) return fail(users.error());
  auto auth = make_auth_store(db);
  if (!auth) return fail(auth.error());
  auto messaging = make_messaging_store(db);
  if (!messaging) return fail(messaging.error());
  auto search = make_search_index(db);  // after messaging: it indexes the messages table
  if (!search) return fail(search.error());
  auto files = make_file_store(db);
  if (!files) return fail(files.error());
  auto audit = make_audit_store(db);
  if (!audit) return fail(audit.error());
  auto admin = make_admin_store(db);
  if (!admin) return fail(admin.error());
  auto ai = make_ai_store(db);
  if (!ai) return fail(ai.error());
  s.ai = std::move(*ai);
  s.files = std::move(*files);
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
  if (cfg.redis.empty()) {
    bus = adapters::make_in_process_bus();
    limiter = ratelimit::make_in_memory_rate_limiter(clock);
    presence_store = presence::make_in_memory_presence_store();
  } else {
    std::string node = cfg.node_id.empty() ? host_name() + "-" + std::to_string(cfg.port) : cfg.node_id;
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

  api::ApiOptions api_opts;
  api_opts.version = PARLEY_VERSION;
  api_opts.trusted_proxies = cfg.trusted_proxies;
  api_opts.limits = cfg.rate_limits;
  api_opts.sockets = cfg.sockets;
  api_opts.web_root = cfg.web_root;
  api_opts.metrics_route = !cfg.metrics_port.has_value();
  net::ServerOptions server_opts;
  api_opts.heartbeat_ms = static_cast<int>(server_opts.ws_heartbeat.count());
  api::Services services{auth, users, messaging, search, presence, *limiter, files, *bus, pool,
                         clock,
                         cfg.link_previews ? &previews : nullptr,
                         cfg.link_previews ? &preview_pool : nullptr,
                         cfg.link_previews ? fetcher.get() : nullptr};
  services.audit = &audit_log;
  services.admin = &admin;
  services.ai = cfg.ai ? &ai_service : nullptr;
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

  net::Server server(server_opts, router, pool, api.websocket_factory(),
                     api.websocket_admission());
  if (auto r = server.start(); !r) return die(r.error().message);
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
  preview_pool.stop();
  files.stop();
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
