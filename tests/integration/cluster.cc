#include "cluster.h"

#include <cctype>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

namespace parley::itest {

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string source_dir() {
#ifdef PARLEY_SOURCE_DIR
  return PARLEY_SOURCE_DIR;
#else
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().string();
#endif
}

std::string shared_postgres_and_redis(std::string* postgres, std::string* redis) {
  *postgres = getenv_str("PARLEY_TEST_POSTGRES_URL");
  *redis = getenv_str("PARLEY_TEST_REDIS_URL");
  if (postgres->empty() || redis->empty())
    return "these tests need PARLEY_TEST_POSTGRES_URL and PARLEY_TEST_REDIS_URL (make test starts "
           "both)";
  return {};
}

std::uint16_t random_port() {
  static std::mt19937 g{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard lock(mu);
  return static_cast<std::uint16_t>(20000 + g() % 12000);
}

std::string ScriptServer::start(const std::string& args, std::string* why, bool* not_installed) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = random_port();
    auto r = run("start " + args);
    if (r.status == 3) {
      *not_installed = true;
      *why = r.out;
      return {};
    }
    auto url = r.line_starting(name_ == "redis" ? "redis://" : "http://");
    if (r.status == 0 && !url.empty()) {
      url_ = url;
      return url;
    }
    *why =
        "scripts/" + name_ + ".sh start (exit status " + std::to_string(r.status) + "): " + r.out;
    stop();
  }
  return {};
}

std::string ScriptServer::restart(std::chrono::milliseconds down) {
  stop();
  std::this_thread::sleep_for(down);
  return start_again();
}

std::string ScriptServer::start_again() {
  std::string why;
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline) {
    auto r = run("start");
    auto url = r.line_starting(name_ == "redis" ? "redis://" : "http://");
    if (r.status == 0 && url == url_) return {};
    why = "exit status " + std::to_string(r.status) + ", URL " + url + " (wanted " + url_ +
          "): " + r.out;
    if (r.status == 0) stop();  // came up on another port
    std::this_thread::sleep_for(100ms);
  }
  return why;
}

std::string find_psql() {
  auto r = run_shell(
      "command -v psql || ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1");
  auto p = r.line_starting("/");
  return r.status == 0 ? p : std::string();
}

std::string with_database(const std::string& url, const std::string& db) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return {};
  auto slash = url.find('/', scheme + 3);
  auto query = url.find('?', scheme + 3);
  std::string head = url.substr(0, std::min(slash, query));
  return head + "/" + db + (query == std::string::npos ? "" : url.substr(query));
}

std::string OwnDatabase::create(const std::string& base_url, const std::string& psql) {
  base_ = base_url;
  psql_ = psql;
  name_ = "parley_mn_" + std::to_string(::getpid()) + "_" + unique_name("d").substr(2);
  for (char& c : name_)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  url_ = with_database(base_url, name_);
  if (url_.empty()) return "PARLEY_TEST_POSTGRES_URL is not a postgres:// URL: " + base_url;
  ShellRun r;
  for (int attempt = 0; attempt < 20; ++attempt) {
    // CREATE DATABASE copies template1 and fails while another session is connected to it.
    r = admin("CREATE DATABASE " + name_);
    if (r.status == 0) {
      created_ = true;
      return {};
    }
    if (r.out.find("being accessed by other users") == std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  return "CREATE DATABASE " + name_ + " failed: " + r.out;
}

std::string Cluster::start(const ClusterOptions& o) {
  const auto pg = getenv_str("PARLEY_TEST_POSTGRES_URL");
  const auto shared_redis = getenv_str("PARLEY_TEST_REDIS_URL");
  if (pg.empty())
    return skip(
        "PARLEY_TEST_POSTGRES_URL is not set: multi-node tests skipped (`make test` "
        "starts a throw-away PostgreSQL; or scripts/postgres.sh start --fast)");
  if (shared_redis.empty())
    return skip(
        "PARLEY_TEST_REDIS_URL is not set: multi-node tests skipped (`make test` starts "
        "a throw-away Redis; or scripts/redis.sh start)");
  if (run_shell("command -v nginx || test -x /usr/sbin/nginx").status != 0)
    return skip(
        "nginx is not installed: multi-node tests skipped (scripts/install-deps.sh "
        "installs it)");
  auto psql = find_psql();
  if (psql.empty())
    return skip(
        "psql is not installed: multi-node tests (which create a database of their "
        "own) skipped (scripts/install-deps.sh installs PostgreSQL)");

  redis_url = shared_redis;
  if (o.own_redis) {
    own_redis = std::make_unique<ScriptServer>("redis");
    std::string why;
    bool missing = false;
    redis_url = own_redis->start("", &why, &missing);
    if (missing)
      return skip("redis-server is not installed: the Redis-restart test skipped (" + why + ")");
    if (redis_url.empty()) return "could not start a Redis of its own: " + why;
  }

  std::vector<std::string> storage;
  if (o.s3) {
    const auto s3 = getenv_str("PARLEY_TEST_S3_URL");
    if (s3.empty())
      return skip(
          "PARLEY_TEST_S3_URL is not set: the multi-node file tests skipped (`make test` "
          "starts s3rver; or scripts/s3.sh start)");
    storage = {"--storage",       s3,
               "--s3-access-key", getenv_str("PARLEY_TEST_S3_ACCESS_KEY"),
               "--s3-secret-key", getenv_str("PARLEY_TEST_S3_SECRET_KEY")};
  }

  if (auto err = db.create(pg, psql); !err.empty()) return err;

  // One after the other, from this thread: ServerProcess children get SIGKILL when the thread
  // that forked them ends (PR_SET_PDEATHSIG), so no helper threads here.
  for (int i = 0; i < kNodes; ++i) {
    std::vector<std::string> args = {"--database",
                                     db.url(),
                                     "--redis",
                                     redis_url,
                                     "--node-id",
                                     "mn" + std::to_string(::getpid()) + "-" + std::to_string(i),
                                     "--rate-limits",
                                     kGenerousLimits,
                                     "--trusted-proxies",
                                     "127.0.0.1",
                                     "--workers",
                                     "16",
                                     "--presence-grace-ms",
                                     std::to_string(kPresenceGrace.count())};
    args.insert(args.end(), storage.begin(), storage.end());
    nodes.push_back(std::make_unique<ServerProcess>(std::move(args)));
  }
  for (int i = 0; i < kNodes; ++i)
    if (auto err = nodes[static_cast<std::size_t>(i)]->start(); !err.empty())
      return "node " + std::to_string(i) + " did not start: " + err;

  nginx = std::make_unique<ScriptServer>("nginx");
  std::string node_ports, why;
  for (auto& n : nodes) node_ports += " " + std::to_string(n->port());
  bool missing = false;
  auto url = nginx->start(node_ports, &why, &missing);
  if (missing) return skip("nginx is not installed: multi-node tests skipped (" + why + ")");
  if (url.empty()) return "nginx did not start: " + why;
  proxy = static_cast<std::uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
  return {};
}

}  // namespace parley::itest
