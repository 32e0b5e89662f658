// scaleout: fan-out and durable sends on one node (SQLite, then PostgreSQL) and on a cluster of
// nodes sharing PostgreSQL and Redis, each against fresh servers and a fresh database.
#include "load_generator.h"
#include "scenarios/chat.h"

namespace parley::bench {

namespace {

// The throw-away PostgreSQL (fsync on: acknowledged means durable, as with SQLite) and Redis of
// the scale-out run, from the project's scripts; stopped and removed when this goes.
class Engines {
 public:
  explicit Engines(const std::string& work_dir) : redis_dir_(work_dir + "/redis") {}
  ~Engines() {
    if (!pg_dir_.empty()) shell(script("postgres.sh") + " stop " + sh_quote(pg_dir_) + " >&2");
    if (!redis_url_.empty())
      shell("PARLEY_REDIS_DIR=" + sh_quote(redis_dir_) + " " + script("redis.sh") + " stop >&2");
  }
  // Empty on success, otherwise why not.
  std::string start() {
    // Not inside the bench's 0700 folder: run as root, PostgreSQL runs as another user.
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        (tmp && *tmp ? std::string(tmp) : std::string("/tmp")) + "/parley-bench-pg-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) return std::string("mkdtemp: ") + std::strerror(errno);
    pg_dir_ = buf.data();
    auto pg = shell(script("postgres.sh") + " start " + sh_quote(pg_dir_));
    if (!pg || pg->rfind("postgres://", 0) != 0)
      return "PostgreSQL did not start (scripts/postgres.sh; scripts/install-deps.sh installs it)";
    pg_url_ = *pg;
    auto redis = shell("PARLEY_REDIS_DIR=" + sh_quote(redis_dir_) + " PARLEY_REDIS_PORT=57379 " +
                       script("redis.sh") + " start");
    if (!redis || redis->rfind("redis://", 0) != 0)
      return "Redis did not start (scripts/redis.sh; scripts/install-deps.sh installs it)";
    redis_url_ = *redis;
    return {};
  }
  const std::string& redis_url() const { return redis_url_; }
  // A new database on the server; its URL, or "" (and says why on stderr).
  std::string create_database(const std::string& name) {
    std::string admin = pg_url_.substr(0, pg_url_.rfind('/')) + "/postgres";
    auto r = shell(
        "psql=\"$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql | sort -V | "
        "tail -n 1)\" && \"$psql\" " +
        sh_quote(admin) + " -v ON_ERROR_STOP=1 -qAt -c " + sh_quote("CREATE DATABASE " + name));
    return r ? pg_url_.substr(0, pg_url_.rfind('/')) + "/" + name : "";
  }
  // PostgreSQL's processes (the postmaster's children): whose WAL syncs are the commits.
  ServerPids postgres_pids() const {
    std::vector<pid_t> out;
    std::ifstream pidfile(pg_dir_ + "/data/postmaster.pid");
    pid_t postmaster = 0;
    if (!(pidfile >> postmaster)) return out;
    out.push_back(postmaster);
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
      std::string name = e.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      std::string stat = read_file(e.path().string() + "/stat");
      auto paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      std::istringstream in(stat.substr(paren + 2));
      std::string state;
      long ppid = 0;
      if (in >> state >> ppid && ppid == postmaster) out.push_back(std::stoi(name));
    }
    return out;
  }

 private:
  static std::string script(const char* name) {
    return sh_quote(std::string(PARLEY_SOURCE_DIR) + "/scripts/" + name);
  }
  std::string pg_dir_, pg_url_, redis_dir_, redis_url_;
};

}  // namespace

void run_scaleout(Env& given) {
  // Each configuration gets an Env of its own (its nodes, its users); from main's only these.
  const Options& opt = *given.opt;
  const std::string& tmp_dir = given.tmp_dir;
  const unsigned cores = given.cores, threads = given.threads;
  std::vector<Result>& results = *given.results;
  std::vector<std::string>& headlines = *given.headlines;
  const unsigned n = opt.scaleout_fanout;
  std::printf(
      "\n== scale-out: fan-out to N = %u and durable WebSocket sends (%u senders) on one node "
      "with SQLite, one node with PostgreSQL, and %u nodes sharing PostgreSQL and Redis; every "
      "node, PostgreSQL, Redis and the load generator share this machine's %u cores\n",
      n, opt.durable_conns, opt.scaleout_nodes, cores);
  Engines engines(tmp_dir);
  if (auto why = engines.start(); !why.empty()) {
    std::printf("   skipped: %s\n", why.c_str());
    return;
  }
  struct Config {
    std::string label;
    unsigned nodes;
    bool postgres;
  };
  struct Figures {
    std::string label;
    unsigned nodes = 0;
    double deliveries = 0, sends = 0;                       // closed loop, all nodes together
    double p50 = 0, p99 = 0, cross_p50 = 0, cross_p99 = 0;  // fan-out at half rate, ms
    double ack_p50 = 0, ack_p99 = 0;
    double server_cpu = 0, other_cpu = 0;  // durable window: the nodes; PostgreSQL, Redis, rest
    bool errors = false;
  };
  std::vector<Config> configs = {
      {"1 node sqlite", 1, false},
      {"1 node postgres", 1, true},
      {std::to_string(opt.scaleout_nodes) + " nodes pg+redis", opt.scaleout_nodes, true}};
  std::vector<Figures> figures;
  for (std::size_t k = 0; k < configs.size(); ++k) {
    const Config& cfg = configs[k];
    std::printf("\n-- %s\n", cfg.label.c_str());
    std::string db_url;
    if (cfg.postgres) {
      db_url = engines.create_database("parley_bench_" + std::to_string(k));
      if (db_url.empty()) {
        std::printf("   skipped: could not create its database\n");
        continue;
      }
    }
    std::vector<std::unique_ptr<ServerProcess>> servers;
    Env env;
    env.opt = &opt;
    env.cores = cores;
    env.threads = threads;
    env.results = &results;
    env.headlines = &headlines;
    env.label = "[" + cfg.label + "] ";
    bool started = true;
    for (unsigned i = 0; i < cfg.nodes && started; ++i) {
      std::vector<std::string> extra;
      if (cfg.postgres) extra = {"--database", db_url};
      if (cfg.nodes > 1)
        extra.insert(extra.end(), {"--redis", engines.redis_url(), "--node-id",
                                   "bench-" + std::to_string(k) + "-" + std::to_string(i)});
      std::string dir = tmp_dir + "/scaleout-" + std::to_string(k) + "-" + std::to_string(i);
      servers.push_back(std::make_unique<ServerProcess>());
      started = servers.back()->start(opt, dir, extra);
      if (!started) {
        std::printf("   node %u did not start; its last lines:\n", i);
        for (const auto& l : servers.back()->tail()) std::printf("     %s\n", l.c_str());
      } else {
        env.nodes.push_back(
            {servers.back()->pid(),
             tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), servers.back()->port())});
      }
    }
    if (!started) continue;
    if (cfg.postgres) {
      env.commit_pids = [&engines] { return engines.postgres_pids(); };
      env.others = cfg.nodes > 1 ? "PostgreSQL and Redis" : "PostgreSQL";
    }
    Registered reg = register_users(opt, n + 1 + opt.durable_conns, threads, env.pids(), env.ep());
    if (reg.good_tokens.size() < n + 1 + opt.durable_conns) {
      std::printf("   skipped: only %zu users registered\n", reg.good_tokens.size());
      continue;
    }
    env.tokens = reg.good_tokens;
    env.user_ids = reg.good_ids;
    const std::size_t first = results.size();
    run_fanout(env, n, false);
    // On PostgreSQL alone also sends into one conversation (its row lock orders them).
    run_durable(env, true, cfg.postgres && cfg.nodes == 1);
    if (results.size() < first + 3) {
      std::printf("   (incomplete: see above)\n");
      continue;
    }
    const Result& closed = results[first];
    const Result& half = results[first + 1];
    const Result& durable = results[first + 2];
    Figures f;
    f.label = cfg.label;
    f.nodes = cfg.nodes;
    f.deliveries = closed.rate();
    f.p50 = percentile_ms(half.latency_ns, 0.5);
    f.p99 = percentile_ms(half.latency_ns, 0.99);
    f.cross_p50 = percentile_ms(half.latency2_ns, 0.5);
    f.cross_p99 = percentile_ms(half.latency2_ns, 0.99);
    f.sends = durable.rate();
    f.ack_p50 = percentile_ms(durable.latency_ns, 0.5);
    f.ack_p99 = percentile_ms(durable.latency_ns, 0.99);
    double secs = std::max(1e-9, durable.seconds);
    f.server_cpu = durable.server.total / secs;
    f.other_cpu = durable.others_cpu() / secs;
    f.errors = closed.errors || half.errors || durable.errors;
    figures.push_back(f);
    for (auto& s : servers) {
      auto [count, lines] = s->problems();
      std::string how = s->stop();
      std::printf("   node %s; %d warn/error log line(s)\n", how.c_str(), count);
      for (const auto& l : lines) std::printf("     %s\n", l.c_str());
    }
  }
  if (figures.empty()) return;
  // Per-node throughput against the single-node runs: 1.00 would be linear scaling on machines
  // of their own; here every node shares the same cores, so this shows the cost of the cluster.
  auto base = [&](const char* label) -> const Figures* {
    for (const auto& f : figures)
      if (f.label == label) return &f;
    return nullptr;
  };
  const Figures* sqlite = base("1 node sqlite");
  const Figures* pg = base("1 node postgres");
  auto rel = [](double v, const Figures* b, double Figures::*field) {
    return b && b->*field > 0 ? fmt("%.2f", v / (b->*field)) : std::string("-");
  };
  std::printf(
      "\nscale-out summary (%u cores shared by every process; fan-out N=%u closed loop, latency "
      "at half that rate; durable = WebSocket send -> ack, %u senders in own DMs, connections "
      "spread over the nodes):\n",
      cores, n, opt.durable_conns);
  std::printf("%-20s %12s %10s %6s %6s %17s %17s %10s %9s %6s %6s %15s %10s\n", "config",
              "deliveries/s", "per node", "/sqlite", "/pg", "p50/p99 ms", "cross-node ms",
              "sends/s", "per node", "/sqlite", "/pg", "ack p50/p99 ms", "cpu nodes/other");
  for (const auto& f : figures) {
    double dn = f.deliveries / f.nodes, sn = f.sends / f.nodes;
    std::string cross =
        f.nodes > 1 ? fmt("%.1f", f.cross_p50) + "/" + fmt("%.1f", f.cross_p99) : std::string("-");
    std::printf("%-20s %12.0f %10.0f %6s %6s %17s %17s %10.0f %9.0f %6s %6s %15s %10s%s\n",
                f.label.c_str(), f.deliveries, dn, rel(dn, sqlite, &Figures::deliveries).c_str(),
                rel(dn, pg, &Figures::deliveries).c_str(),
                (fmt("%.1f", f.p50) + "/" + fmt("%.1f", f.p99)).c_str(), cross.c_str(), f.sends, sn,
                rel(sn, sqlite, &Figures::sends).c_str(), rel(sn, pg, &Figures::sends).c_str(),
                (fmt("%.1f", f.ack_p50) + "/" + fmt("%.1f", f.ack_p99)).c_str(),
                (fmt("%.2f", f.server_cpu) + "/" + fmt("%.2f", f.other_cpu)).c_str(),
                f.errors ? "  ERRORS" : "");
    char line[400];
    std::snprintf(line, sizeof line,
                  "scale-out %s: fan-out N=%u %.0f deliveries/s (%.0f per node), p50/p99 %.1f/%.1f "
                  "ms%s; durable %.0f sends/s (%.0f per node), ack p99 %.1f ms",
                  f.label.c_str(), n, f.deliveries, dn, f.p50, f.p99,
                  f.nodes > 1 ? (", cross-node " + cross + " ms").c_str() : "", f.sends, sn,
                  f.ack_p99);
    headlines.push_back(line);
  }
  std::printf(
      "(per node /sqlite, /pg: a node's share of the throughput divided by the single "
      "node's total; cpu: cores busy in the durable window, the nodes / everything else "
      "but the load generator, i.e. PostgreSQL and Redis)\n");
}

}  // namespace parley::bench
