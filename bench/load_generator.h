// The chat load generator that the chat scenarios (bench/scenarios/*.cc) share: CPU accounting of
// the server and of this process, connections with a deadline per operation, just enough of an
// HTTP/1.1 response reader and a WebSocket frame reader, a scenario run on a few event loops for
// a measured window and its result printed, sets of long-lived WebSockets, and the users and
// server(s) a chat scenario runs against (Env).
//
// Threads: each event loop thread owns the connections spawned on it and its ThreadStats; the
// functions that take a Loops or start a run block the calling thread until it ends.
// Failures are counted in ThreadStats::errors and printed; nothing throws on a server that
// misbehaves.
#pragma once

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

namespace parley::bench {

using namespace std::chrono_literals;
inline constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Hard bounds, whatever the options say.
inline constexpr std::uint64_t kMaxOpsPerConnection = 10'000'000;
inline constexpr double kMaxScenarioSeconds = 60;

// ---------------------------------------------------------------------------------------------
// CPU accounting

inline const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));

struct ServerCpu {
  double total = 0;   // the whole process, exited threads included
  double io = 0;      // threads named io-N
  double worker = 0;  // the worker pool (hashing, storage)
  double writer = 0;  // the SQLite writer
};

ServerCpu operator-(const ServerCpu& a, const ServerCpu& b);

ServerCpu server_cpu(pid_t pid);

struct ThreadCounts {
  int io = 0, worker = 0, writer = 0, total = 0;
};

ThreadCounts server_threads(pid_t pid);

double self_cpu();

// Busy CPU seconds of the whole machine (all cores), from /proc/stat.
double machine_busy();

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

Snapshot snapshot(const ServerPids& pids);

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

asio::awaitable<void> watchdog(std::shared_ptr<Conn> c, Clock::duration timeout);

asio::awaitable<bool> connect(Conn& c, const tcp::endpoint& server, ThreadStats& st);

// ---------------------------------------------------------------------------------------------
// HTTP/1.1: just enough of a response reader for this server (Content-Length bodies)

// Reads one response. On success h describes it and the body is
// buf[h.header_bytes, h.header_bytes + h.content_length). Returns an error text, or "" when good.
asio::awaitable<std::string> read_response(Conn& c, HttpHead& h, bool body_expected = true);
// Writes a request and reads its response, timed from now (Conn::begin): "" when good, else the
// error text (a failed write as "write: ...").
asio::awaitable<std::string> exchange(Conn& c, const std::string& request, HttpHead& h);

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
                                      unsigned conn, unsigned conns);

// ---------------------------------------------------------------------------------------------
// WebSocket: connect, upgrade, hello -> ready, close handshake, wait for the server's FIN.

// A masked client frame (RFC 6455 5.3). The mask is fixed: the bytes are built once.
std::string client_frame(int opcode, std::string_view payload);

// The key of RFC 6455 section 1.3 and the accept value it must produce.
inline constexpr std::string_view kWsKey = "dGhlIHNhbXBsZSBub25jZQ==";
inline constexpr std::string_view kWsAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct Frame {
  int opcode = 0;
  std::string_view payload;
  std::size_t bytes = 0;
};

asio::awaitable<std::string> read_frame(Conn& c, Frame& f);

struct WsScenario {
  std::string upgrade;              // the HTTP upgrade request
  std::vector<std::string> hellos;  // masked hello frames, one per token
  std::string close_frame;          // masked close frame, 1000
  Clock::duration timeout = 5s;
};

std::string close_code(std::string_view payload);

// Upgrade, hello, wait for ready on a connected socket. Returns "" or an error.
asio::awaitable<std::string> ws_handshake(Conn& c, const std::string& upgrade,
                                          const std::string& hello);

// One connect + hello + ready + close cycle. Returns "" and the time ready arrived, or an error.
asio::awaitable<std::string> ws_cycle(Conn& c, const WsScenario& sc, const std::string& hello,
                                      Clock::time_point& ready_at);

asio::awaitable<void> ws_connection(const WsScenario& sc, const Window& w, ThreadStats& st,
                                    unsigned conn, unsigned conns);

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

double percentile_ms(const std::vector<std::int64_t>& sorted, double p);

// Builds a Result from two snapshots and the per-loop stats of a window.
Result make_result(std::string name, std::string what, unsigned conns, const Snapshot& before,
                   const Snapshot& after, std::vector<ThreadStats>& stats);

// Runs one scenario: connection i goes to thread i % threads. With until_done, the run ends when
// every connection has nothing left to send (bounded by kMaxScenarioSeconds); otherwise the
// window opens after the warm-up and closes `seconds` later, and CPU is sampled at both edges.
// on_window (optional) is called as the window opens, with its length in seconds.
Result run_scenario(const std::string& name, unsigned conns, unsigned threads,
                    const ServerPids& server_pid, const tcp::endpoint& server, double warmup,
                    double seconds, bool until_done,
                    const std::function<asio::awaitable<void>(const Window&, ThreadStats&,
                                                              unsigned conn)>& connection,
                    const std::function<void(double)>& on_window = {});

void print_result(const Result& r, unsigned cores);

void print_table(const std::vector<Result>& rs, unsigned cores);

// =============================================================================================
// Chat scenarios: idle authenticated WebSockets, 1-to-N fan-out, durable sends, history and
// search over a seeded store of 1M messages.

// The first "seq":N in a JSON text; -1 when absent.
std::int64_t seq_in(std::string_view body);

// ---- descriptor limits and process memory

struct FdLimit {
  rlim_t soft = 0, hard = 0;
};

// Raises this process's soft RLIMIT_NOFILE to its hard limit (the server, forked later,
// inherits it and sets it again before exec). The hard limit itself cannot be raised without
// CAP_SYS_RESOURCE.
FdLimit raise_fd_limit();

// The soft "Max open files" of a process, from /proc/PID/limits; -1 when unreadable.
long process_fd_limit(pid_t pid);

long open_fds(pid_t pid);

struct Memory {
  double rss_kb = 0;      // VmRSS
  double private_kb = 0;  // Private_Clean + Private_Dirty (smaps_rollup)
};

Memory process_memory(pid_t pid);

std::string sockstat_tcp();

inline std::int64_t now_ns() {
  return std::chrono::nanoseconds(Clock::now().time_since_epoch()).count();
}

// Waits (up to `limit`) until the server holds at most `fds` descriptors again.
void wait_for_server_fds(pid_t pid, long fds, Clock::duration limit);

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

std::string ws_upgrade_request(std::uint16_t port);

std::string hello_frame(const std::string& token);

// ---- many long-lived WebSockets, opened from several 127.x source addresses

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

// Binds to `src` (port chosen at connect time, so each source address has its own ~28k
// ephemeral ports towards the server) and connects.
asio::awaitable<boost::system::error_code> connect_from(tcp::socket& s, const tcp::endpoint& server,
                                                        std::optional<asio::ip::address_v4> src);

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
  std::vector<tcp::endpoint> servers;                // connection i goes to servers[i % size]
  std::vector<std::string> upgrades;                 // the upgrade request for each server
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

asio::awaitable<void> handshake_deadline(std::shared_ptr<Conn> c);

asio::awaitable<void> open_lane(OpenJob& job, unsigned loop);

// Opens `count` WebSockets (connect, upgrade, hello -> ready), `lanes` at a time, connection i
// to servers[i % size]; blocks until every one is open or has failed.
WsSet open_ws_set(Loops& loops, const std::vector<tcp::endpoint>& servers,
                  const std::vector<std::string>& hellos, unsigned count, unsigned spread,
                  unsigned lanes, std::size_t buffer_bytes = 1024);

// Closes every connection of the set on its own loop (the readers then end quietly).
void close_ws_set(Loops& loops, WsSet& set);

std::string errors_line(const std::map<std::string, std::uint64_t>& errors);

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
    o.argv = {"perf", "stat", "-x", ",",
              "-o",   file_,  "-e", "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync",
              "-p",   spid,   "--", "sleep",
              secs};
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
                          const ServerPids& pids, const tcp::endpoint& ep);

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
  const Registered* registered = nullptr;  // main's users by index (login's names, passwords)
  std::string tmp_dir;  // where scenarios that start servers of their own put their data

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

// Creates a conversation as `token`'s user; returns its id or "" (and says why).
std::string create_conversation(const Env& env, const std::string& token, const std::string& body);

bool add_members(const Env& env, const std::string& token, const std::string& cid,
                 const std::vector<std::string>& ids);

// Takes the per-loop stats out, on each loop.
std::vector<ThreadStats> take_stats(Loops& loops, std::vector<ThreadStats>& stats);

}  // namespace parley::bench
