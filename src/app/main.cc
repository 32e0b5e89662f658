// parley: the composition root. Loads configuration, picks the adapters (embedded defaults
// for now), wires modules, api and server, runs until SIGTERM/SIGINT, and stops everything in
// reverse order of start.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "adapters/inprocess/in_process_bus.h"
#include "adapters/sqlite/stores.h"
#include "api/api.h"
#include "app/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "modules/auth/auth.h"
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

int serve(const std::vector<std::string>& args) {
  auto config = load_config(args, environ);
  if (!config) return die(config.error().message);
  const Config& cfg = *config;

  init_crypto();
  log::init(cfg.log_format, cfg.log_level);

  std::error_code ec;
  std::filesystem::create_directories(cfg.data_dir, ec);
  if (ec) return die("cannot create data directory " + cfg.data_dir + ": " + ec.message());
  ::chmod(cfg.data_dir.c_str(), 0700);  // the database holds password hashes and keys

  auto db = sqlite::Database::open(cfg.data_dir + "/parley.db");
  if (!db) return die(db.error().message);
  auto user_store = sqlite::make_user_store(**db);
  if (!user_store) return die(user_store.error().message);
  auto auth_store = sqlite::make_auth_store(**db);
  if (!auth_store) return die(auth_store.error().message);
  auto messaging_store = sqlite::make_messaging_store(**db);
  if (!messaging_store) return die(messaging_store.error().message);
  auto search_index = sqlite::make_search_index(**db);
  if (!search_index) return die(search_index.error().message);

  SystemClock clock;
  auto bus = adapters::make_in_process_bus();
  auto limiter = ratelimit::make_in_memory_rate_limiter(clock);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  // A send holds its worker until its group commits, so the worker count caps how many sends
  // share a commit: 32 lets group commit work even on small machines (bench/RESULTS.md).
  WorkerPool pool("worker", cfg.workers ? cfg.workers : std::max(32u, 4 * cores), 10'000);

  users::UserService users(**user_store, clock);
  auth::AuthService auth(**auth_store, users, *bus, clock, auth::AuthOptions{});
  if (auto r = auth.init(); !r) return die("auth: " + r.error().message);
  messaging::MessagingService messaging(**messaging_store, users, *bus, clock);
  search::SearchService search(**search_index, messaging);
  presence::PresenceService presence(messaging, users, clock, {cfg.presence_grace_ms});

  api::ApiOptions api_opts;
  api_opts.version = PARLEY_VERSION;
  api_opts.trusted_proxies = cfg.trusted_proxies;
  api_opts.limits = cfg.rate_limits;
  api_opts.web_root = cfg.web_root;
  net::ServerOptions server_opts;
  api_opts.heartbeat_ms = static_cast<int>(server_opts.ws_heartbeat.count());
  api::Api api({auth, users, messaging, search, presence, *limiter, *bus, pool}, api_opts);
  if (auto r = api.init(); !r) return die(r.error().message);

  net::Router router;
  api.register_routes(router);
  server_opts.host = cfg.host;
  server_opts.port = cfg.port;
  server_opts.io_threads = cfg.io_threads ? cfg.io_threads : cores;
  server_opts.max_body_bytes = cfg.max_body_bytes;
  server_opts.access_log = cfg.access_log;
  net::Server server(server_opts, router, pool, api.websocket_factory());
  if (auto r = server.start(); !r) return die(r.error().message);
  log::info("listening", {{"address", cfg.host},
                          {"port", static_cast<int>(server.port())},
                          {"data_dir", cfg.data_dir},
                          {"version", PARLEY_VERSION}});

  server.run();  // returns after SIGTERM/SIGINT and a graceful drain
  pool.stop();
  presence.stop();
  (*db)->stop();
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
  if (args[0] == "serve") return parley::app::serve({args.begin() + 1, args.end()});
  return parley::app::die("unknown command \"" + args[0] + "\" (see parley --help)");
}
