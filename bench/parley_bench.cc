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

using namespace parley::bench;  // NOLINT: this file is the bench's own

namespace {

using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Hard bounds, whatever the options say.
constexpr std::uint64_t kMaxOpsPerConnection = 10'000'000;
constexpr double kMaxScenarioSeconds = 60;

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
      "  --cache-dir DIR      where the seeded store is kept between runs (default build/bench-cache)\n"
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
              for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
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
// CPU accounting

const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));

struct ServerCpu {
  double total = 0;   // the whole process, exited threads included
  double io = 0;      // threads named io-N
  double worker = 0;  // the worker pool (hashing, storage)
  double writer = 0;  // the SQLite writer
};

ServerCpu operator-(const ServerCpu& a, const ServerCpu& b) {
  return {a.total - b.total, a.io - b.io, a.worker - b.worker, a.writer - b.writer};
}

ServerCpu server_cpu(pid_t pid) {
  ServerCpu c;
  std::string base = "/proc/" + std::to_string(pid);
  c.total = stat_cpu(read_file(base + "/stat")).value_or(0);
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(base + "/task", ec)) {
    std::string comm = trim(read_file(e.path().string() + "/comm"));
    double t = stat_cpu(read_file(e.path().string() + "/stat")).value_or(0);
    if (comm.rfind("io-", 0) == 0)
      c.io += t;
    else if (comm.rfind("worker", 0) == 0)
      c.worker += t;
    else if (comm.rfind("sqlite-writer", 0) == 0)
      c.writer += t;
  }
  return c;
}

struct ThreadCounts {
  int io = 0, worker = 0, writer = 0, total = 0;
};

ThreadCounts server_threads(pid_t pid) {
  ThreadCounts n;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::string comm = trim(read_file(e.path().string() + "/comm"));
    ++n.total;
    if (comm.rfind("io-", 0) == 0) ++n.io;
    if (comm.rfind("worker", 0) == 0) ++n.worker;
    if (comm.rfind("sqlite-writer", 0) == 0) ++n.writer;
  }
  return n;
}

double self_cpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

// Busy CPU seconds of the whole machine (all cores), from /proc/stat.
double machine_busy() {
  std::istringstream in(read_file("/proc/stat"));
  std::string cpu;
  in >> cpu;
  unsigned long long v[10] = {};
  for (auto& x : v) in >> x;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest is inside user.
  unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return static_cast<double>(busy) / kTicks;
}

struct Snapshot {
  Clock::time_point at;
  ServerCpu server;
  double self = 0;
  double machine = 0;
};

// The server side: one process, or every node of a cluster (their CPU is summed).
struct ServerPids {
  ServerPids(pid_t pid) : all{pid} {}  // NOLINT: one server is the common case
  ServerPids(std::vector<pid_t> pids) : all(std::move(pids)) {}  // NOLINT
  std::vector<pid_t> all;
  std::string joined() const {  // "1,2,3", as perf -p takes them
    std::string out;
    for (pid_t p : all) out += (out.empty() ? "" : ",") + std::to_string(p);
    return out;
  }
};

Snapshot snapshot(const ServerPids& pids) {
  Snapshot s{Clock::now(), {}, self_cpu(), machine_busy()};
  for (pid_t pid : pids.all) {
    ServerCpu c = server_cpu(pid);
    s.server.total += c.total;
    s.server.io += c.io;
    s.server.worker += c.worker;
    s.server.writer += c.writer;
  }
  return s;
}


// ---------------------------------------------------------------------------------------------
// Per-thread results

struct ThreadStats {
  std::vector<std::int64_t> latency_ns;   // of operations completed inside the window
  std::vector<std::int64_t> latency2_ns;  // a second figure where a scenario has one
  std::uint64_t ok = 0;                   // completed inside the window
  std::uint64_t outside = 0;              // completed in the warm-up or after the window
  std::map<std::string, std::uint64_t> errors;
  void error(const std::string& what) { ++errors[what]; }
};

// The measurement window, shared read-only by every thread of a run.
struct Window {
  tcp::endpoint server;
  Clock::time_point start;  // operations completing before this are warm-up
  Clock::time_point end;    // no operation starts after this
  bool inside(Clock::time_point t) const { return t >= start && t <= end; }
};

// One connection's socket and buffer, and the watchdog that enforces its per-operation timeout.
struct Conn {
  explicit Conn(const asio::any_io_executor& ex, std::size_t buffer_bytes = 16 * 1024)
      : sock(ex), watchdog(ex), backoff(ex) {
    buf.resize(buffer_bytes);
  }
  tcp::socket sock;
  asio::steady_timer watchdog;
  asio::steady_timer backoff;
  std::string buf;
  std::size_t have = 0;  // bytes in buf not consumed yet
  Clock::time_point op_start{};
  bool busy = false;
  bool timed_out = false;
  bool finished = false;

  void begin(Clock::time_point t) {
    op_start = t;
    busy = true;
    timed_out = false;
  }
  void reset() {
    boost::system::error_code ig;
    sock.close(ig);
    have = 0;
  }
  void consume(std::size_t n) {
    std::memmove(buf.data(), buf.data() + n, have - n);
    have -= n;
  }
  // Room to read into; grows the buffer up to the cap. False when the cap is reached.
  bool room() {
    if (have < buf.size()) return true;
    if (buf.size() >= kMaxResponseBytes) return false;
    buf.resize(buf.size() * 2);
    return true;
  }
  std::string read_error(const boost::system::error_code& ec, const char* what) const {
    if (timed_out) return "timeout";
    if (ec == asio::error::eof) return std::string(what) + ": closed by server";
    return std::string(what) + ": " + ec.message();
  }
};

asio::awaitable<void> watchdog(std::shared_ptr<Conn> c, Clock::duration timeout) {
  while (!c->finished) {
    c->watchdog.expires_after(100ms);
    co_await c->watchdog.async_wait(kTuple);
    if (c->finished) break;
    if (c->busy && Clock::now() - c->op_start > timeout) {
      c->timed_out = true;
      boost::system::error_code ig;
      c->sock.close(ig);
    }
  }
}

asio::awaitable<bool> connect(Conn& c, const tcp::endpoint& server, ThreadStats& st) {
  c.reset();
  c.begin(Clock::now());
  auto [ec] = co_await c.sock.async_connect(server, kTuple);
  c.busy = false;
  if (ec) {
    st.error(c.timed_out ? "connect: timeout" : "connect: " + ec.message());
    c.reset();
    c.backoff.expires_after(20ms);
    co_await c.backoff.async_wait(kTuple);
    co_return false;
  }
  boost::system::error_code ig;
  c.sock.set_option(tcp::no_delay(true), ig);
  co_return true;
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1: just enough of a response reader for this server (Content-Length bodies)


// Reads one response. On success h describes it and the body is
// buf[h.header_bytes, h.header_bytes + h.content_length). Returns an error text, or "" when good.
asio::awaitable<std::string> read_response(Conn& c, HttpHead& h, bool body_expected = true) {
  std::size_t scanned = 0;
  for (std::uint64_t reads = 0; reads < 1'000'000; ++reads) {
    std::string_view data(c.buf.data(), c.have);
    auto end = data.find("\r\n\r\n", scanned > 3 ? scanned - 3 : 0);
    if (end != std::string_view::npos) {
      if (!parse_head(data.substr(0, end + 2), h)) co_return "malformed response";
      if (h.chunked) co_return "chunked response (unsupported by the bench)";
      if (!h.has_length && body_expected && h.status != 204 && h.status != 304)
        co_return "response without Content-Length";
      h.header_bytes = end + 4;
      if (h.header_bytes + h.content_length > kMaxResponseBytes) co_return "response too large";
      while (c.have < h.header_bytes + h.content_length) {
        if (!c.room()) co_return "response too large";
        auto [ec, n] = co_await c.sock.async_read_some(
            asio::buffer(c.buf.data() + c.have, c.buf.size() - c.have), kTuple);
        if (ec) co_return c.read_error(ec, "read body");
        c.have += n;
      }
      co_return "";
    }
    scanned = c.have;
    if (!c.room()) co_return "response headers too large";
    auto [ec, n] = co_await c.sock.async_read_some(
        asio::buffer(c.buf.data() + c.have, c.buf.size() - c.have), kTuple);
    if (ec) co_return c.read_error(ec, "read");
    c.have += n;
  }
  co_return "response never completed";
}


// An HTTP scenario: which pre-built request each connection sends next, and what to do with a
// 2xx body.
struct HttpScenario {
  enum class Pick {
    fixed,  // connection i always sends requests[i % n]
    cycle,  // connection i sends requests[(i + k * conns) % n] on its k-th request
    once,   // every request exactly once, shared by all connections (setup)
  };
  std::vector<std::string> requests;
  Pick pick = Pick::fixed;
  Clock::duration timeout = 5s;
  std::function<void(std::size_t index, std::string_view body)> on_success;
  std::atomic<std::size_t> next{0};

  std::optional<std::size_t> choose(unsigned conn, unsigned conns, std::uint64_t k) {
    switch (pick) {
      case Pick::fixed:
        return conn % requests.size();
      case Pick::cycle:
        return (conn + k * conns) % requests.size();
      case Pick::once: {
        std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
        if (i >= requests.size()) return std::nullopt;
        return i;
      }
    }
    return std::nullopt;
  }
};

asio::awaitable<void> http_connection(HttpScenario& sc, const Window& w, ThreadStats& st,
                                      unsigned conn, unsigned conns) {
  auto c = std::make_shared<Conn>(co_await asio::this_coro::executor);
  asio::co_spawn(c->sock.get_executor(), watchdog(c, sc.timeout), asio::detached);
  bool connected = false;
  std::uint64_t k = 0;
  for (std::uint64_t iter = 0; iter < kMaxOpsPerConnection; ++iter) {
    if (Clock::now() >= w.end) break;
    if (!connected) {
      connected = co_await connect(*c, w.server, st);
      continue;
    }
    auto index = sc.choose(conn, conns, k++);
    if (!index) break;
    const std::string& req = sc.requests[*index];
    auto t0 = Clock::now();
    c->begin(t0);
    auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(req), kTuple);
    if (wec) {
      c->busy = false;
      st.error(c->read_error(wec, "write"));
      connected = false;
      continue;
    }
    HttpHead h;
    std::string err = co_await read_response(*c, h);
    c->busy = false;
    auto t1 = Clock::now();
    if (!err.empty()) {
      st.error(err);
      connected = false;
      continue;
    }
    std::string_view body(c->buf.data() + h.header_bytes, h.content_length);
    if (h.status >= 200 && h.status < 300) {
      if (w.inside(t1)) {
        ++st.ok;
        st.latency_ns.push_back(std::chrono::nanoseconds(t1 - t0).count());
      } else {
        ++st.outside;
      }
      if (sc.on_success) sc.on_success(*index, body);
    } else {
      st.error(status_error(h.status, body));
    }
    c->consume(h.header_bytes + h.content_length);
    if (h.close) {
      st.error("server sent Connection: close");
      connected = false;
    }
  }
  c->finished = true;
  c->watchdog.cancel();
  c->reset();
}

// ---------------------------------------------------------------------------------------------
// WebSocket: connect, upgrade, hello -> ready, close handshake, wait for the server's FIN.

// A masked client frame (RFC 6455 5.3). The mask is fixed: the bytes are built once.
std::string client_frame(int opcode, std::string_view payload) {
  static constexpr unsigned char kMask[4] = {0x37, 0xfa, 0x21, 0x3d};
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  if (payload.size() < 126) {
    f.push_back(static_cast<char>(0x80 | payload.size()));
  } else if (payload.size() <= 0xffff) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(payload.size() >> 8));
    f.push_back(static_cast<char>(payload.size() & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((payload.size() >> (8 * i)) & 0xff));
  }
  f.append(reinterpret_cast<const char*>(kMask), 4);
  for (std::size_t i = 0; i < payload.size(); ++i)
    f.push_back(static_cast<char>(payload[i] ^ kMask[i % 4]));
  return f;
}

// The key of RFC 6455 section 1.3 and the accept value it must produce.
constexpr std::string_view kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct Frame {
  int opcode = 0;
  std::string_view payload;
  std::size_t bytes = 0;
};

asio::awaitable<std::string> read_frame(Conn& c, Frame& f) {
  for (std::uint64_t reads = 0; reads < 1'000'000; ++reads) {
    if (c.have >= 2) {
      auto* p = reinterpret_cast<const unsigned char*>(c.buf.data());
      if (p[1] & 0x80) co_return "server sent a masked frame";
      std::size_t hdr = 2;
      std::uint64_t len = p[1] & 0x7f;
      bool need_more = false;
      if (len == 126) {
        hdr = 4;
        if (c.have >= 4)
          len = (std::uint64_t{p[2]} << 8) | p[3];
        else
          need_more = true;
      } else if (len == 127) {
        hdr = 10;
        if (c.have >= 10) {
          len = 0;
          for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
        } else {
          need_more = true;
        }
      }
      if (!need_more) {
        if (len > kMaxResponseBytes) co_return "frame too large";
        if (c.have >= hdr + len) {
          f.opcode = p[0] & 0x0f;
          f.payload = std::string_view(c.buf.data() + hdr, len);
          f.bytes = hdr + len;
          co_return "";
        }
      }
    }
    if (!c.room()) co_return "frame too large";
    auto [ec, n] = co_await c.sock.async_read_some(
        asio::buffer(c.buf.data() + c.have, c.buf.size() - c.have), kTuple);
    if (ec) co_return c.read_error(ec, "ws read");
    c.have += n;
  }
  co_return "frame never completed";
}

struct WsScenario {
  std::string upgrade;              // the HTTP upgrade request
  std::vector<std::string> hellos;  // masked hello frames, one per token
  std::string close_frame;          // masked close frame, 1000
  Clock::duration timeout = 5s;
};

std::string close_code(std::string_view payload) {
  if (payload.size() < 2) return "no code";
  int code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
  return std::to_string(code) + (payload.size() > 2 ? " " + std::string(payload.substr(2)) : "");
}

// Upgrade, hello, wait for ready on a connected socket. Returns "" or an error.
asio::awaitable<std::string> ws_handshake(Conn& c, const std::string& upgrade,
                                          const std::string& hello) {
  {
    auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(upgrade), kTuple);
    if (ec) co_return c.read_error(ec, "write upgrade");
  }
  HttpHead h;
  auto err = co_await read_response(c, h, false);
  if (!err.empty()) co_return "upgrade: " + err;
  if (h.status != 101)
    co_return "upgrade: " +
        status_error(h.status,
                     std::string_view(c.buf.data() + h.header_bytes,
                                      std::min(h.content_length, c.have - h.header_bytes)));
  if (h.ws_accept != kWsAccept) co_return "upgrade: wrong Sec-WebSocket-Accept";
  c.consume(h.header_bytes + h.content_length);
  {
    auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(hello), kTuple);
    if (ec) co_return c.read_error(ec, "write hello");
  }
  for (int frames = 0;; ++frames) {
    if (frames > 4096) co_return "no ready after 4096 frames";
    Frame f;
    err = co_await read_frame(c, f);
    if (!err.empty()) co_return err;
    if (f.opcode == 0x8) co_return "ws closed before ready: " + close_code(f.payload);
    if (f.opcode == 0x1) {
      // The server may deliver events (presence.changed of a member who connects at the same
      // moment) before `ready`: it attaches the connection to the hub before it sends ready.
      if (f.payload.rfind("{\"type\":\"event\"", 0) == 0) {
        c.consume(f.bytes);
        continue;
      }
      if (f.payload.find("\"type\":\"ready\"") == std::string_view::npos)
        co_return "unexpected frame before ready: " + std::string(f.payload.substr(0, 80));
      c.consume(f.bytes);
      break;
    }
    c.consume(f.bytes);  // ping/pong: nothing to do
  }
  co_return "";
}

// One connect + hello + ready + close cycle. Returns "" and the time ready arrived, or an error.
asio::awaitable<std::string> ws_cycle(Conn& c, const WsScenario& sc, const std::string& hello,
                                      Clock::time_point& ready_at) {
  auto err = co_await ws_handshake(c, sc.upgrade, hello);
  if (!err.empty()) co_return err;
  ready_at = Clock::now();
  {
    auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(sc.close_frame), kTuple);
    if (ec) co_return c.read_error(ec, "write close");
  }
  for (int frames = 0;; ++frames) {
    if (frames > 16) co_return "no close frame after 16 frames";
    Frame f;
    err = co_await read_frame(c, f);
    if (!err.empty()) co_return "closing: " + err;
    bool is_close = f.opcode == 0x8;
    c.consume(f.bytes);
    if (is_close) break;
  }
  // The server ends the TCP connection after the close handshake; wait for its FIN so that the
  // cycle is really over (and the TIME_WAIT lands on the server's side).
  for (int reads = 0;; ++reads) {
    if (reads > 16) co_return "data after the close frame";
    c.have = 0;
    auto [ec, n] = co_await c.sock.async_read_some(asio::buffer(c.buf), kTuple);
    if (ec == asio::error::eof) break;
    if (ec) co_return c.read_error(ec, "waiting for the server's FIN");
  }
  co_return "";
}

asio::awaitable<void> ws_connection(const WsScenario& sc, const Window& w, ThreadStats& st,
                                    unsigned conn, unsigned conns) {
  auto c = std::make_shared<Conn>(co_await asio::this_coro::executor);
  asio::co_spawn(c->sock.get_executor(), watchdog(c, sc.timeout), asio::detached);
  for (std::uint64_t k = 0; k < kMaxOpsPerConnection; ++k) {
    if (Clock::now() >= w.end) break;
    const std::string& hello = sc.hellos[(conn + k * conns) % sc.hellos.size()];
    auto t0 = Clock::now();
    if (!co_await connect(*c, w.server, st)) continue;
    c->begin(t0);
    Clock::time_point ready_at;
    auto err = co_await ws_cycle(*c, sc, hello, ready_at);
    c->busy = false;
    auto t1 = Clock::now();
    c->reset();
    if (!err.empty()) {
      st.error(err);
      continue;
    }
    if (w.inside(t1)) {
      ++st.ok;
      st.latency_ns.push_back(std::chrono::nanoseconds(ready_at - t0).count());
      st.latency2_ns.push_back(std::chrono::nanoseconds(t1 - t0).count());
    } else {
      ++st.outside;
    }
  }
  c->finished = true;
  c->watchdog.cancel();
  c->reset();
}

// ---------------------------------------------------------------------------------------------
// Running a scenario and summarising it

struct Result {
  std::string name;
  std::string what;  // one line: what an operation is
  unsigned conns = 0;
  double seconds = 0;  // the window actually measured
  std::uint64_t ok = 0, outside = 0, errors = 0;
  std::map<std::string, std::uint64_t> error_kinds;
  std::vector<std::int64_t> latency_ns, latency2_ns;  // sorted
  double gen_cpu = 0, machine_cpu = 0;
  ServerCpu server;
  bool has_p999 = true;
  std::string latency2_label;
  std::string others;  // what the rest of the machine runs by design (the engines); "" if none

  double rate() const { return seconds > 0 ? ok / seconds : 0; }
  double others_cpu() const { return std::max(0.0, machine_cpu - server.total - gen_cpu); }
};

double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

// Builds a Result from two snapshots and the per-loop stats of a window.
Result make_result(std::string name, std::string what, unsigned conns, const Snapshot& before,
                   const Snapshot& after, std::vector<ThreadStats>& stats) {
  Result r;
  r.name = std::move(name);
  r.what = std::move(what);
  r.conns = conns;
  r.seconds = std::chrono::duration<double>(after.at - before.at).count();
  r.gen_cpu = after.self - before.self;
  r.machine_cpu = after.machine - before.machine;
  r.server = after.server - before.server;
  for (auto& s : stats) {
    r.ok += s.ok;
    r.outside += s.outside;
    r.latency_ns.insert(r.latency_ns.end(), s.latency_ns.begin(), s.latency_ns.end());
    r.latency2_ns.insert(r.latency2_ns.end(), s.latency2_ns.begin(), s.latency2_ns.end());
    for (auto& [k, v] : s.errors) {
      r.error_kinds[k] += v;
      r.errors += v;
    }
  }
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  std::sort(r.latency2_ns.begin(), r.latency2_ns.end());
  r.has_p999 = r.latency_ns.size() >= 1000;
  return r;
}

// Runs one scenario: connection i goes to thread i % threads. With until_done, the run ends when
// every connection has nothing left to send (bounded by kMaxScenarioSeconds); otherwise the
// window opens after the warm-up and closes `seconds` later, and CPU is sampled at both edges.
// on_window (optional) is called as the window opens, with its length in seconds.
Result run_scenario(const std::string& name, unsigned conns, unsigned threads,
                    const ServerPids& server_pid,
                    const tcp::endpoint& server, double warmup, double seconds, bool until_done,
                    const std::function<asio::awaitable<void>(const Window&, ThreadStats&,
                                                              unsigned conn)>& connection,
                    const std::function<void(double)>& on_window = {}) {
  threads = std::max(1u, std::min(threads, conns));
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<ThreadStats> stats(threads);
  for (unsigned t = 0; t < threads; ++t) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    stats[t].latency_ns.reserve(1 << 18);
  }
  Window w;
  w.server = server;
  auto now = Clock::now();
  w.start = until_done ? now
                       : now + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(warmup));
  w.end = w.start + std::chrono::duration_cast<Clock::duration>(
                        std::chrono::duration<double>(until_done ? kMaxScenarioSeconds : seconds));
  for (unsigned i = 0; i < conns; ++i)
    asio::co_spawn(*contexts[i % threads], connection(w, stats[i % threads], i), asio::detached);

  Snapshot before, after;
  if (until_done) before = snapshot(server_pid);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([ctx = contexts[t].get()] { ctx->run(); });
  if (!until_done) {
    std::this_thread::sleep_until(w.start);
    before = snapshot(server_pid);
    if (on_window) on_window(seconds);
    std::this_thread::sleep_until(w.end);
    after = snapshot(server_pid);
  }
  for (auto& t : pool) t.join();
  if (until_done) after = snapshot(server_pid);

  return make_result(name, "", conns, before, after, stats);
}

void print_result(const Result& r, unsigned cores) {
  std::printf("\n== %s: %s\n", r.name.c_str(), r.what.c_str());
  std::printf(
      "   %u connections, %.2f s measured; %llu ok (+%llu outside the window), %llu errors%s\n",
      r.conns, r.seconds, static_cast<unsigned long long>(r.ok),
      static_cast<unsigned long long>(r.outside), static_cast<unsigned long long>(r.errors),
      r.errors ? "  <-- SCENARIO HAD ERRORS" : "");
  for (const auto& [k, v] : r.error_kinds)
    std::printf("     error x%llu: %s\n", static_cast<unsigned long long>(v), k.c_str());
  std::printf("   throughput %.1f /s\n", r.rate());
  if (!r.latency_ns.empty()) {
    const auto& l = r.latency_ns;
    double mean = 0;
    for (auto x : l) mean += static_cast<double>(x);
    mean /= static_cast<double>(l.size()) * 1e6;
    std::printf("   latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %s  max %.3f  mean %.3f\n",
                percentile_ms(l, 0.5), percentile_ms(l, 0.9), percentile_ms(l, 0.99),
                r.has_p999 ? fmt("%.3f", percentile_ms(l, 0.999)).c_str() : "n/a",
                static_cast<double>(l.back()) / 1e6, mean);
  }
  if (!r.latency2_ns.empty())
    std::printf("   %s ms: p50 %.3f  p99 %.3f\n", r.latency2_label.c_str(),
                percentile_ms(r.latency2_ns, 0.5), percentile_ms(r.latency2_ns, 0.99));
  double s = r.seconds > 0 ? r.seconds : 1;
  std::printf(
      "   CPU (cores busy of %u): server %.2f [io %.2f, workers %.2f, sqlite-writer %.2f], "
      "load generator %.2f, rest of machine %.2f, machine total %.2f\n",
      cores, r.server.total / s, r.server.io / s, r.server.worker / s, r.server.writer / s,
      r.gen_cpu / s, r.others_cpu() / s, r.machine_cpu / s);
  if (!r.others.empty())
    std::printf("   (rest of machine: mostly %s, part of this configuration)\n", r.others.c_str());
  else if (r.others_cpu() / s > 0.15)
    std::printf(
        "   NOTE: other processes used %.2f cores during this window; the figures above "
        "are understated\n",
        r.others_cpu() / s);
  if (r.ok)
    std::printf("   CPU per op: server %.1f us, load generator %.1f us\n",
                r.server.total / static_cast<double>(r.ok) * 1e6,
                r.gen_cpu / static_cast<double>(r.ok) * 1e6);
}

void print_table(const std::vector<Result>& rs, unsigned cores) {
  int width = 16;
  for (const auto& r : rs) width = std::max(width, static_cast<int>(r.name.size()));
  std::printf("\n%-*s %5s %8s %6s %10s %9s %9s %9s %7s %7s %7s %8s\n", width, "scenario", "conns",
              "ok", "errors", "ops/s", "p50 ms", "p99 ms", "p999 ms", "srv cpu", "gen cpu", "other",
              "srv us/op");
  for (const auto& r : rs) {
    double s = r.seconds > 0 ? r.seconds : 1;
    std::printf(
        "%-*s %5u %8llu %6llu %10.1f %9.3f %9.3f %9s %7.2f %7.2f %7.2f %8.1f%s\n", width,
        r.name.c_str(),
        r.conns, static_cast<unsigned long long>(r.ok), static_cast<unsigned long long>(r.errors),
        r.rate(), percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
        r.has_p999 ? fmt("%.3f", percentile_ms(r.latency_ns, 0.999)).c_str() : "-",
        r.server.total / s, r.gen_cpu / s, r.others_cpu() / s,
        r.ok ? r.server.total / static_cast<double>(r.ok) * 1e6 : 0.0, r.errors ? "  ERRORS" : "");
  }
  std::printf(
      "(cpu columns: cores busy on average over the window, of %u: srv = the server, gen = this "
      "load generator, other = the rest of the machine; srv us/op: server CPU time per "
      "completed operation)\n",
      cores);
}

// =============================================================================================
// Chat scenarios: idle authenticated WebSockets, 1-to-N fan-out, durable sends, history and
// search over a seeded store of 1M messages.

// The first "seq":N in a JSON text; -1 when absent.
std::int64_t seq_in(std::string_view body) {
  auto p = body.find("\"seq\":");
  if (p == std::string_view::npos) return -1;
  std::int64_t v = 0;
  for (p += 6; p < body.size() && body[p] >= '0' && body[p] <= '9'; ++p) v = v * 10 + (body[p] - '0');
  return v;
}

// ---- descriptor limits and process memory

struct FdLimit {
  rlim_t soft = 0, hard = 0;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit (the server, forked later,
// inherits it and sets it again before exec). The hard limit itself cannot be raised without
// CAP_SYS_RESOURCE.
FdLimit raise_fd_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return {rl.rlim_cur, rl.rlim_max};
}

// The soft "Max open files" of a process, from /proc/PID/limits; -1 when unreadable.
long process_fd_limit(pid_t pid) {
  std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    const char* p = line.c_str() + 14;
    while (*p == ' ') ++p;
    if (std::strncmp(p, "unlimited", 9) == 0) return 1L << 30;
    return std::strtol(p, nullptr, 10);
  }
  return -1;
}

long open_fds(pid_t pid) {
  long n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
    ++n;
  return n;
}

struct Memory {
  double rss_kb = 0;      // VmRSS
  double private_kb = 0;  // Private_Clean + Private_Dirty (smaps_rollup)
};

Memory process_memory(pid_t pid) {
  Memory m;
  std::string base = "/proc/" + std::to_string(pid);
  auto field = [](const std::string& text, const char* key) -> double {
    auto p = text.find(key);
    if (p == std::string::npos) return 0;
    return std::strtod(text.c_str() + p + std::strlen(key), nullptr);
  };
  m.rss_kb = field(read_file(base + "/status"), "VmRSS:");
  std::string rollup = read_file(base + "/smaps_rollup");
  m.private_kb = field(rollup, "Private_Clean:") + field(rollup, "Private_Dirty:");
  return m;
}

std::string sockstat_tcp() {
  std::istringstream in(read_file("/proc/net/sockstat"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("TCP:", 0) == 0) return line;
  return "TCP: unknown";
}

std::int64_t now_ns() { return std::chrono::nanoseconds(Clock::now().time_since_epoch()).count(); }

// Waits (up to `limit`) until the server holds at most `fds` descriptors again.
void wait_for_server_fds(pid_t pid, long fds, Clock::duration limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until && open_fds(pid) > fds) std::this_thread::sleep_for(50ms);
}

// ---- a set of event loops that outlives one run

class Loops {
 public:
  explicit Loops(unsigned n) {
    n = std::max(1u, n);
    for (unsigned i = 0; i < n; ++i) {
      ctx_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(std::make_unique<Guard>(asio::make_work_guard(*ctx_.back())));
    }
    for (auto& c : ctx_) threads_.emplace_back([ctx = c.get()] { ctx->run(); });
  }
  ~Loops() { stop(); }
  Loops(const Loops&) = delete;
  Loops& operator=(const Loops&) = delete;

  unsigned size() const { return static_cast<unsigned>(ctx_.size()); }
  asio::io_context& at(unsigned i) { return *ctx_[i % ctx_.size()]; }

  // Runs fn on loop i and waits for it.
  void run_on(unsigned i, const std::function<void()>& fn) {
    std::promise<void> done;
    asio::post(at(i), [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void stop() {
    for (auto& g : guards_) g.reset();
    for (auto& c : ctx_) c->stop();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::vector<std::unique_ptr<asio::io_context>> ctx_;
  std::vector<std::unique_ptr<Guard>> guards_;
  std::vector<std::thread> threads_;
};


std::string ws_upgrade_request(std::uint16_t port) {
  return "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
         std::string(kWsKey) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

std::string hello_frame(const std::string& token) {
  return client_frame(0x1, "{\"type\":\"hello\",\"token\":\"" + token + "\"}");
}

// ---- many long-lived WebSockets, opened from several 127.x source addresses

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

// Binds to `src` (port chosen at connect time, so each source address has its own ~28k
// ephemeral ports towards the server) and connects.
asio::awaitable<boost::system::error_code> connect_from(
    tcp::socket& s, const tcp::endpoint& server, std::optional<asio::ip::address_v4> src) {
  boost::system::error_code ec;
  s.open(tcp::v4(), ec);
  if (ec) co_return ec;
  if (src) {
    int one = 1;
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    s.bind(tcp::endpoint(*src, 0), ec);
    if (ec) co_return ec;
  }
  auto [cec] = co_await s.async_connect(server, kTuple);
  if (!cec) s.set_option(tcp::no_delay(true), ec);
  co_return cec;
}

struct WsSet {
  std::vector<std::shared_ptr<Conn>> conns;  // by index; null where opening failed
  std::vector<unsigned> loop_of;             // the loop each connection lives on
  std::vector<unsigned> server_of;           // the server (cluster node) it is connected to
  std::map<std::string, std::uint64_t> errors;
  std::uint64_t ready = 0;
  double seconds = 0;
  std::vector<std::int64_t> handshake_ns;  // connect start to ready, sorted
};

struct OpenJob {
  std::vector<tcp::endpoint> servers;  // connection i goes to servers[i % size]
  std::vector<std::string> upgrades;   // the upgrade request for each server
  const std::vector<std::string>* hellos = nullptr;  // connection i sends hellos[i % size]
  unsigned count = 0;
  unsigned spread = 0;  // source addresses 127.0.0.2 ..; 0 = let the kernel choose
  std::size_t buffer_bytes = 1024;
  Clock::duration timeout = 20s;
  std::atomic<unsigned> next{0};
  std::atomic<unsigned> lanes_left{0};
  std::mutex mu;
  WsSet* out = nullptr;
};

asio::awaitable<void> handshake_deadline(std::shared_ptr<Conn> c) {
  auto [ec] = co_await c->watchdog.async_wait(kTuple);
  if (!ec && !c->finished) {
    c->timed_out = true;
    boost::system::error_code ig;
    c->sock.close(ig);
  }
}

asio::awaitable<void> open_lane(OpenJob& job, unsigned loop) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    unsigned i = job.next.fetch_add(1);
    if (i >= job.count) break;
    auto c = std::make_shared<Conn>(ex, job.buffer_bytes);
    c->watchdog.expires_after(job.timeout);
    asio::co_spawn(ex, handshake_deadline(c), asio::detached);
    std::optional<asio::ip::address_v4> src;
    if (job.spread) src = asio::ip::address_v4(0x7f000002u + i % job.spread);
    auto t0 = Clock::now();
    const unsigned server = i % static_cast<unsigned>(job.servers.size());
    auto ec = co_await connect_from(c->sock, job.servers[server], src);
    std::string err;
    if (ec)
      err = c->timed_out ? "connect: timeout" : "connect: " + ec.message();
    else
      err = co_await ws_handshake(*c, job.upgrades[server], (*job.hellos)[i % job.hellos->size()]);
    auto t1 = Clock::now();
    c->finished = true;  // lets the deadline go
    c->watchdog.cancel();
    std::lock_guard lock(job.mu);
    if (err.empty()) {
      job.out->conns[i] = c;
      job.out->loop_of[i] = loop;
      job.out->server_of[i] = server;
      ++job.out->ready;
      job.out->handshake_ns.push_back(std::chrono::nanoseconds(t1 - t0).count());
    } else {
      c->reset();
      ++job.out->errors[err];
    }
  }
  job.lanes_left.fetch_sub(1);
}

// Opens `count` WebSockets (connect, upgrade, hello -> ready), `lanes` at a time, connection i
// to servers[i % size]; blocks until every one is open or has failed.
WsSet open_ws_set(Loops& loops, const std::vector<tcp::endpoint>& servers,
                  const std::vector<std::string>& hellos, unsigned count, unsigned spread,
                  unsigned lanes, std::size_t buffer_bytes = 1024) {
  WsSet out;
  out.conns.resize(count);
  out.loop_of.resize(count);
  out.server_of.resize(count);
  out.handshake_ns.reserve(count);
  if (count == 0 || hellos.empty() || servers.empty()) return out;
  OpenJob job;
  job.servers = servers;
  for (const auto& s : servers) job.upgrades.push_back(ws_upgrade_request(s.port()));
  job.hellos = &hellos;
  job.count = count;
  job.spread = spread;
  job.buffer_bytes = buffer_bytes;
  job.out = &out;
  lanes = std::max(1u, std::min(lanes, count));
  job.lanes_left = lanes;
  auto t0 = Clock::now();
  for (unsigned l = 0; l < lanes; ++l)
    asio::co_spawn(loops.at(l), open_lane(job, l % loops.size()), asio::detached);
  while (job.lanes_left.load() > 0) std::this_thread::sleep_for(2ms);
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(out.handshake_ns.begin(), out.handshake_ns.end());
  return out;
}

// Closes every connection of the set on its own loop (the readers then end quietly).
void close_ws_set(Loops& loops, WsSet& set) {
  for (unsigned t = 0; t < loops.size(); ++t)
    loops.run_on(t, [&] {
      for (std::size_t i = 0; i < set.conns.size(); ++i)
        if (set.conns[i] && set.loop_of[i] == t) {
          set.conns[i]->reset();
          set.conns[i].reset();
        }
    });
  set.conns.clear();
}

std::string errors_line(const std::map<std::string, std::uint64_t>& errors) {
  std::string out;
  for (const auto& [k, v] : errors) {
    if (!out.empty()) out += "; ";
    out += std::to_string(v) + " x " + k;
  }
  return out.empty() ? "none" : out;
}

// Counts the server's fsync/fdatasync calls over a window with `perf stat` (tracepoints; no
// ptrace). With synchronous=FULL in WAL mode each commit syncs the WAL once, so this is the
// number of commits (plus the rare checkpoint). Quietly unavailable without perf.
class SyncCounter {
 public:
  void start(const ServerPids& pids, double seconds) {
    file_ = "/tmp/parley-bench-perf-" + std::to_string(getpid()) + ".txt";
    std::string secs = fmt("%.3f", seconds);
    std::string spid = pids.joined();
    support::LaunchOptions o;
    o.argv = {"perf", "stat", "-x", ",", "-o", file_, "-e",
              "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync", "-p", spid, "--",
              "sleep", secs};
    o.drop_test_env = false;
    o.death_signal = 0;
    o.stdin_null = true;
    o.out = o.err = support::Stream::null;
    perf_.start(std::move(o));
  }
  // Sync calls counted, or nullopt when perf was not there or could not count.
  std::optional<std::uint64_t> finish() {
    if (!perf_.running()) return std::nullopt;
    perf_.wait();
    std::istringstream in(read_file(file_));
    std::remove(file_.c_str());
    std::string line;
    std::uint64_t total = 0;
    int found = 0;
    while (std::getline(in, line)) {
      if (line.find("syscalls:sys_enter_f") == std::string::npos) continue;
      if (line.find("<not") != std::string::npos) return std::nullopt;
      total += std::strtoull(line.c_str(), nullptr, 10);
      ++found;
    }
    if (found == 0) return std::nullopt;
    return total;
  }

 private:
  support::Process perf_;
  std::string file_;
};

// ---- users for the scenarios: registered through the API (an Argon2id hash each)

struct Registered {
  Result result;
  std::vector<std::string> tokens, user_ids, usernames, passwords;  // by index; "" where failed
  std::vector<std::string> good_tokens, good_ids;  // the users that got a token, in order
};

Registered register_users(const Options& opt, unsigned users, unsigned threads,
                          const ServerPids& pids, const tcp::endpoint& ep) {
  Registered reg;
  reg.tokens.resize(users);
  reg.user_ids.resize(users);
  reg.usernames.resize(users);
  reg.passwords.resize(users);
  HttpScenario sc;
  sc.pick = HttpScenario::Pick::once;
  sc.timeout = 30s;
  for (unsigned i = 0; i < users; ++i) {
    char name[32], pw[48];
    std::snprintf(name, sizeof name, "bench%05u", i);
    std::snprintf(pw, sizeof pw, "bench-password-%05u", i);
    reg.usernames[i] = name;
    reg.passwords[i] = pw;
    sc.requests.push_back(
        http_request("POST", "/api/v1/auth/register", ep.port(), "",
                     std::string("{\"username\":\"") + name + "\",\"password\":\"" + pw + "\"}"));
  }
  sc.on_success = [&reg](std::size_t i, std::string_view body) {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) return;
    if (auto* t = v.as_object().if_contains("access_token"); t && t->is_string())
      reg.tokens[i] = std::string(t->as_string());
    if (auto* u = v.as_object().if_contains("user"); u && u->is_object())
      if (auto* id = u->as_object().if_contains("id"); id && id->is_string())
        reg.user_ids[i] = std::string(id->as_string());
  };
  reg.result = run_scenario("register", opt.register_conns, threads, pids, ep, 0, 0, true,
                            [&](const Window& w, ThreadStats& st, unsigned c) {
                              return http_connection(sc, w, st, c, opt.register_conns);
                            });
  reg.result.what = "POST /api/v1/auth/register, each user once (setup; Argon2id hash per user)";
  reg.result.has_p999 = false;
  for (unsigned i = 0; i < users; ++i)
    if (!reg.tokens[i].empty() && !reg.user_ids[i].empty()) {
      reg.good_tokens.push_back(reg.tokens[i]);
      reg.good_ids.push_back(reg.user_ids[i]);
    }
  return reg;
}

// Everything a chat scenario needs from main.
struct Env {
  struct Node {
    pid_t pid = -1;
    tcp::endpoint ep;
  };
  const Options* opt = nullptr;
  std::vector<Node> nodes;  // one server, or a cluster's nodes; set-up calls go to the first
  std::string label;        // prefixes result names (a cluster's configuration)
  // Whose WAL syncs are the commits, asked as a window opens (a pool may have opened
  // connections since); unset: the nodes themselves (SQLite).
  std::function<ServerPids()> commit_pids;
  // What the rest of the machine is busy with by design (PostgreSQL, Redis); "" when nothing.
  std::string others;
  unsigned cores = 1;
  unsigned threads = 1;
  std::vector<std::string> tokens;    // registered users that got a token, in order
  std::vector<std::string> user_ids;  // the same users' ids
  std::vector<Result>* results = nullptr;
  std::vector<std::string>* headlines = nullptr;  // one line per figure, for the summary
  double* idle_kb = nullptr;  // the idle scenario's server RSS per connection, for the targets

  pid_t pid() const { return nodes.at(0).pid; }
  const tcp::endpoint& ep() const { return nodes.at(0).ep; }
  std::uint16_t port() const { return ep().port(); }
  ServerPids pids() const {
    std::vector<pid_t> out;
    for (const auto& n : nodes) out.push_back(n.pid);
    return out;
  }
  std::vector<tcp::endpoint> endpoints() const {
    std::vector<tcp::endpoint> out;
    for (const auto& n : nodes) out.push_back(n.ep);
    return out;
  }
};

// ---- idle authenticated WebSockets: how many, and the server's memory for each

asio::awaitable<void> idle_reader(std::shared_ptr<Conn> c, std::atomic<bool>& closing,
                                  std::atomic<std::uint64_t>& dropped,
                                  std::atomic<std::uint64_t>& frames) {
  for (;;) {
    Frame f;
    auto err = co_await read_frame(*c, f);
    if (!err.empty() || f.opcode == 0x8) {
      if (!closing.load()) dropped.fetch_add(1);
      co_return;
    }
    frames.fetch_add(1, std::memory_order_relaxed);
    if (f.opcode == 0x9) {  // the server's keep-alive ping
      std::string pong = client_frame(0xA, f.payload);
      c->consume(f.bytes);
      auto [ec, n] = co_await asio::async_write(c->sock, asio::buffer(pong), kTuple);
      if (ec) {
        if (!closing.load()) dropped.fetch_add(1);
        co_return;
      }
      continue;
    }
    c->consume(f.bytes);
  }
}

void run_idle(Env& env) {
  const Options& opt = *env.opt;
  const long reserve = 200;  // descriptors left for everything else on each side
  long server_limit = process_fd_limit(env.pid());
  long self_limit = process_fd_limit(getpid());
  long server_room = server_limit - open_fds(env.pid()) - reserve;
  long self_room = self_limit - open_fds(getpid()) - reserve;
  unsigned aim = static_cast<unsigned>(
      std::max(0L, std::min<long>({static_cast<long>(opt.idle_conns), server_room, self_room})));
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  std::printf(
      "\n== idle: authenticated WebSockets held open (connect, upgrade, hello -> ready, then "
      "silence)\n");
  std::printf(
      "   target %u connections; RLIMIT_NOFILE hard limit %llu (raising it needs "
      "CAP_SYS_RESOURCE; soft limits raised to it): the server may hold %ld descriptors, this "
      "load generator %ld\n",
      opt.idle_conns, static_cast<unsigned long long>(rl.rlim_max), server_limit, self_limit);
  if (aim < opt.idle_conns)
    std::printf(
        "   aiming for %u: the target does not fit the server's descriptor limit (one socket per "
        "connection, %ld kept for the listener, database and the rest)\n",
        aim, reserve);
  std::printf("   clients spread over %u source addresses (127.0.0.2 ..), %zu users' tokens\n",
              opt.source_addrs, env.tokens.size());

  std::this_thread::sleep_for(500ms);
  long fds_before = open_fds(env.pid());
  Memory m0 = process_memory(env.pid());
  std::string sock0 = sockstat_tcp();
  std::vector<std::string> hellos;
  for (const auto& t : env.tokens) hellos.push_back(hello_frame(t));

  Loops loops(env.threads);
  Snapshot s0 = snapshot(env.pid());
  WsSet set = open_ws_set(loops, {env.ep()}, hellos, aim, opt.source_addrs, 512);
  Snapshot s1 = snapshot(env.pid());

  std::atomic<bool> closing{false};
  std::atomic<std::uint64_t> dropped{0}, frames{0};
  for (std::size_t i = 0; i < set.conns.size(); ++i)
    if (set.conns[i])
      asio::co_spawn(loops.at(set.loop_of[i]), idle_reader(set.conns[i], closing, dropped, frames),
                     asio::detached);

  // Let the pool work of the last hellos (presence, hub) settle before reading memory.
  std::this_thread::sleep_for(2s);
  Memory m1 = process_memory(env.pid());
  std::string sock1 = sockstat_tcp();
  Snapshot h0 = snapshot(env.pid());
  std::this_thread::sleep_until(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(opt.idle_hold)));
  Snapshot h1 = snapshot(env.pid());
  Memory m2 = process_memory(env.pid());
  long fds_held = open_fds(env.pid());

  std::uint64_t reached = set.ready;
  std::printf("   reached %llu of %u (target %u) in %.2f s, %.0f connections/s; failures: %s\n",
              static_cast<unsigned long long>(reached), aim, opt.idle_conns, set.seconds,
              set.seconds > 0 ? reached / set.seconds : 0.0, errors_line(set.errors).c_str());
  if (!set.handshake_ns.empty())
    std::printf("   connect to ready ms: p50 %.3f  p99 %.3f  max %.3f (%u opening at a time)\n",
                percentile_ms(set.handshake_ns, 0.5), percentile_ms(set.handshake_ns, 0.99),
                set.handshake_ns.back() / 1e6, 512u);
  double est = set.seconds > 0 ? set.seconds : 1;
  std::printf(
      "   CPU while opening (cores of %u): server %.2f [io %.2f, workers %.2f], load generator "
      "%.2f, rest %.2f\n",
      env.cores, (s1.server.total - s0.server.total) / est, (s1.server.io - s0.server.io) / est,
      (s1.server.worker - s0.server.worker) / est, (s1.self - s0.self) / est,
      std::max(0.0, (s1.machine - s0.machine) - (s1.server.total - s0.server.total) -
                        (s1.self - s0.self)) /
          est);
  double per_rss = reached ? (m1.rss_kb - m0.rss_kb) / static_cast<double>(reached) : 0;
  double per_priv = reached ? (m1.private_kb - m0.private_kb) / static_cast<double>(reached) : 0;
  std::printf(
      "   server memory: RSS %.1f MiB before, %.1f MiB with the connections ready (%.1f MiB after "
      "%.0f s idle); private %.1f -> %.1f MiB\n",
      m0.rss_kb / 1024, m1.rss_kb / 1024, m2.rss_kb / 1024, opt.idle_hold, m0.private_kb / 1024,
      m1.private_kb / 1024);
  std::printf(
      "   => %.2f KB of server user-space memory per connection (RSS delta / connections; "
      "private: %.2f KB)  [aim: at most 4 KB]\n",
      per_rss, per_priv);
  std::printf("   server descriptors: %ld before, %ld held\n", fds_before, fds_held);
  std::printf("   kernel sockets (both ends, pages of 4 KiB; not user space): before [%s] after [%s]\n",
              sock0.c_str(), sock1.c_str());
  double hs = std::chrono::duration<double>(h1.at - h0.at).count();
  std::printf(
      "   held %.1f s: %llu dropped, %llu frames received; server CPU while idle %.3f cores, "
      "load generator %.3f\n",
      hs, static_cast<unsigned long long>(dropped.load()),
      static_cast<unsigned long long>(frames.load()), (h1.server.total - h0.server.total) / hs,
      (h1.self - h0.self) / hs);

  Result r;
  r.name = "idle ws";
  r.conns = static_cast<unsigned>(reached);
  r.seconds = set.seconds;
  r.ok = reached;
  r.errors = dropped.load();
  for (auto& [k, v] : set.errors) r.error_kinds[k] += v;
  r.gen_cpu = s1.self - s0.self;
  r.machine_cpu = s1.machine - s0.machine;
  r.server = s1.server - s0.server;
  r.latency_ns = set.handshake_ns;
  r.has_p999 = r.latency_ns.size() >= 1000;
  env.results->push_back(std::move(r));
  char line[512];
  std::snprintf(line, sizeof line,
                "idle WebSockets: %llu held of a %u target (limit: %llu descriptors per process), "
                "%.2f KB server RSS per connection (private %.2f KB), %llu dropped in %.0f s",
                static_cast<unsigned long long>(reached), opt.idle_conns,
                static_cast<unsigned long long>(rl.rlim_max), per_rss, per_priv,
                static_cast<unsigned long long>(dropped.load()), opt.idle_hold);
  env.headlines->push_back(line);
  if (env.idle_kb) *env.idle_kb = per_rss;

  closing = true;
  close_ws_set(loops, set);
  wait_for_server_fds(env.pid(), fds_before + 8, 30s);
  loops.stop();
  Memory m3 = process_memory(env.pid());
  std::printf("   after closing: server RSS %.1f MiB, %ld descriptors\n", m3.rss_kb / 1024,
              open_fds(env.pid()));
}

// ---- 1-to-N fan-out

struct FanState {
  unsigned receivers = 0;
  std::uint64_t capacity = 0;
  std::unique_ptr<std::atomic<std::int64_t>[]> sent_ns;  // by message index
  std::unique_ptr<std::atomic<std::uint32_t>[]> got;     // receivers that have it
  std::atomic<std::uint64_t> sent{0}, completed{0}, acks{0}, other_frames{0};
  std::atomic<std::int64_t> win_start{0}, win_end{0};
  std::atomic<std::int64_t> last_other_ns{0};
  std::atomic<std::int64_t> acked_seq{0};  // the sender's latest acked message
  std::atomic<bool> closing{false};
  std::vector<ThreadStats> stats;  // per loop; touched only on that loop
  std::mutex mu;
  std::map<std::string, std::uint64_t> errors;
  asio::steady_timer* sender_wake = nullptr;  // on loop 0 only
  asio::io_context* sender_ctx = nullptr;

  void error(const std::string& e) {
    std::lock_guard lock(mu);
    ++errors[e];
  }
};

constexpr std::string_view kCreated = "\"event\":\"message.created\"";
constexpr std::string_view kFanCmid = "\"client_msg_id\":\"k";

asio::awaitable<void> fan_receiver(std::shared_ptr<Conn> c, FanState& fs, unsigned loop,
                                   bool cross_node) {
  ThreadStats& st = fs.stats[loop];
  for (;;) {
    Frame f;
    auto err = co_await read_frame(*c, f);
    if (!err.empty()) {
      if (!fs.closing.load()) fs.error("receiver: " + err);
      co_return;
    }
    std::int64_t now = now_ns();
    if (f.opcode == 0x1) {
      std::string_view p = f.payload;
      auto k = p.find(kFanCmid);
      if (k != std::string_view::npos && p.substr(0, 64).find(kCreated) != std::string_view::npos) {
        std::uint64_t idx = 0;
        for (std::size_t i = k + kFanCmid.size(); i < p.size() && p[i] >= '0' && p[i] <= '9'; ++i)
          idx = idx * 10 + static_cast<std::uint64_t>(p[i] - '0');
        if (idx < fs.capacity) {
          std::int64_t sent = fs.sent_ns[idx].load(std::memory_order_acquire);
          if (now >= fs.win_start.load(std::memory_order_relaxed) &&
              now <= fs.win_end.load(std::memory_order_relaxed)) {
            ++st.ok;
            st.latency_ns.push_back(now - sent);
            if (cross_node) st.latency2_ns.push_back(now - sent);
          } else {
            ++st.outside;
          }
          if (fs.got[idx].fetch_add(1, std::memory_order_acq_rel) + 1 == fs.receivers) {
            fs.completed.fetch_add(1, std::memory_order_acq_rel);
            asio::post(*fs.sender_ctx, [&fs] {
              if (fs.sender_wake) fs.sender_wake->cancel();
            });
          }
        }
      } else {
        fs.other_frames.fetch_add(1, std::memory_order_relaxed);
        fs.last_other_ns.store(now, std::memory_order_relaxed);
      }
    } else if (f.opcode == 0x8) {
      if (!fs.closing.load()) fs.error("receiver: closed by server " + close_code(f.payload));
      co_return;
    } else if (f.opcode == 0x9) {
      std::string pong = client_frame(0xA, f.payload);
      c->consume(f.bytes);
      co_await asio::async_write(c->sock, asio::buffer(pong), kTuple);
      continue;
    }
    c->consume(f.bytes);
  }
}

// The sender's socket: acks, its own copies of the events, errors.
asio::awaitable<void> fan_sender_reader(std::shared_ptr<Conn> c, FanState& fs) {
  for (;;) {
    Frame f;
    auto err = co_await read_frame(*c, f);
    if (!err.empty()) {
      if (!fs.closing.load()) fs.error("sender: " + err);
      co_return;
    }
    if (f.opcode == 0x1) {
      std::string_view p = f.payload;
      if (p.rfind("{\"type\":\"ack\"", 0) == 0) {
        fs.acks.fetch_add(1, std::memory_order_relaxed);
        fs.acked_seq.store(std::max(fs.acked_seq.load(), seq_in(p)));
      }
      else if (p.substr(0, 32).find("\"type\":\"error\"") != std::string_view::npos)
        fs.error("send: " + std::string(p.substr(0, 160)));
    } else if (f.opcode == 0x8) {
      if (!fs.closing.load()) fs.error("sender: closed by server " + close_code(f.payload));
      co_return;
    }
    c->consume(f.bytes);
  }
}

struct FanPhase {
  bool closed_loop = true;
  unsigned window = 16;  // closed loop: messages not yet delivered to every receiver
  double rate = 0;       // open loop: messages per second
  Clock::time_point end;
  std::atomic<bool> done{false};
};

asio::awaitable<void> fan_sender(std::shared_ptr<Conn> c, FanState& fs, FanPhase& ph,
                                 std::string cid) {
  asio::steady_timer wake(co_await asio::this_coro::executor);
  fs.sender_wake = &wake;
  const std::string prefix = "{\"type\":\"send\",\"conversation_id\":\"" + cid +
                             "\",\"text\":\"fan-out message\",\"client_msg_id\":\"k";
  auto t0 = Clock::now();
  std::uint64_t k = 0;
  bool failed = false;
  while (!failed && Clock::now() < ph.end) {
    std::uint64_t due_count = 0;
    if (ph.closed_loop) {
      std::uint64_t out = fs.sent.load() - fs.completed.load();
      due_count = out < ph.window ? ph.window - out : 0;
    } else {
      auto due = t0 + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(static_cast<double>(k) / ph.rate));
      if (due <= Clock::now()) due_count = 1;
      else {
        wake.expires_at(due);
        co_await wake.async_wait(kTuple);
        continue;
      }
    }
    if (due_count == 0) {
      wake.expires_after(5ms);  // a completion cancels this
      co_await wake.async_wait(kTuple);
      continue;
    }
    for (std::uint64_t j = 0; j < due_count; ++j) {
      std::uint64_t idx = fs.sent.load();
      if (idx >= fs.capacity) {
        fs.error("sender: out of message slots");
        failed = true;
        break;
      }
      std::string frame = client_frame(0x1, prefix + std::to_string(idx) + "\"}");
      fs.sent_ns[idx].store(now_ns(), std::memory_order_release);
      fs.sent.store(idx + 1);
      ++k;
      // The sender has the channel open: it marks it read every 16 messages (without that,
      // the server's unread count for the sender scans all its own messages on every send).
      if (k % 16 == 0 && fs.acked_seq.load() > 0)
        frame += client_frame(0x1, "{\"type\":\"read\",\"conversation_id\":\"" + cid +
                                       "\",\"seq\":" + std::to_string(fs.acked_seq.load()) + "}");
      auto [ec, n] = co_await asio::async_write(c->sock, asio::buffer(frame), kTuple);
      if (ec) {
        fs.error("sender write: " + ec.message());
        failed = true;
        break;
      }
    }
  }
  fs.sender_wake = nullptr;
  ph.done = true;
}

// Creates a conversation as `token`'s user; returns its id or "" (and says why).
std::string create_conversation(const Env& env, const std::string& token, const std::string& body) {
  auto r = http_call(env.ep(), "POST", "/api/v1/conversations", token, body);
  if (!r.ok()) {
    std::printf("   set-up: creating a conversation failed: %s\n", r.describe().c_str());
    return "";
  }
  return json_at(r.body, {"id"});
}

bool add_members(const Env& env, const std::string& token, const std::string& cid,
                 const std::vector<std::string>& ids) {
  for (std::size_t i = 0; i < ids.size(); i += 50) {
    std::string body = "{\"user_ids\":[";
    for (std::size_t j = i; j < std::min(ids.size(), i + 50); ++j)
      body += (j > i ? ",\"" : "\"") + ids[j] + "\"";
    body += "]}";
    auto r = http_call(env.ep(), "POST", "/api/v1/conversations/" + cid + "/members", token, body);
    if (!r.ok()) {
      std::printf("   set-up: adding members failed: %s\n", r.describe().c_str());
      return false;
    }
  }
  return true;
}

// Takes the per-loop stats out, on each loop.
std::vector<ThreadStats> take_stats(Loops& loops, std::vector<ThreadStats>& stats) {
  std::vector<ThreadStats> out(stats.size());
  for (unsigned t = 0; t < loops.size() && t < stats.size(); ++t)
    loops.run_on(t, [&] {
      out[t] = std::move(stats[t]);
      stats[t] = ThreadStats{};
    });
  return out;
}

// at_20k: also the fixed 20,000 deliveries/s phase (not in scaleout, which compares two).
void run_fanout(Env& env, unsigned n, bool at_20k = true) {
  const Options& opt = *env.opt;
  std::printf("\n== fan-out to N = %u: one sender, %u receivers each a distinct member user with "
              "one WebSocket, one public channel\n", n, n);
  if (env.tokens.size() < n + 1) {
    std::printf("   skipped: needs %u registered users, have %zu\n", n + 1, env.tokens.size());
    return;
  }
  char name[64];
  std::snprintf(name, sizeof name, "{\"type\":\"channel\",\"name\":\"bench-fanout-%u\"}", n);
  std::string cid = create_conversation(env, env.tokens[0], name);
  if (cid.empty()) return;
  std::vector<std::string> member_ids(env.user_ids.begin() + 1, env.user_ids.begin() + 1 + n);
  auto ts = Clock::now();
  if (!add_members(env, env.tokens[0], cid, member_ids)) return;
  std::printf("   set-up: channel %s, %u members added in %.2f s\n", cid.c_str(), n,
              std::chrono::duration<double>(Clock::now() - ts).count());

  long fds_before = open_fds(env.pid());
  Loops loops(env.threads);
  FanState fs;
  fs.receivers = n;
  fs.capacity = std::max<std::uint64_t>(1 << 16, static_cast<std::uint64_t>(4e7 / n));
  fs.sent_ns.reset(new std::atomic<std::int64_t>[fs.capacity]);
  fs.got.reset(new std::atomic<std::uint32_t>[fs.capacity]);
  for (std::uint64_t i = 0; i < fs.capacity; ++i) {
    fs.sent_ns[i].store(0);
    fs.got[i].store(0);
  }
  fs.stats.resize(loops.size());
  for (auto& s : fs.stats) s.latency_ns.reserve(1 << 20);
  fs.sender_ctx = &loops.at(0);

  std::vector<std::string> sender_hello{hello_frame(env.tokens[0])};
  WsSet sender = open_ws_set(loops, {env.ep()}, sender_hello, 1, 0, 1, 64 * 1024);
  std::vector<std::string> hellos;
  for (unsigned i = 0; i < n; ++i) hellos.push_back(hello_frame(env.tokens[1 + i]));
  ts = Clock::now();
  // Receiver i is on node i % nodes: on a cluster, two in three are on another node than the
  // sender (node 0), and their latency is also counted apart as cross-node.
  WsSet recv =
      open_ws_set(loops, env.endpoints(), hellos, n, opt.source_addrs, 64, 16 * 1024);
  if (sender.ready != 1 || recv.ready != n) {
    std::printf("   could not open the WebSockets: sender %s; receivers %llu of %u ready (%s)\n",
                errors_line(sender.errors).c_str(), static_cast<unsigned long long>(recv.ready), n,
                errors_line(recv.errors).c_str());
    fs.closing = true;
    close_ws_set(loops, sender);
    close_ws_set(loops, recv);
    return;
  }
  asio::co_spawn(loops.at(sender.loop_of[0]), fan_sender_reader(sender.conns[0], fs),
                 asio::detached);
  for (unsigned i = 0; i < n; ++i)
    asio::co_spawn(loops.at(recv.loop_of[i]),
                   fan_receiver(recv.conns[i], fs, recv.loop_of[i], recv.server_of[i] != 0),
                   asio::detached);
  // Each hello makes the user online: presence.changed goes to every connected member, so
  // opening N sockets sends about N^2/2 presence events. Wait for that to end.
  auto quiet_deadline = Clock::now() + 30s;
  fs.last_other_ns = now_ns();  // the events come after ready: wait at least 1 s of silence
  while (Clock::now() < quiet_deadline &&
         now_ns() - fs.last_other_ns.load() < 1'000'000'000)
    std::this_thread::sleep_for(50ms);
  std::printf(
      "   %u receivers ready in %.2f s (connect to ready p99 %.1f ms); %llu presence/other "
      "events arrived while they connected, quiet after %.2f s\n",
      n, recv.seconds, percentile_ms(recv.handshake_ns, 0.99),
      static_cast<unsigned long long>(fs.other_frames.load()),
      std::chrono::duration<double>(Clock::now() - ts).count());

  double max_msgs_per_s = 0;
  // Closed loop (the maximum), then fixed rates: half the maximum, and 20,000 deliveries/s (the
  // rate the comparison with Mosquitto and nginx+nchan used; skipped above the maximum).
  for (int phase = 0; phase < 3; ++phase) {
    FanPhase ph;
    ph.closed_loop = phase == 0;
    ph.window = opt.fanout_window;
    ph.rate = phase == 2 ? 20'000.0 / n : std::max(1.0, max_msgs_per_s * 0.5);
    if (phase == 2 && (!at_20k || ph.rate > max_msgs_per_s)) continue;
    auto start = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(opt.warmup));
    ph.end = start + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(opt.seconds));
    fs.win_start = std::chrono::nanoseconds(start.time_since_epoch()).count();
    fs.win_end = std::chrono::nanoseconds(ph.end.time_since_epoch()).count();
    std::uint64_t other0 = fs.other_frames.load();
    asio::co_spawn(loops.at(0), fan_sender(sender.conns[0], fs, ph, cid), asio::detached);
    std::this_thread::sleep_until(start);
    Snapshot before = snapshot(env.pids());
    std::uint64_t sent0 = fs.sent.load();
    std::this_thread::sleep_until(ph.end);
    Snapshot after = snapshot(env.pids());
    std::uint64_t sent1 = fs.sent.load();
    auto drain_until = Clock::now() + 10s;
    while (Clock::now() < drain_until && (!ph.done.load() || fs.completed.load() < fs.sent.load()))
      std::this_thread::sleep_for(5ms);
    std::uint64_t undelivered = fs.sent.load() - fs.completed.load();
    auto stats = take_stats(loops, fs.stats);
    {
      std::lock_guard lock(fs.mu);
      for (auto& [k, v] : fs.errors) stats[0].errors[k] += v;
      fs.errors.clear();
    }
    if (undelivered)
      stats[0].errors["messages not delivered to every receiver within 10 s"] += undelivered;
    char rname[64], what[256];
    if (ph.closed_loop) {
      std::snprintf(rname, sizeof rname, "%sfanout %u max", env.label.c_str(), n);
      std::snprintf(what, sizeof what,
                    "deliveries of message.created to %u receivers; the sender keeps %u messages "
                    "not yet delivered to all (closed loop); latency = send to receive",
                    n, ph.window);
    } else if (phase == 1) {
      std::snprintf(rname, sizeof rname, "%sfanout %u @50%%", env.label.c_str(), n);
      std::snprintf(what, sizeof what,
                    "deliveries to %u receivers at a fixed %.0f messages/s (half the closed-loop "
                    "rate); latency = send to receive",
                    n, ph.rate);
    } else {
      std::snprintf(rname, sizeof rname, "%sfanout %u @20k", env.label.c_str(), n);
      std::snprintf(what, sizeof what,
                    "deliveries to %u receivers at a fixed 20,000 deliveries/s (%.0f messages/s); "
                    "latency = send to receive",
                    n, ph.rate);
    }
    Result r = make_result(rname, what, n + 1, before, after, stats);
    if (env.nodes.size() > 1) r.latency2_label = "cross-node receivers";
    r.others = env.others;
    print_result(r, env.cores);
    double msgs = static_cast<double>(sent1 - sent0) / std::max(1e-9, r.seconds);
    std::printf("   messages sent %.1f /s; %llu other events in the window\n", msgs,
                static_cast<unsigned long long>(fs.other_frames.load() - other0));
    if (ph.closed_loop) max_msgs_per_s = r.rate() / n;
    char line[400];
    std::snprintf(line, sizeof line,
                  "%sfan-out N=%u %s: %.0f deliveries/s (%.1f messages/s), latency p50 %.2f ms, "
                  "p99 %.2f ms, p99.9 %.2f ms; load generator %.2f cores, server %.2f",
                  env.label.c_str(), n,
                  phase == 0 ? "closed loop" : phase == 1 ? "at 50% rate" : "at 20k deliveries/s",
                  r.rate(), r.rate() / n,
                  percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
                  percentile_ms(r.latency_ns, 0.999), r.gen_cpu / std::max(1e-9, r.seconds),
                  r.server.total / std::max(1e-9, r.seconds));
    env.headlines->push_back(line);
    env.results->push_back(std::move(r));
  }
  fs.closing = true;
  close_ws_set(loops, sender);
  close_ws_set(loops, recv);
  wait_for_server_fds(env.pid(), fds_before + 8, 30s);
  loops.stop();
}

// ---- durable sends: every ack/201 comes after the commit that holds the message

struct DurableSpec {
  bool ws = true;
  char tag = 'd';                  // makes client_msg_id unique across variants
  unsigned read_every = 0;         // WebSocket: a read frame after every N acks (0: never)
  std::vector<std::string> cids;   // connection i sends into cids[i % size]
  std::vector<std::string> tokens; // connection i is tokens[i % size]
  std::vector<tcp::endpoint> servers;  // connection i goes to servers[i % size]
};

asio::awaitable<void> durable_connection(const DurableSpec& sp, const Window& w, ThreadStats& st,
                                         unsigned conn) {
  auto c = std::make_shared<Conn>(co_await asio::this_coro::executor);
  asio::co_spawn(c->sock.get_executor(), watchdog(c, 20s), asio::detached);
  const std::string& token = sp.tokens[conn % sp.tokens.size()];
  const std::string& cid = sp.cids[conn % sp.cids.size()];
  const tcp::endpoint& server = sp.servers[conn % sp.servers.size()];
  const std::string upgrade = ws_upgrade_request(server.port());
  bool connected = false;
  std::int64_t acked_seq = -1;
  unsigned since_read = 0;
  std::string http_head;
  if (!sp.ws)
    http_head = "POST /api/v1/conversations/" + cid + "/messages HTTP/1.1\r\nHost: 127.0.0.1:" +
                std::to_string(server.port()) + "\r\nAuthorization: Bearer " + token +
                "\r\nContent-Type: application/json\r\nContent-Length: ";
  const std::string ws_prefix =
      "{\"type\":\"send\",\"conversation_id\":\"" + cid + "\",\"text\":\"durable message ";
  for (std::uint64_t k = 0; k < kMaxOpsPerConnection && Clock::now() < w.end; ++k) {
    if (!connected) {
      if (!co_await connect(*c, server, st)) continue;
      if (sp.ws) {
        c->begin(Clock::now());
        auto err = co_await ws_handshake(*c, upgrade, hello_frame(token));
        c->busy = false;
        if (!err.empty()) {
          st.error("hello: " + err);
          c->reset();
          c->backoff.expires_after(100ms);
          co_await c->backoff.async_wait(kTuple);
          continue;
        }
      }
      connected = true;
    }
    std::string cmid = std::string(1, sp.tag) + std::to_string(conn) + "-" + std::to_string(k);
    std::string out;
    if (sp.ws) {
      out = client_frame(0x1, ws_prefix + std::to_string(k) + "\",\"client_msg_id\":\"" + cmid +
                                  "\",\"req\":" + std::to_string(k) + "}");
    } else {
      std::string body = "{\"text\":\"durable message " + std::to_string(k) +
                         "\",\"client_msg_id\":\"" + cmid + "\"}";
      out = http_head + std::to_string(body.size()) + "\r\n\r\n" + body;
    }
    auto t0 = Clock::now();
    c->begin(t0);
    auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(out), kTuple);
    if (wec) {
      c->busy = false;
      st.error(c->read_error(wec, "write"));
      connected = false;
      continue;
    }
    std::string err;
    bool good = false;
    if (sp.ws) {
      const std::string want = "\"req\":" + std::to_string(k);
      for (int frames = 0; frames < 10000; ++frames) {
        Frame f;
        err = co_await read_frame(*c, f);
        if (!err.empty()) break;
        std::string_view p = f.payload;
        bool done = false;
        if (f.opcode == 0x8) {
          err = "closed by server " + close_code(p);
        } else if (f.opcode == 0x1 && p.rfind("{\"type\":\"ack\"", 0) == 0) {
          done = true;
          good = true;
          acked_seq = seq_in(p);
        } else if (f.opcode == 0x1 && p.substr(0, 32).find("\"type\":\"error\"") !=
                                          std::string_view::npos) {
          err = "error frame: " + std::string(p.substr(0, 160));
          done = p.find(want) != std::string_view::npos;
        }
        c->consume(f.bytes);
        if (done || !err.empty()) break;
      }
      if (!good && err.empty()) err = "no ack";
    } else {
      HttpHead h;
      err = co_await read_response(*c, h);
      if (err.empty()) {
        std::string_view body(c->buf.data() + h.header_bytes, h.content_length);
        if (h.status == 201)
          good = true;
        else if (h.status == 200)
          err = "HTTP 200: a retry of an earlier client_msg_id, not a new message";
        else
          err = status_error(h.status, body);
        c->consume(h.header_bytes + h.content_length);
      }
    }
    c->busy = false;
    auto t1 = Clock::now();
    if (!good) {
      st.error(err);
      if (err.rfind("error frame", 0) != 0 && err.rfind("HTTP", 0) != 0) {
        connected = false;
        c->reset();
      }
      continue;
    }
    if (w.inside(t1)) {
      ++st.ok;
      st.latency_ns.push_back(std::chrono::nanoseconds(t1 - t0).count());
    } else {
      ++st.outside;
    }
    // A client with the conversation open marks it read (a `read` frame has no answer).
    if (sp.ws && sp.read_every && ++since_read >= sp.read_every && acked_seq > 0) {
      since_read = 0;
      std::string rf = client_frame(0x1, "{\"type\":\"read\",\"conversation_id\":\"" + cid +
                                             "\",\"seq\":" + std::to_string(acked_seq) + "}");
      auto [rec, rn] = co_await asio::async_write(c->sock, asio::buffer(rf), kTuple);
      if (rec) connected = false;
    }
  }
  c->finished = true;
  c->watchdog.cancel();
  c->reset();
}

// All three variants, or (ws_many_only, for comparing clusters) WebSocket sends into own DMs,
// with one_conversation also HTTP sends into one shared channel.
void run_durable(Env& env, bool ws_many_only = false, bool one_conversation = false) {
  const Options& opt = *env.opt;
  unsigned conns = opt.durable_conns;
  unsigned senders = std::min<unsigned>(conns, static_cast<unsigned>(env.tokens.size()));
  // Use the last users: the first ones are members of the fan-out channels.
  std::vector<std::string> tokens(env.tokens.end() - senders, env.tokens.end());
  std::vector<std::string> ids(env.user_ids.end() - senders, env.user_ids.end());
  std::printf("\n== durable sends: set-up of %u note-to-self DMs and one shared group channel\n",
              senders);
  std::vector<std::string> own;
  for (unsigned i = 0; i < senders; ++i) {
    std::string cid = create_conversation(
        env, tokens[i], "{\"type\":\"dm\",\"member_ids\":[\"" + ids[i] + "\"]}");
    if (cid.empty()) return;
    own.push_back(cid);
  }
  std::string shared = create_conversation(
      env, tokens[0], "{\"type\":\"channel\",\"name\":\"bench-durable\",\"visibility\":\"private\"}");
  if (shared.empty()) return;
  std::vector<std::string> others(ids.begin() + 1, ids.end());
  if (!add_members(env, tokens[0], shared, others)) return;

  struct Variant {
    const char* name;
    bool ws;
    bool one;
    char tag;
  };
  std::vector<Variant> variants = {Variant{"durable ws many", true, false, 'w'},
                                   Variant{"durable http many", false, false, 'h'},
                                   Variant{"durable http one", false, true, 'o'}};
  if (ws_many_only) variants.erase(variants.begin() + 1, variants.end() - (one_conversation ? 1 : 0));
  for (const Variant& v : variants) {
    DurableSpec sp;
    sp.ws = v.ws;
    sp.tag = v.tag;
    sp.read_every = v.ws ? 16 : 0;
    sp.tokens = tokens;
    sp.cids = v.one ? std::vector<std::string>{shared} : own;
    sp.servers = env.endpoints();
    SyncCounter syncs;
    auto r = run_scenario(
        env.label + v.name, conns, env.threads, env.pids(), env.ep(), std::max(opt.warmup, 1.0),
        opt.seconds, false,
        [&](const Window& w, ThreadStats& st, unsigned c) {
          return durable_connection(sp, w, st, c);
        },
        [&](double secs) {
          syncs.start(env.commit_pids ? env.commit_pids() : env.pids(), secs);
        });
    char what[300];
    std::snprintf(what, sizeof what,
                  "%s, closed loop, one send in flight per connection, into %s; latency = send "
                  "to %s (after the commit)",
                  v.ws ? "WebSocket send -> ack" : "HTTP POST .../messages -> 201",
                  v.one ? "one conversation shared by every sender"
                        : "each sender's own conversation (note-to-self DM)",
                  v.ws ? "ack" : "response");
    r.what = what;
    r.others = env.others;
    print_result(r, env.cores);
    auto n = syncs.finish();
    std::string commits = "commits: n/a (perf not available)";
    if (n && *n > 0)
      commits = fmt("%.0f", static_cast<double>(*n)) + " WAL syncs in the window (= commits), " +
                fmt("%.1f", static_cast<double>(r.ok) / static_cast<double>(*n)) +
                " sends per commit, " + fmt("%.0f", *n / std::max(1e-9, r.seconds)) +
                " commits/s";
    std::printf("   group commit: %s\n", commits.c_str());
    char line[512];
    std::snprintf(line, sizeof line,
                  "%s (%u connections): %.0f sends/s, ack p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms; "
                  "%s",
                  (env.label + v.name).c_str(), conns, r.rate(), percentile_ms(r.latency_ns, 0.5),
                  percentile_ms(r.latency_ns, 0.99), percentile_ms(r.latency_ns, 0.999),
                  commits.c_str());
    env.headlines->push_back(line);
    env.results->push_back(std::move(r));
  }
}

// ---- a corpus with realistic word frequencies

// Common English words; a message is 4 to 16 of them, drawn with Zipf frequencies (s = 1) over
// a fixed shuffle of this list, so word length and frequency are unrelated.
constexpr const char* kWords =
    "the be to of and a in that have it for not on with he as you do at this but his by from "
    "they we say her she or an will my one all would there their what so up out if about who "
    "get which go me when make can like time no just him know take people into year your good "
    "some could them see other than then now look only come its over think also back after use "
    "two how our work first well way even new want because any these give day most us is was "
    "are been has had were said did having may should call world school still try last ask need "
    "feel three state never become between high really something another family own leave put "
    "old while mean keep student why let great same big group begin seem country help talk where "
    "turn problem every start hand might american show part against place such again few case "
    "week company system each right program hear question during play government run small "
    "number off always move night live point believe hold today bring happen next without "
    "before large million must home under water room write mother area national money story "
    "young fact month different lot study book eye job word business issue side kind four head "
    "far black long both little house yes since provide service around friend important father "
    "sit away until power hour game often yet line political end among ever stand bad lose "
    "however member pay law meet car city almost include continue set later community much name "
    "five once white least president learn real change team minute best several idea kid body "
    "information nothing ago lead social understand whether watch together follow parent stop "
    "face anything create public already speak others read level allow add office spend door "
    "health person art sure war history party within grow result open morning walk reason low "
    "win research girl guy early food moment himself air teacher force offer enough education "
    "across although remember foot second boy maybe toward able age policy everything love "
    "process music including consider appear actually buy probably human wait serve market die "
    "send expect sense build stay fall nation plan cut college interest death course someone "
    "experience behind reach local kill six remain effect yeah suggest class control raise care "
    "perhaps late hard field else pass former sell major sometimes require along development "
    "themselves report role better economic effort decide rate strong possible heart drug show "
    "leader light voice wife whole police mind finally pull return free military price less "
    "according decision explain son hope develop view relationship carry town road drive arm "
    "true federal break difference thank receive value international building action full "
    "model join season society because tax director position player agree especially record "
    "pick wear paper special space ground form support event official whose matter everyone "
    "center couple site project hit base activity star table need court produce eat american "
    "teach oil half situation easy cost industry figure street image itself phone either data "
    "cover quite picture clear practice piece land recent describe product doctor wall patient "
    "worker news test movie certain north personal simply third technology catch step baby "
    "computer type attention draw film republican tree source organization hair window evidence "
    "population site bridge release deploy server kernel socket commit branch merge review "
    "ticket sprint design coffee lunch meeting deadline budget customer launch feature bugfix "
    "rollback backup cluster latency network browser mobile tablet invoice contract vacation "
    "weekend holiday birthday dinner concert garden weather summer winter spring autumn";

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class Corpus {
 public:
  Corpus() {
    std::istringstream in(kWords);
    std::string w;
    std::map<std::string, bool> seen;
    while (in >> w)
      if (!seen[w]) {
        seen[w] = true;
        words_.push_back(w);
      }
    for (std::size_t i = words_.size(); i > 1; --i)  // a fixed Fisher-Yates shuffle
      std::swap(words_[i - 1], words_[splitmix64(i * 7919) % i]);
    double sum = 0;
    for (std::size_t r = 0; r < words_.size(); ++r) {
      sum += 1.0 / static_cast<double>(r + 1);
      cdf_.push_back(sum);
    }
    for (auto& c : cdf_) c /= sum;
  }
  const std::vector<std::string>& words() const { return words_; }

  // Word indices of message i (deterministic).
  void message_words(std::uint64_t i, std::vector<unsigned>& out) const {
    out.clear();
    std::uint64_t s = splitmix64(i ^ 0x5eed);
    unsigned n = 4 + static_cast<unsigned>(s % 13);
    for (unsigned k = 0; k < n; ++k) {
      s = splitmix64(s);
      double u = static_cast<double>(s >> 11) / 9007199254740992.0;
      auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
      out.push_back(static_cast<unsigned>(
          std::min<std::size_t>(static_cast<std::size_t>(it - cdf_.begin()), words_.size() - 1)));
    }
  }
  std::string text(std::uint64_t i) const {
    std::vector<unsigned> idx;
    message_words(i, idx);
    std::string t;
    for (unsigned k : idx) {
      if (!t.empty()) t += ' ';
      t += words_[k];
    }
    return t;
  }

 private:
  std::vector<std::string> words_;
  std::vector<double> cdf_;
};

// Messages among the first n whose text contains each of `terms` as a substring (the trigram
// index matches substrings, so "art" also finds "party").
std::vector<std::uint64_t> substring_counts(const Corpus& c, std::uint64_t n,
                                            const std::vector<std::string>& terms) {
  std::vector<std::uint64_t> counts(terms.size());
  for (std::uint64_t i = 0; i < n; ++i) {
    std::string t = c.text(i);
    for (std::size_t k = 0; k < terms.size(); ++k)
      if (t.find(terms[k]) != std::string::npos) ++counts[k];
  }
  return counts;
}

// ---- history and search over a seeded store

struct SeedJob {
  const Corpus* corpus = nullptr;
  tcp::endpoint ep;
  std::string head;       // POST ... up to "Content-Length: "
  std::string read_head;  // POST .../read ... up to "Content-Length: "
  std::uint64_t total = 0;
  std::atomic<std::uint64_t> next{0}, done{0};
  std::atomic<unsigned> left{0};
  std::mutex mu;
  std::map<std::string, std::uint64_t> errors;
  void error(const std::string& e) {
    std::lock_guard lock(mu);
    ++errors[e];
  }
};

asio::awaitable<void> seeder(SeedJob& job) {
  auto c = std::make_shared<Conn>(co_await asio::this_coro::executor);
  asio::co_spawn(c->sock.get_executor(), watchdog(c, 60s), asio::detached);
  Window w;
  w.server = job.ep;
  w.end = Clock::now() + 24h;
  ThreadStats st;  // connect() reports into it; errors are copied to the job
  bool connected = false;
  std::int64_t last_seq = -1;
  unsigned since_read = 0;
  for (;;) {
    std::uint64_t i = job.next.fetch_add(1);
    if (i >= job.total) break;
    bool sent = false;
    for (int attempt = 0; attempt < 8 && !sent; ++attempt) {
      if (!connected) {
        connected = co_await connect(*c, w.server, st);
        if (!connected) continue;
      }
      std::string body = "{\"text\":\"" + job.corpus->text(i) + "\",\"client_msg_id\":\"s" +
                         std::to_string(i) + "\"}";
      std::string req = job.head + std::to_string(body.size()) + "\r\n\r\n" + body;
      c->begin(Clock::now());
      auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(req), kTuple);
      std::string err;
      HttpHead h;
      if (wec)
        err = c->read_error(wec, "write");
      else
        err = co_await read_response(*c, h);
      c->busy = false;
      if (!err.empty()) {
        job.error(err);
        connected = false;
        continue;
      }
      std::string_view rb(c->buf.data() + h.header_bytes, h.content_length);
      if (h.status == 201 || h.status == 200) {
        sent = true;
        last_seq = seq_in(rb);
      } else {
        job.error(status_error(h.status, rb));
      }
      c->consume(h.header_bytes + h.content_length);
    }
    if (sent)
      job.done.fetch_add(1, std::memory_order_relaxed);
    else
      job.error("message " + std::to_string(i) + " not stored after 8 attempts");
    // Like a client with the conversation open, mark it read now and then. The server scans
    // every message after the reader's last_read_seq that the reader did not send for each
    // unread_count it computes, on every send: without this, seeding slows down as O(n).
    if (sent && ++since_read >= 16 && last_seq > 0) {
      since_read = 0;
      std::string body = "{\"seq\":" + std::to_string(last_seq) + "}";
      std::string req = job.read_head + std::to_string(body.size()) + "\r\n\r\n" + body;
      c->begin(Clock::now());
      auto [wec, wn] = co_await asio::async_write(c->sock, asio::buffer(req), kTuple);
      HttpHead h;
      std::string err;  // (no co_await inside ?: : GCC 12 miscompiles it)
      if (wec)
        err = c->read_error(wec, "write");
      else
        err = co_await read_response(*c, h);
      c->busy = false;
      if (!err.empty()) {
        job.error("read: " + err);
        connected = false;
        continue;
      }
      if (h.status != 200)
        job.error("read: " + status_error(h.status, std::string_view(c->buf.data() + h.header_bytes,
                                                                     h.content_length)));
      c->consume(h.header_bytes + h.content_length);
    }
  }
  for (auto& [k, v] : st.errors) job.error(k);
  c->finished = true;
  c->watchdog.cancel();
  c->reset();
}

struct Dataset {
  std::string username, password, conversation_id;
  std::uint64_t messages = 0;
};

constexpr const char* kDatasetVersion = "v1";

std::optional<Dataset> read_dataset_meta(const std::string& dir) {
  std::istringstream in(read_file(dir + "/meta"));
  Dataset d;
  std::string key, value, version;
  while (in >> key >> value) {
    if (key == "version") version = value;
    if (key == "username") d.username = value;
    if (key == "password") d.password = value;
    if (key == "conversation_id") d.conversation_id = value;
    if (key == "messages") d.messages = std::strtoull(value.c_str(), nullptr, 10);
  }
  if (version != kDatasetVersion || d.username.empty() || d.conversation_id.empty() ||
      d.messages == 0)
    return std::nullopt;
  return d;
}

// Starts a server on `data_dir`, registers one user, creates a channel and sends it `total`
// messages from the corpus over many keep-alive HTTP connections; stops the server cleanly.
std::optional<Dataset> seed_dataset(const Options& opt, const std::string& data_dir,
                                    const Corpus& corpus, std::uint64_t total) {
  ServerProcess srv;
  Options o = opt;
  o.server_flags.push_back("--workers");
  o.server_flags.push_back(std::to_string(opt.seed_workers));
  if (!srv.start(o, data_dir)) {
    std::printf("   the seeding server did not start\n");
    return std::nullopt;
  }
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), srv.port());
  Dataset d;
  d.username = "history";
  d.password = "history-password-1";
  auto reg = http_call(ep, "POST", "/api/v1/auth/register", "",
                       "{\"username\":\"" + d.username + "\",\"password\":\"" + d.password + "\"}");
  std::string token = json_at(reg.body, {"access_token"});
  if (!reg.ok() || token.empty()) {
    std::printf("   seeding: register failed: %s\n", reg.describe().c_str());
    return std::nullopt;
  }
  Env e;
  e.nodes = {{srv.pid(), ep}};
  d.conversation_id =
      create_conversation(e, token, "{\"type\":\"channel\",\"name\":\"bench-history\"}");
  if (d.conversation_id.empty()) return std::nullopt;

  SeedJob job;
  job.corpus = &corpus;
  job.ep = ep;
  job.total = total;
  job.head = "POST /api/v1/conversations/" + d.conversation_id +
             "/messages HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
             "\r\nAuthorization: Bearer " + token +
             "\r\nContent-Type: application/json\r\nContent-Length: ";
  job.read_head = "POST /api/v1/conversations/" + d.conversation_id +
                  "/read HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) +
                  "\r\nAuthorization: Bearer " + token +
                  "\r\nContent-Type: application/json\r\nContent-Length: ";
  // The access token lasts 15 minutes; a seeding run must end well before that.
  const unsigned conns = opt.seed_conns;
  Loops loops(std::max(1u, std::min(2u, usable_cores())));
  job.left = conns;
  auto t0 = Clock::now();
  auto pid = srv.pid();
  Snapshot s0 = snapshot(pid);
  for (unsigned i = 0; i < conns; ++i)
    asio::co_spawn(loops.at(i), [&job]() -> asio::awaitable<void> {
      co_await seeder(job);
      job.left.fetch_sub(1);
    }, asio::detached);
  auto last = t0;
  std::uint64_t last_done = 0;
  while (job.left.load() > 0) {
    std::this_thread::sleep_for(100ms);
    if (Clock::now() - last >= 10s) {
      auto now = Clock::now();
      std::uint64_t d1 = job.done.load();
      std::printf("   seeding: %llu of %llu stored, %.0f /s\n", static_cast<unsigned long long>(d1),
                  static_cast<unsigned long long>(total),
                  (d1 - last_done) / std::chrono::duration<double>(now - last).count());
      std::fflush(stdout);
      last = now;
      last_done = d1;
    }
  }
  Snapshot s1 = snapshot(pid);
  loops.stop();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "   seeded %llu messages in %.1f s: %.0f /s over %u HTTP connections, server with %u "
      "workers; CPU: server %.2f cores [workers %.2f, sqlite-writer %.2f], load generator "
      "%.2f; errors: %s\n",
      static_cast<unsigned long long>(job.done.load()), secs, job.done.load() / secs, conns,
      opt.seed_workers, (s1.server.total - s0.server.total) / secs,
      (s1.server.worker - s0.server.worker) / secs, (s1.server.writer - s0.server.writer) / secs,
      (s1.self - s0.self) / secs, errors_line(job.errors).c_str());
  d.messages = job.done.load();
  std::printf("   seeding server %s\n", srv.stop().c_str());
  if (d.messages < total) return std::nullopt;
  return d;
}

void copy_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::create_directories(to, ec);
  std::filesystem::copy(from, to,
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::overwrite_existing,
                        ec);
  if (ec) std::printf("   copying %s failed: %s\n", from.c_str(), ec.message().c_str());
}

std::uint64_t tree_bytes(const std::string& dir) {
  std::uint64_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) n += it->file_size(ec);
  return n;
}

void run_history_search(const Options& opt, const std::string& tmp_dir, unsigned cores,
                        unsigned threads, std::vector<Result>& results,
                        std::vector<std::string>& headlines) {
  const std::uint64_t total = opt.messages;
  std::printf("\n== history and search over %llu stored messages (one channel)\n",
              static_cast<unsigned long long>(total));
  Corpus corpus;
  std::string cache = opt.cache_dir + "/history-" + kDatasetVersion + "-" + std::to_string(total);
  std::optional<Dataset> ds;
  if (!opt.no_cache && !opt.reseed) ds = read_dataset_meta(cache);
  std::string run_dir = tmp_dir + "/history";
  if (ds) {
    std::printf("   using the seeded store cached in %s (%.0f MiB; --reseed to rebuild)\n",
                cache.c_str(), tree_bytes(cache + "/data") / 1048576.0);
    auto t0 = Clock::now();
    copy_tree(cache + "/data", run_dir);
    std::printf("   copied in %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  } else {
    std::printf("   seeding %llu messages (%zu-word vocabulary, Zipf frequencies, 4-16 words each)\n",
                static_cast<unsigned long long>(total), corpus.words().size());
    ds = seed_dataset(opt, run_dir, corpus, total);
    if (!ds) {
      std::printf("   seeding failed; history and search skipped\n");
      return;
    }
    if (!opt.no_cache) {
      std::error_code ec;
      std::filesystem::remove_all(cache, ec);
      copy_tree(run_dir, cache + "/data");
      std::ofstream meta(cache + "/meta");
      meta << "version " << kDatasetVersion << "\nusername " << ds->username << "\npassword "
           << ds->password << "\nconversation_id " << ds->conversation_id << "\nmessages "
           << ds->messages << "\n";
      std::printf("   cached the seeded store in %s (%.0f MiB)\n", cache.c_str(),
                  tree_bytes(cache + "/data") / 1048576.0);
    }
  }
  std::printf("   store on disk: %.0f MiB\n", tree_bytes(run_dir) / 1048576.0);

  ServerProcess srv;
  if (!srv.start(opt, run_dir)) {
    std::printf("   the server did not start on the seeded store\n");
    return;
  }
  pid_t pid = srv.pid();
  tcp::endpoint ep(asio::ip::make_address_v4("127.0.0.1"), srv.port());
  auto login = http_call(ep, "POST", "/api/v1/auth/login", "",
                         "{\"username\":\"" + ds->username + "\",\"password\":\"" + ds->password +
                             "\"}");
  std::string token = json_at(login.body, {"access_token"});
  if (!login.ok() || token.empty()) {
    std::printf("   login failed: %s\n", login.describe().c_str());
    return;
  }
  const std::string cid = ds->conversation_id;
  auto conv = http_call(ep, "GET", "/api/v1/conversations/" + cid, token, "");
  std::uint64_t last_seq = std::strtoull(json_at(conv.body, {"last_seq"}).c_str(), nullptr, 10);
  std::printf("   server %d on the seeded store: conversation %s, last_seq %llu\n",
              static_cast<int>(pid), cid.c_str(), static_cast<unsigned long long>(last_seq));
  if (last_seq < 100) {
    std::printf("   the seeded conversation is missing or too short (%s)\n",
                conv.describe().c_str());
    return;
  }
  const std::string auth = "Authorization: Bearer " + token + "\r\n";
  // The reader has read everything (see the seeder: unread counts are costly).
  auto rd = http_call(ep, "POST", "/api/v1/conversations/" + cid + "/read", token,
                      "{\"seq\":" + std::to_string(last_seq) + "}");
  std::printf("   reader marked the conversation read: %s\n", rd.ok() ? "ok" : rd.describe().c_str());

  if (opt.wants("history")) {
    HttpScenario sc;
    sc.pick = HttpScenario::Pick::cycle;
    for (std::uint64_t k = 0; k < 8192; ++k) {
      std::uint64_t before = 2 + splitmix64(k + 77) % last_seq;  // 2 .. last_seq + 1
      sc.requests.push_back(http_request("GET",
                                         "/api/v1/conversations/" + cid +
                                             "/messages?before_seq=" + std::to_string(before) +
                                             "&limit=50",
                                         srv.port(), auth, ""));
    }
    auto sample = http_call(ep, "GET",
                            "/api/v1/conversations/" + cid + "/messages?before_seq=" +
                                std::to_string(last_seq / 2) + "&limit=50",
                            token, "");
    std::printf("   a page: HTTP %d, %zu bytes\n", sample.status, sample.body.size());
    auto r = run_scenario("history", opt.read_conns, threads, pid, ep, opt.warmup, opt.seconds,
                          false, [&](const Window& w, ThreadStats& st, unsigned c) {
                            return http_connection(sc, w, st, c, opt.read_conns);
                          });
    r.what = "GET /conversations/{id}/messages?before_seq=<random>&limit=50 over " +
             std::to_string(last_seq) + " messages, keep-alive, closed loop";
    print_result(r, cores);
    char line[400];
    std::snprintf(line, sizeof line,
                  "history page (50 messages, random before_seq, %llu stored, %u connections): "
                  "%.0f pages/s, p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms",
                  static_cast<unsigned long long>(last_seq), opt.read_conns, r.rate(),
                  percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
                  percentile_ms(r.latency_ns, 0.999));
    headlines.push_back(line);
    results.push_back(std::move(r));
  }

  if (opt.wants("search")) {
    // Candidate terms: words of 5+ letters; exact substring frequencies over the corpus.
    std::vector<std::string> cand;
    for (const auto& w : corpus.words())
      if (w.size() >= 5) cand.push_back(w);
    std::uint64_t scan = std::min<std::uint64_t>(total, 200'000);  // a sample suffices
    auto t0 = Clock::now();
    auto counts = substring_counts(corpus, scan, cand);
    std::vector<std::pair<double, std::string>> freq;  // fraction of messages, word
    for (std::size_t i = 0; i < cand.size(); ++i)
      freq.push_back({static_cast<double>(counts[i]) / static_cast<double>(scan), cand[i]});
    std::printf("   term frequencies from %llu messages in %.1f s\n",
                static_cast<unsigned long long>(scan),
                std::chrono::duration<double>(Clock::now() - t0).count());
    struct Band {
      const char* name;
      double target;  // fraction of messages matching
    };
    for (Band b : {Band{"search 1%", 0.01}, Band{"search 0.1%", 0.001}, Band{"search 10%", 0.1}}) {
      std::sort(freq.begin(), freq.end(), [&](const auto& x, const auto& y) {
        return std::fabs(std::log(x.first + 1e-9) - std::log(b.target)) <
               std::fabs(std::log(y.first + 1e-9) - std::log(b.target));
      });
      std::vector<std::pair<double, std::string>> terms(freq.begin(),
                                                        freq.begin() + std::min<std::size_t>(6, freq.size()));
      HttpScenario sc;
      sc.pick = HttpScenario::Pick::cycle;
      std::string list;
      for (const auto& [f, w] : terms) {
        sc.requests.push_back(http_request("GET", "/api/v1/search/messages?q=" + w + "&limit=20",
                                           srv.port(), auth, ""));
        list += (list.empty() ? "" : ", ") + w + " " + fmt("%.2f%%", f * 100);
      }
      auto sample = http_call(ep, "GET", "/api/v1/search/messages?q=" + terms[0].second + "&limit=20",
                              token, "");
      std::printf("\n   %s terms (share of messages containing them): %s; a response: HTTP %d, %zu bytes\n",
                  b.name, list.c_str(), sample.status, sample.body.size());
      double secs = b.target == 0.01 ? opt.seconds : std::max(2.0, opt.seconds / 2);
      auto r = run_scenario(b.name, opt.search_conns, threads, pid, ep, opt.warmup, secs, false,
                            [&](const Window& w, ThreadStats& st, unsigned c) {
                              return http_connection(sc, w, st, c, opt.search_conns);
                            });
      r.what = "GET /search/messages?q=<one word matching ~" + fmt("%g", b.target * 100) +
               "% of " + std::to_string(last_seq) + " messages>&limit=20, closed loop";
      print_result(r, cores);
      char line[400];
      std::snprintf(line, sizeof line,
                    "%s of %llu messages (%u connections): %.0f searches/s, p50 %.2f ms, "
                    "p99 %.2f ms, p99.9 %s ms",
                    b.name, static_cast<unsigned long long>(last_seq), opt.search_conns, r.rate(),
                    percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
                    r.has_p999 ? fmt("%.2f", percentile_ms(r.latency_ns, 0.999)).c_str() : "n/a");
      headlines.push_back(line);
      results.push_back(std::move(r));
    }
  }
  std::printf("\n   history/search server %s\n", srv.stop().c_str());
}

}  // namespace

// ---- scale-out: fan-out and durable sends on one node (SQLite, then PostgreSQL) and on a
// cluster of nodes sharing PostgreSQL and Redis, each against fresh servers and a fresh database


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
    std::string tmpl = (tmp && *tmp ? std::string(tmp) : std::string("/tmp")) +
                       "/parley-bench-pg-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data())) return std::string("mkdtemp: ") + std::strerror(errno);
    pg_dir_ = buf.data();
    auto pg = shell(script("postgres.sh") + " start " + sh_quote(pg_dir_));
    if (!pg || pg->rfind("postgres://", 0) != 0)
      return "PostgreSQL did not start (scripts/postgres.sh; scripts/install-deps.sh installs it)";
    pg_url_ = *pg;
    auto redis = shell("PARLEY_REDIS_DIR=" + sh_quote(redis_dir_) +
                       " PARLEY_REDIS_PORT=57379 " + script("redis.sh") + " start");
    if (!redis || redis->rfind("redis://", 0) != 0)
      return "Redis did not start (scripts/redis.sh; scripts/install-deps.sh installs it)";
    redis_url_ = *redis;
    return {};
  }
  const std::string& redis_url() const { return redis_url_; }
  // A new database on the server; its URL, or "" (and says why on stderr).
  std::string create_database(const std::string& name) {
    std::string admin = pg_url_.substr(0, pg_url_.rfind('/')) + "/postgres";
    auto r = shell("psql=\"$(command -v psql || ls -d /usr/lib/postgresql/*/bin/psql | sort -V | "
                   "tail -n 1)\" && \"$psql\" " + sh_quote(admin) +
                   " -v ON_ERROR_STOP=1 -qAt -c " + sh_quote("CREATE DATABASE " + name));
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

void run_scaleout(const Options& opt, const std::string& tmp_dir, unsigned cores,
                  unsigned threads, std::vector<Result>& results,
                  std::vector<std::string>& headlines) {
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
    double deliveries = 0, sends = 0;  // closed loop, all nodes together
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
    Registered reg =
        register_users(opt, n + 1 + opt.durable_conns, threads, env.pids(), env.ep());
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
    std::string cross = f.nodes > 1 ? fmt("%.1f", f.cross_p50) + "/" + fmt("%.1f", f.cross_p99)
                                    : std::string("-");
    std::printf("%-20s %12.0f %10.0f %6s %6s %17s %17s %10.0f %9.0f %6s %6s %15s %10s%s\n",
                f.label.c_str(), f.deliveries, dn, rel(dn, sqlite, &Figures::deliveries).c_str(),
                rel(dn, pg, &Figures::deliveries).c_str(),
                (fmt("%.1f", f.p50) + "/" + fmt("%.1f", f.p99)).c_str(), cross.c_str(), f.sends,
                sn, rel(sn, sqlite, &Figures::sends).c_str(), rel(sn, pg, &Figures::sends).c_str(),
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
  std::printf("(per node /sqlite, /pg: a node's share of the throughput divided by the single "
              "node's total; cpu: cores busy in the durable window, the nodes / everything else "
              "but the load generator, i.e. PostgreSQL and Redis)\n");
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

  // The file scenarios (a table in files_bench.cc), each against servers of its own.
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
  for (std::string_view chat : {"login", "health", "me", "ws", "idle", "fanout", "durable",
                                "history", "search", "scaleout"})
    only_files = only_files && !opt.wants(chat);
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
  auto warm = opt.warmup;

  // ---- setup: register users (Argon2id hashing per user), keep their access tokens ----
  // The fan-out needs N + 1 distinct users, the durable scenarios one per connection.
  if (opt.wants("fanout"))
    for (unsigned n : opt.fanout) opt.users = std::max(opt.users, n + 1);
  if (opt.wants("durable")) opt.users = std::max(opt.users, opt.durable_conns);
  Registered reg = register_users(opt, opt.users, threads, pid, ep);
  print_result(reg.result, cores);
  results.push_back(reg.result);
  const auto& tokens = reg.tokens;
  const auto& usernames = reg.usernames;
  const auto& passwords = reg.passwords;
  const auto& good_tokens = reg.good_tokens;
  const auto& good_ids = reg.good_ids;
  if (good_tokens.empty()) {
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
  env.tokens = good_tokens;
  env.user_ids = good_ids;
  env.results = &results;
  env.headlines = &headlines;
  double idle_kb = 0;
  env.idle_kb = &idle_kb;

  // ---- idle WebSockets first, while the server's heap holds nothing else ----
  if (opt.wants("idle")) run_idle(env);

  // ---- login: Argon2id-bound by design ----
  if (opt.wants("login")) {
    HttpScenario sc;
    sc.pick = HttpScenario::Pick::cycle;
    sc.timeout = 30s;
    for (unsigned i = 0; i < opt.users; ++i)
      if (!tokens[i].empty())
        sc.requests.push_back(http_request(
            "POST", "/api/v1/auth/login", port, "",
            "{\"username\":\"" + usernames[i] + "\",\"password\":\"" + passwords[i] + "\"}"));
    auto r = run_scenario("login", opt.login_conns, threads, pid, ep, warm, opt.seconds, false,
                          [&](const Window& w, ThreadStats& st, unsigned c) {
                            return http_connection(sc, w, st, c, opt.login_conns);
                          });
    r.what = "POST /api/v1/auth/login, users in turn (Argon2id m=19 MiB t=2 verify + new session)";
    print_result(r, cores);
    results.push_back(std::move(r));
  }

  // ---- health: the HTTP stack alone (answered on the I/O thread), a reference ----
  if (opt.wants("health")) {
    HttpScenario sc;
    sc.requests.push_back(http_request("GET", "/api/v1/health", port, "", ""));
    double secs = std::max(1.0, opt.seconds / 2);
    auto r = run_scenario("health", opt.me_conns, threads, pid, ep, warm, secs, false,
                          [&](const Window& w, ThreadStats& st, unsigned c) {
                            return http_connection(sc, w, st, c, opt.me_conns);
                          });
    r.what = "GET /api/v1/health on keep-alive connections (reference: no auth, no pool)";
    print_result(r, cores);
    results.push_back(std::move(r));
  }

  // ---- authenticated reads ----
  if (opt.wants("me")) {
    HttpScenario sc;
    for (const auto& t : good_tokens)
      sc.requests.push_back(
          http_request("GET", "/api/v1/users/me", port, "Authorization: Bearer " + t + "\r\n", ""));
    auto r = run_scenario("users/me", opt.me_conns, threads, pid, ep, warm, opt.seconds, false,
                          [&](const Window& w, ThreadStats& st, unsigned c) {
                            return http_connection(sc, w, st, c, opt.me_conns);
                          });
    r.what = "GET /api/v1/users/me with a bearer token, keep-alive, one token per connection";
    print_result(r, cores);
    results.push_back(std::move(r));
  }

  // ---- WebSocket connect + hello -> ready + close ----
  if (opt.wants("ws")) {
    WsScenario sc;
    sc.upgrade = "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                 std::string(kWsKey) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    for (const auto& t : good_tokens)
      sc.hellos.push_back(client_frame(0x1, "{\"type\":\"hello\",\"token\":\"" + t + "\"}"));
    sc.close_frame = client_frame(0x8, std::string("\x03\xe8", 2));
    auto r = run_scenario("ws hello", opt.ws_conns, threads, pid, ep, warm, opt.seconds, false,
                          [&](const Window& w, ThreadStats& st, unsigned c) {
                            return ws_connection(sc, w, st, c, opt.ws_conns);
                          });
    r.what = "WebSocket: TCP connect, upgrade, hello -> ready (latency), close handshake";
    r.latency2_label = "whole cycle (connect to server FIN)";
    print_result(r, cores);
    results.push_back(std::move(r));
  }

  if (opt.wants("fanout"))
    for (unsigned n : opt.fanout) run_fanout(env, n);
  if (opt.wants("durable")) run_durable(env);
  if (opt.any_of({"history", "search"}))
    run_history_search(opt, data_dir, cores, threads, results, headlines);
  if (opt.wants("scaleout")) run_scaleout(opt, data_dir, cores, threads, results, headlines);
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
