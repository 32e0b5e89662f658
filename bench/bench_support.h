// What every benchmark group of parley_bench shares: the options, the machine line, the real
// server with the bench's flags (on tests/support's launcher: port 0, a throw-away data folder,
// parent-death signal), a blocking HTTP/1.1 client for set-up calls, and the table entry a group
// of scenarios is made of.
//
// Everything here runs on the calling thread and blocks; nothing is shared between threads
// except ServerProcess, whose accessors may be called from any thread while it runs. Failures
// are values (an error text in Reply, false from start(), nullopt from shell()); nothing throws
// on a server that misbehaves.
#pragma once

#include <sys/types.h>

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/process.h"
#include "support/shell.h"

#ifndef PARLEY_BINARY
#define PARLEY_BINARY "parley"
#endif
#ifndef PARLEY_BENCH_CACHE_DIR
#define PARLEY_BENCH_CACHE_DIR "bench-cache"
#endif
#ifndef PARLEY_BENCH_BUILD_TYPE
#define PARLEY_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef PARLEY_SOURCE_DIR
#define PARLEY_SOURCE_DIR "."
#endif

namespace parley::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// The largest response the set-up client and the chat scenarios' reader accept.
inline constexpr std::size_t kMaxResponseBytes = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string server = PARLEY_BINARY;
  double seconds = 6.0;  // measurement window of each main scenario
  double warmup = 0.5;   // run before the window opens, not counted
  unsigned threads = 0;  // load generator threads; 0 = auto
  unsigned users = 256;  // registered before the scenarios
  unsigned register_conns = 16;
  unsigned login_conns = 32;
  unsigned me_conns = 128;
  unsigned ws_conns = 64;
  // chat scenarios
  unsigned idle_conns = 100'000;  // target; the descriptor limits may allow fewer
  double idle_hold = 5;           // seconds the idle connections are held and watched
  unsigned source_addrs = 8;      // client source addresses 127.0.0.2 ..
  std::vector<unsigned> fanout = {100, 1000};
  unsigned fanout_window = 64;
  unsigned durable_conns = 64;
  unsigned scaleout_nodes = 3;         // the cluster's size in the scale-out comparison
  unsigned scaleout_fanout = 100;      // receivers of its fan-out
  std::uint64_t messages = 1'000'000;  // stored for history and search
  unsigned seed_conns = 64;
  unsigned seed_workers = 64;
  unsigned read_conns = 8;
  unsigned search_conns = 4;
  // file scenarios
  unsigned thumbnails = 64;  // distinct images uploaded by the thumbnails scenario
  std::string cache_dir = PARLEY_BENCH_CACHE_DIR;
  bool no_cache = false;
  bool reseed = false;
  bool keep_data = false;
  std::vector<std::string> server_flags;  // extra flags for `parley serve`
  std::string trace_ratio;  // --trace-ratio: export spans to an in-process sink at this ratio
  std::string only;         // comma-separated scenarios to run; empty = all (register always runs)
  bool any_of(std::initializer_list<std::string_view> names) const {
    for (auto n : names)
      if (wants(n)) return true;
    return false;
  }
  bool wants(std::string_view name) const {
    if (only.empty()) return true;
    std::string_view rest = only;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (rest.substr(0, comma) == name) return true;
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
    return false;
  }
};

// ---------------------------------------------------------------------------------------------
// The machine

std::string read_file(const std::string& path);
std::string trim(std::string_view s);
std::string cpu_model();
unsigned usable_cores();
std::string memory_total();
std::string kernel();
std::string loadavg();
std::string utc_now();
// "CPU, N cores usable, M GiB memory, kernel": what every printed figure is quoted with.
std::string machine_line();

// ---------------------------------------------------------------------------------------------
// The server process

// `parley serve` with the bench's flags (rate limits lifted, access log off, socket caps
// raised) on support::Process: its stderr read for the port, version and warnings, stdout to
// /dev/null, the descriptor limit raised to the hard limit, SIGTERMed if the bench dies.
class ServerProcess {
 public:
  ~ServerProcess() { stop(); }

  // `extra`: flags after the bench's own (a cluster node's --database, --redis, --node-id).
  // `env`: NAME=VALUE entries added to the server's environment (credentials stay out of argv).
  bool start(const Options& opt, const std::string& data_dir,
             const std::vector<std::string>& extra = {}, const std::vector<std::string>& env = {});

  pid_t pid() const { return process_.pid(); }
  std::uint16_t port() const { return process_.port(); }
  std::string version() const;
  std::vector<std::string> tail() const { return process_.tail(40); }
  // Lines logged at warn or error, and the first few of them.
  std::pair<int, std::vector<std::string>> problems() const;

  // SIGTERM, then up to 10 s for the graceful drain, then SIGKILL. Returns a line saying how.
  std::string stop();

 private:
  void line(std::string_view l);

  mutable std::mutex mu_;  // what line() keeps, written on the reader thread
  std::string version_;
  int problem_count_ = 0;
  std::vector<std::string> problems_;
  support::Process process_;  // last: stopped before the rest goes
};

// ---------------------------------------------------------------------------------------------
// HTTP/1.1: just enough for this server (Content-Length bodies)

bool iequals(std::string_view a, std::string_view b);

struct HttpHead {
  int status = 0;
  std::size_t header_bytes = 0;
  std::uint64_t content_length = 0;
  bool has_length = false;
  bool close = false;
  bool chunked = false;
  std::string_view ws_accept;
};

// Parses a status line and headers (up to, not including, the blank line). A Content-Length
// above max_length is refused.
bool parse_head(std::string_view head, HttpHead& h, std::uint64_t max_length = kMaxResponseBytes);

// The value of header `name` in a response head, "" when absent.
std::string_view header_value(std::string_view head, std::string_view name);

// "HTTP 404 not_found" from the error envelope, when there is one.
std::string status_error(int status, std::string_view body);

std::string http_request(std::string_view method, std::string_view target, std::uint16_t port,
                         std::string_view extra_headers, std::string_view body);

// ---- blocking HTTP for set-up calls

struct Reply {
  int status = 0;
  std::string body;
  std::string error;
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  std::string describe() const { return error.empty() ? status_error(status, body) : error; }
};

Reply http_call(const tcp::endpoint& ep, std::string_view method, std::string_view target,
                const std::string& token, const std::string& body);

// A string at a path of object keys in a JSON body; "" when absent.
std::string json_at(std::string_view body, std::initializer_list<const char*> path);

// ---------------------------------------------------------------------------------------------
// Shell

using support::sh_quote;

// Runs a shell command (support::run_shell); its stdout without trailing newlines, or nullopt
// when it failed (its
// stderr goes to ours, so the reason shows).
std::optional<std::string> shell(const std::string& cmd);

// ---------------------------------------------------------------------------------------------
// Scenario tables

// What a group's scenarios get from main. They start their own servers (with the flags they
// need) under tmp_dir and print their figures as they go.
struct BenchContext {
  const Options* opt = nullptr;
  std::string tmp_dir;  // removed by main when the run ends (unless --keep-data)
  unsigned cores = 1;
  std::vector<std::string>* headlines = nullptr;  // one line per figure, for the summary
  bool* errors = nullptr;                         // set when a figure is suspect
};

// A figure for a group's summary: printed now and kept for the end (suspect: the run had
// errors); a scenario that could not run says why the same way.
void report(const BenchContext& ctx, const std::string& line, bool suspect = false);
void fail(const BenchContext& ctx, const std::string& what, const std::string& why);
// printf of one number; seconds on the steady clock since t0.
std::string fmt(const char* f, double v);
double seconds_since(Clock::time_point t0);

// One entry of a group's table: selected by name with --only / --scenario, like the rest.
struct Scenario {
  std::string_view name;
  std::string_view description;
  void (*run)(const BenchContext&);
};

// The file scenarios (scenarios/files.cc): upload, download, thumbnails, bigupload.
const std::vector<Scenario>& file_scenarios();
// The call scenarios (scenarios/calls.cc): callsetup, calls.
const std::vector<Scenario>& call_scenarios();
// The AI scenarios (scenarios/ai.cc): translate, sentiment, smartreplies.
const std::vector<Scenario>& ai_scenarios();
// The notification scenarios (scenarios/notify.cc): jobs, push.
const std::vector<Scenario>& notify_scenarios();
// Every group, in order: what --only and the listing choose from besides the main scenarios.
inline std::vector<Scenario> group_scenarios() {
  std::vector<Scenario> all;
  for (const auto* table :
       {&file_scenarios(), &call_scenarios(), &ai_scenarios(), &notify_scenarios()})
    all.insert(all.end(), table->begin(), table->end());
  return all;
}

// Runs fn(i) for i in [0, n) on n threads at once; returns the wall time in seconds.
double run_parallel(unsigned n, const std::function<void(unsigned)>& fn);
// utime + stime of a /proc/.../stat line, in seconds (fields 14 and 15; the comm may hold
// spaces, so counted from the last ')').
std::optional<double> stat_cpu(const std::string& stat);
// CPU seconds (user + system) a process has used so far.
double process_cpu_s(pid_t pid);

}  // namespace parley::bench
