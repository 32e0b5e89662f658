// parley_bench: load generator for the Parley server.
//
// Starts its own `parley serve` on a loopback port with a throw-away data folder, registers
// users, then runs each scenario for a fixed measurement window and prints throughput, latency
// percentiles, errors, and who spent the CPU (the server, this load generator, the rest of the
// machine), so a reader can tell what bounded each figure.
//
// The client side is built to stay out of the way: a few threads, each with its own io_context
// and its own share of the connections; C++20 coroutines; request bytes (HTTP requests and
// masked WebSocket frames) built once before the clock starts; a minimal HTTP/1.1 response and
// WebSocket frame reader; latency recorded per operation into per-thread vectors.
//
// Only 127.0.0.1 is ever contacted. Every loop is bounded by a deadline and a count.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "scenarios/chat.h"

using namespace parley::bench;  // NOLINT: this file is the bench's own

namespace {

// ---------------------------------------------------------------------------------------------
// Options (the struct is in bench_support.h, shared with the file scenarios)

void usage() {
  std::fputs(
      "parley_bench: starts a Parley server on 127.0.0.1 and measures it\n"
      "  --server PATH        parley binary (default: the one built beside this bench)\n"
      "  --seconds S          measurement window per scenario (default 6)\n"
      "  --warmup S           uncounted run before each window (default 0.5)\n"
      "  --threads N          load generator threads, each with its own io_context (default auto)\n"
      "  --users N            users registered first (default 256)\n"
      "  --login-conns N      concurrent logins (default 32)\n"
      "  --me-conns N         keep-alive connections for GET /users/me and /health (default 128)\n"
      "  --ws-conns N         concurrent WebSocket connect+hello loops (default 64)\n"
      "  --server-flag ARG    pass ARG to `parley serve` (repeat: --server-flag --workers "
      "--server-flag 4)\n"
      "  --trace-ratio R      trace with this sample ratio: the server exports its spans to\n"
      "                       an OTLP sink in this process (default: tracing off)\n"
      "  --scenario LIST      run only these (comma-separated) of login, health, me, ws, idle,\n"
      "                       fanout, durable, history, search, scaleout, and the file\n"
      "                       scenarios below; default all (register always runs unless only\n"
      "                       file scenarios are named; history, search, scaleout and the file\n"
      "                       scenarios start their own servers); --only: the same\n"
      "  --thumbnails N       distinct 1600x1200 JPEGs the thumbnails scenario makes (default 64)\n"
      "  --scaleout-nodes N   nodes of the cluster that scaleout compares with one (default 3)\n"
      "  --scaleout-fanout N  receivers of the scaleout fan-out (default 100)\n"
      "  --idle-conns N       idle WebSockets to aim for (default 100000; the descriptor limit\n"
      "                       may allow fewer: the bench says so)\n"
      "  --idle-hold S        how long the idle connections are held and watched (default 5)\n"
      "  --source-addrs N     spread client sockets over 127.0.0.2 .. (default 8)\n"
      "  --fanout LIST        receivers per fan-out run (default 100,1000)\n"
      "  --fanout-window N    closed-loop fan-out: messages not yet delivered to all (default 64)\n"
      "  --durable-conns N    concurrent senders for the durable scenarios (default 64)\n"
      "  --messages N         messages stored for history and search (default 1000000)\n"
      "  --seed-conns N       HTTP connections that seed them (default 64)\n"
      "  --seed-workers N     --workers of the seeding server (default 64: larger commit groups)\n"
      "  --read-conns N       connections for history paging (default 8)\n"
      "  --search-conns N     connections for search (default 4)\n"
      "  --cache-dir DIR      where the seeded store is kept between runs (default "
      "build/bench-cache)\n"
      "  --no-cache           seed into the temporary folder and do not keep it\n"
      "  --reseed             seed again even when a cached store exists\n"
      "  --keep-data          leave the server's data folder behind\n",
      stdout);
  std::puts("file, call, AI and notification scenarios:");
  for (const auto& sc : group_scenarios())
    std::printf("  %-20s %.*s\n", std::string(sc.name).c_str(),
                static_cast<int>(sc.description.size()), sc.description.data());
}

// A loopback OTLP/HTTP receiver that discards what it gets (keep-alive, one thread per client).
class OtlpSink {
 public:
  OtlpSink() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    std::thread([fd = fd_, bytes = &bytes_] {
      for (;;) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;
        std::thread([c, bytes] {
          std::string in;
          char buf[65536];
          for (;;) {
            auto head_end = in.find("\r\n\r\n");
            if (head_end != std::string::npos) {
              std::string head = in.substr(0, head_end);
              for (auto& ch : head)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
              std::size_t length = 0;
              if (auto at = head.find("content-length:"); at != std::string::npos)
                length = std::strtoul(head.c_str() + at + 15, nullptr, 10);
              if (in.size() >= head_end + 4 + length) {
                *bytes += length;
                in.erase(0, head_end + 4 + length);
                static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
                if (::send(c, ok, sizeof ok - 1, MSG_NOSIGNAL) < 0) break;
                continue;
              }
            }
            auto n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, static_cast<std::size_t>(n));
          }
          ::close(c);
        }).detach();
      }
    }).detach();
  }
  std::uint16_t port() const { return port_; }
  ~OtlpSink() {
    std::printf("trace sink: %.1f MB of OTLP JSON received\n", static_cast<double>(bytes_) / 1e6);
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<std::uint64_t> bytes_{0};
};

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    auto number = [&](double lo, double hi) -> std::optional<double> {
      auto v = value();
      if (!v) return std::nullopt;
      char* end = nullptr;
      double d = std::strtod(v->c_str(), &end);
      if (end == v->c_str() || *end != '\0' || d < lo || d > hi) return std::nullopt;
      return d;
    };
    std::optional<double> d;
    if (a == "--help" || a == "-h") {
      usage();
      std::exit(0);
    } else if (a == "--server") {
      auto v = value();
      if (!v) return std::nullopt;
      o.server = *v;
    } else if (a == "--server-flag") {
      auto v = value();
      if (!v) return std::nullopt;
      o.server_flags.push_back(*v);
    } else if (a == "--only" || a == "--scenario") {
      auto v = value();
      if (!v) return std::nullopt;
      o.only = *v;
    } else if (a == "--trace-ratio") {
      auto v = value();
      if (!v) return std::nullopt;
      o.trace_ratio = *v;
    } else if (a == "--keep-data") {
      o.keep_data = true;
    } else if (a == "--no-cache") {
      o.no_cache = true;
    } else if (a == "--reseed") {
      o.reseed = true;
    } else if (a == "--cache-dir") {
      auto v = value();
      if (!v) return std::nullopt;
      o.cache_dir = *v;
    } else if (a == "--fanout") {
      auto v = value();
      if (!v) return std::nullopt;
      o.fanout.clear();
      std::istringstream in(*v);
      std::string item;
      while (std::getline(in, item, ',')) {
        long n = std::strtol(item.c_str(), nullptr, 10);
        if (n < 1 || n > 100'000) return std::nullopt;
        o.fanout.push_back(static_cast<unsigned>(n));
      }
    } else if (a == "--idle-conns" && (d = number(0, 10'000'000))) {
      o.idle_conns = static_cast<unsigned>(*d);
    } else if (a == "--idle-hold" && (d = number(0, 600))) {
      o.idle_hold = *d;
    } else if (a == "--source-addrs" && (d = number(0, 250))) {
      o.source_addrs = static_cast<unsigned>(*d);
    } else if (a == "--fanout-window" && (d = number(1, 1000))) {
      o.fanout_window = static_cast<unsigned>(*d);
    } else if (a == "--scaleout-nodes" && (d = number(2, 16))) {
      o.scaleout_nodes = static_cast<unsigned>(*d);
    } else if (a == "--scaleout-fanout" && (d = number(1, 10'000))) {
      o.scaleout_fanout = static_cast<unsigned>(*d);
    } else if (a == "--durable-conns" && (d = number(1, 10'000))) {
      o.durable_conns = static_cast<unsigned>(*d);
    } else if (a == "--messages" && (d = number(100, 100'000'000))) {
      o.messages = static_cast<std::uint64_t>(*d);
    } else if (a == "--seed-conns" && (d = number(1, 4096))) {
      o.seed_conns = static_cast<unsigned>(*d);
    } else if (a == "--seed-workers" && (d = number(1, 1024))) {
      o.seed_workers = static_cast<unsigned>(*d);
    } else if (a == "--read-conns" && (d = number(1, 10'000))) {
      o.read_conns = static_cast<unsigned>(*d);
    } else if (a == "--search-conns" && (d = number(1, 10'000))) {
      o.search_conns = static_cast<unsigned>(*d);
    } else if (a == "--thumbnails" && (d = number(1, 10'000))) {
      o.thumbnails = static_cast<unsigned>(*d);
    } else if (a == "--seconds" && (d = number(0.5, kMaxScenarioSeconds))) {
      o.seconds = *d;
    } else if (a == "--warmup" && (d = number(0, 10))) {
      o.warmup = *d;
    } else if (a == "--threads" && (d = number(0, 64))) {
      o.threads = static_cast<unsigned>(*d);
    } else if (a == "--users" && (d = number(1, 100'000))) {
      o.users = static_cast<unsigned>(*d);
    } else if (a == "--login-conns" && (d = number(1, 10'000))) {
      o.login_conns = static_cast<unsigned>(*d);
    } else if (a == "--me-conns" && (d = number(1, 10'000))) {
      o.me_conns = static_cast<unsigned>(*d);
    } else if (a == "--ws-conns" && (d = number(1, 10'000))) {
      o.ws_conns = static_cast<unsigned>(*d);
    } else {
      std::fprintf(stderr, "parley_bench: bad or unknown option %s\n", a.c_str());
      return std::nullopt;
    }
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// The chat scenarios, in the order they run (bench/scenarios/*.cc), against the server main
// starts and the users it registers; the file, call, AI and notification groups follow
// (group_scenarios(), servers of their own).

struct ChatScenario {
  std::vector<std::string_view> names;  // --scenario picks it by any of them
  std::string_view description;
  void (*run)(Env&);
};

const std::vector<ChatScenario>& chat_scenarios() {
  static const std::vector<ChatScenario> table = {
      // First, while the server's heap holds nothing else.
      {{"idle"},
       "idle authenticated WebSockets: how many, and the server's memory for each",
       run_idle},
      {{"login"}, "POST /auth/login, users in turn: Argon2id-bound by design", run_login},
      {{"health"}, "GET /health: the HTTP stack alone, a reference", run_health},
      {{"me"}, "GET /users/me with a bearer token, keep-alive", run_me},
      {{"ws"}, "WebSocket connect, upgrade, hello -> ready, close", run_ws},
      {{"fanout"},
       "1-to-N fan-out for each N of --fanout",
       [](Env& env) {
         for (unsigned n : env.opt->fanout) run_fanout(env, n);
       }},
      {{"durable"}, "durable sends over WebSocket and HTTP", [](Env& env) { run_durable(env); }},
      {{"history", "search"}, "history paging and search over a seeded store", run_history_search},
      {{"scaleout"},
       "one node on SQLite, one on PostgreSQL, a cluster on PostgreSQL and Redis",
       run_scaleout},
  };
  return table;
}

bool wants(const Options& opt, const ChatScenario& sc) {
  for (auto name : sc.names)
    if (opt.wants(name)) return true;
  return false;
}

// The performance issue's table: each figure this run measured against its target (rows whose
// scenario did not run say so).
void print_targets(const std::vector<Result>& results, double idle_kb) {
  auto find = [&](const std::string& name) -> const Result* {
    for (const auto& r : results)
      if (r.name == name && r.ok > 0) return &r;
    return nullptr;
  };
  auto row = [](const char* metric, const std::string& now, const char* target) {
    std::printf("  %-58s %18s   %s\n", metric, now.c_str(), target);
  };
  auto rate = [&](const char* name) {
    const Result* r = find(name);
    return r ? fmt("%.0f/s", r->rate()) : std::string("not run");
  };
  auto p99 = [&](const char* name) {
    const Result* r = find(name);
    return r ? fmt("%.1f ms", percentile_ms(r->latency_ns, 0.99)) : std::string("not run");
  };
  std::printf("\nperformance targets (this run; server and load generator share the cores):\n");
  row("fan-out to 100, max deliveries/s", rate("fanout 100 max"), ">= 400k");
  row("fan-out to 1,000, max deliveries/s", rate("fanout 1000 max"), ">= 400k");
  row("fan-out to 1,000 at 20k deliveries/s, p99", p99("fanout 1000 @20k"), "<= 8 ms");
  const Result* f100 = find("fanout 100 max");
  row("server CPU per delivery (fan-out to 100, max)",
      f100 ? fmt("%.2f us", f100->server.total / static_cast<double>(f100->ok) * 1e6)
           : std::string("not run"),
      "<= 2 us");
  row("idle connection memory (server RSS per socket)",
      idle_kb > 0 ? fmt("%.2f KB", idle_kb) : std::string("not run"), "<= 4 KiB");
  row("durable sends/s (WS, SQLite, synchronous=FULL)", rate("durable ws many"), ">= 40k");
  row("  their ack p99", p99("durable ws many"), "<= 15 ms");
  row("durable sends/s, one node on PostgreSQL", rate("[1 node postgres] durable ws many"),
      ">= 10k");
  row("sends/s into one conversation on PostgreSQL", rate("[1 node postgres] durable http one"),
      ">= 5k");
  row("search p99, 1M messages, a word in 1 %", p99("search 1%"), "<= 15 ms");
  row("search p99, 1M messages, a word in 10 %", p99("search 10%"), "<= 15 ms");
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    usage();
    return 2;
  }
  Options opt = *parsed;
  signal(SIGPIPE, SIG_IGN);
  // Tracing cost: a loopback OTLP/HTTP sink that reads each POST whole and answers 200, so the
  // server does all its export work (spans, JSON, HTTP) against a collector that keeps up.
  std::optional<OtlpSink> sink;
  if (!opt.trace_ratio.empty()) {
    sink.emplace();
    opt.server_flags.insert(opt.server_flags.end(),
                            {"--otlp-endpoint", "http://127.0.0.1:" + std::to_string(sink->port()),
                             "--trace-sample-ratio", opt.trace_ratio});
  }
  const FdLimit fd_limit = raise_fd_limit();

  const unsigned cores = usable_cores();
  // The server and the load generator share these cores: a modest number of client threads
  // leaves the server most of the machine while keeping the client off a single-core ceiling.
  const unsigned threads = opt.threads ? opt.threads : std::clamp(cores / 2, 1u, 4u);

  std::printf("parley_bench  %s\n", utc_now().c_str());
  std::printf("machine: %s, %u cores usable (%u online), %s memory, %s\n", cpu_model().c_str(),
              cores, std::max(1u, std::thread::hardware_concurrency()), memory_total().c_str(),
              kernel().c_str());
  std::printf("load average before: %s\n", loadavg().c_str());
  std::printf(
      "descriptors: RLIMIT_NOFILE soft raised to the hard limit %llu for this load generator and "
      "the server it starts (the hard limit needs CAP_SYS_RESOURCE to go higher)\n",
      static_cast<unsigned long long>(fd_limit.hard));
  (void)fd_limit.soft;
  std::printf(
      "load generator: %u thread(s), one io_context each, sharing the machine with the "
      "server; bench build %s\n",
      threads, PARLEY_BENCH_BUILD_TYPE);

  const char* tmp_env = std::getenv("TMPDIR");
  std::string dir_template =
      (tmp_env && *tmp_env ? std::string(tmp_env) : std::string("/tmp")) + "/parley-bench-XXXXXX";
  std::vector<char> dir_buf(dir_template.begin(), dir_template.end());
  dir_buf.push_back('\0');
  char* dir = mkdtemp(dir_buf.data());
  if (!dir) {
    std::fprintf(stderr, "parley_bench: cannot create a temporary folder: %s\n",
                 std::strerror(errno));
    return 1;
  }
  const std::string data_dir = dir;
  auto cleanup = [&] {
    if (!opt.keep_data) {
      std::error_code ec;
      std::filesystem::remove_all(data_dir, ec);
    }
  };

  // The file, call, AI and notification groups (scenarios/*.cc), each against servers of its own.
  std::vector<std::string> file_headlines;
  bool file_errors = false;
  auto run_file_scenarios = [&] {
    BenchContext ctx{&opt, data_dir, cores, &file_headlines, &file_errors};
    for (const auto& sc : group_scenarios())
      if (opt.wants(sc.name)) {
        std::printf("\n== %.*s: %.*s\n", static_cast<int>(sc.name.size()), sc.name.data(),
                    static_cast<int>(sc.description.size()), sc.description.data());
        std::fflush(stdout);
        sc.run(ctx);
      }
  };
  auto print_file_figures = [&] {
    if (file_headlines.empty()) return;
    std::printf("\nfile and AI figures (%s; %s):\n", machine_line().c_str(), utc_now().c_str());
    for (const auto& h : file_headlines) std::printf("  - %s\n", h.c_str());
  };
  bool only_files = !opt.only.empty();
  for (const auto& sc : chat_scenarios()) only_files = only_files && !wants(opt, sc);
  if (only_files) {
    run_file_scenarios();
    print_file_figures();
    std::printf("load average after: %s\n", loadavg().c_str());
    cleanup();
    if (file_errors) std::printf("NOTE: some scenarios had errors; their figures are suspect.\n");
    return file_errors ? 3 : 0;
  }

  ServerProcess server;
  if (!server.start(opt, data_dir + "/data")) {
    std::fprintf(stderr, "parley_bench: the server did not report a port; its last lines:\n");
    for (const auto& l : server.tail()) std::fprintf(stderr, "  %s\n", l.c_str());
    server.stop();
    cleanup();
    return 1;
  }
  const pid_t pid = server.pid();
  const std::uint16_t port = server.port();
  const tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), port);
  {
    // Pool threads start with the process; give the lazily started ones a moment.
    std::this_thread::sleep_for(100ms);
    auto n = server_threads(pid);
    std::printf(
        "server: %s (version %s), pid %d, 127.0.0.1:%u; %d io threads, %d workers, "
        "%d sqlite writer, %d threads in all; access log off, rate limits lifted\n",
        opt.server.c_str(), server.version().c_str(), static_cast<int>(pid), port, n.io, n.worker,
        n.writer, n.total);
  }

  std::vector<Result> results;

  // ---- setup: register users (Argon2id hashing per user), keep their access tokens ----
  // The fan-out needs N + 1 distinct users, the durable scenarios one per connection.
  if (opt.wants("fanout"))
    for (unsigned n : opt.fanout) opt.users = std::max(opt.users, n + 1);
  if (opt.wants("durable")) opt.users = std::max(opt.users, opt.durable_conns);
  Registered reg = register_users(opt, opt.users, threads, pid, ep);
  print_result(reg.result, cores);
  results.push_back(reg.result);
  if (reg.good_tokens.empty()) {
    std::fprintf(stderr, "parley_bench: no user could register; the server's last lines:\n");
    for (const auto& l : server.tail()) std::fprintf(stderr, "  %s\n", l.c_str());
    server.stop();
    cleanup();
    return 1;
  }

  std::vector<std::string> headlines;
  Env env;
  env.opt = &opt;
  env.nodes = {{pid, ep}};
  env.cores = cores;
  env.threads = threads;
  env.tokens = reg.good_tokens;
  env.user_ids = reg.good_ids;
  env.results = &results;
  env.headlines = &headlines;
  double idle_kb = 0;
  env.idle_kb = &idle_kb;
  env.registered = &reg;
  env.tmp_dir = data_dir;

  for (const auto& sc : chat_scenarios())
    if (wants(opt, sc)) sc.run(env);
  run_file_scenarios();

  std::printf("\nsummary (%s; %s; %u cores shared by server and load generator)\n",
              cpu_model().c_str(), utc_now().c_str(), cores);
  print_table(results, cores);
  if (!headlines.empty()) {
    std::printf("\nchat figures (%s, %u cores, %s memory; %s):\n", cpu_model().c_str(), cores,
                memory_total().c_str(), kernel().c_str());
    for (const auto& h : headlines) std::printf("  - %s\n", h.c_str());
  }
  print_file_figures();
  print_targets(results, idle_kb);
  std::printf("load average after: %s\n", loadavg().c_str());

  auto [count, lines] = server.problems();
  std::string how = server.stop();
  std::printf("server %s; %d warn/error log line(s)\n", how.c_str(), count);
  for (const auto& l : lines) std::printf("  %s\n", l.c_str());
  cleanup();

  bool errors = file_errors;
  for (const auto& r : results) errors = errors || r.errors;
  if (errors) std::printf("NOTE: some scenarios had errors; their figures are suspect.\n");
  return errors ? 3 : 0;
}
