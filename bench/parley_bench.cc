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
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef PARLEY_BINARY
#define PARLEY_BINARY "parley"
#endif
#ifndef PARLEY_BENCH_BUILD_TYPE
#define PARLEY_BENCH_BUILD_TYPE "unknown"
#endif

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// Hard bounds, whatever the options say.
constexpr std::uint64_t kMaxOpsPerConnection = 10'000'000;
constexpr std::size_t kMaxResponseBytes = 1 << 20;
constexpr double kMaxScenarioSeconds = 60;

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
  bool keep_data = false;
  std::vector<std::string> server_flags;  // extra flags for `parley serve`
  std::string only;  // comma-separated scenarios to run; empty = all (register always runs)
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

void usage() {
  std::puts(
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
      "  --only LIST          run only these of login,health,me,ws (register always runs)\n"
      "  --keep-data          leave the server's data folder behind");
}

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
    } else if (a == "--only") {
      auto v = value();
      if (!v) return std::nullopt;
      o.only = *v;
    } else if (a == "--keep-data") {
      o.keep_data = true;
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
// The machine

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string cpu_model() {
  std::istringstream in(read_file("/proc/cpuinfo"));
  std::string line;
  for (const char* key : {"model name", "Hardware", "cpu model", "uarch"}) {
    in.clear();
    in.seekg(0);
    while (std::getline(in, line)) {
      if (line.rfind(key, 0) == 0) {
        auto colon = line.find(':');
        if (colon != std::string::npos) return trim(std::string_view(line).substr(colon + 1));
      }
    }
  }
  return "unknown CPU";
}

unsigned usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return static_cast<unsigned>(CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string memory_total() {
  std::istringstream in(read_file("/proc/meminfo"));
  std::string key;
  long kb = 0;
  while (in >> key >> kb) {
    if (key == "MemTotal:") {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.1f GiB", kb / 1024.0 / 1024.0);
      return buf;
    }
    in.ignore(256, '\n');
  }
  return "unknown";
}

std::string kernel() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

std::string loadavg() {
  std::istringstream in(read_file("/proc/loadavg"));
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// CPU accounting

const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));

// utime + stime of a /proc/.../stat line, in seconds (fields 14 and 15; the comm may hold spaces,
// so count from the last ')').
std::optional<double> stat_cpu(const std::string& stat) {
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / kTicks;
}

struct ServerCpu {
  double total = 0;   // the whole process, exited threads included
  double io = 0;      // threads named io-N
  double worker = 0;  // the worker pool (hashing, storage)
  double writer = 0;  // the SQLite writer
};

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

Snapshot snapshot(pid_t pid) { return {Clock::now(), server_cpu(pid), self_cpu(), machine_busy()}; }

// ---------------------------------------------------------------------------------------------
// The server process

class ServerProcess {
 public:
  ~ServerProcess() { stop(); }

  bool start(const Options& opt, const std::string& data_dir) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return false;
    std::vector<std::string> args = {
        opt.server,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir,
        "--access-log",
        "false",
        "--rate-limits",
        "register_per_ip=1000000/1s,login_per_ip=1000000/1s,login_per_account=1000000/1s,"
        "refresh_per_ip=1000000/1s"};
    args.insert(args.end(), opt.server_flags.begin(), opt.server_flags.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the bench
      if (getppid() != parent) _exit(1);
      dup2(fds[1], 2);
      int devnull = open("/dev/null", O_RDWR);
      if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
      }
      execv(argv[0], argv.data());
      std::fprintf(stderr, "exec %s failed: %s\n", argv[0], std::strerror(errno));
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
    reader_ = std::thread([this] { drain(); });
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 15s, [&] { return port_ != 0 || eof_; });
    return port_ != 0;
  }

  pid_t pid() const { return pid_; }
  std::uint16_t port() const {
    std::lock_guard lock(mu_);
    return port_;
  }
  std::string version() const {
    std::lock_guard lock(mu_);
    return version_;
  }
  std::vector<std::string> tail() const {
    std::lock_guard lock(mu_);
    return {tail_.begin(), tail_.end()};
  }
  // Lines logged at warn or error, and the first few of them.
  std::pair<int, std::vector<std::string>> problems() const {
    std::lock_guard lock(mu_);
    return {problem_count_, problems_};
  }

  // SIGTERM, then up to 10 s for the graceful drain, then SIGKILL. Returns a line saying how.
  std::string stop() {
    if (pid_ <= 0) return "";
    auto t0 = Clock::now();
    kill(pid_, SIGTERM);
    int status = 0;
    std::string how;
    for (int i = 0; i < 1000; ++i) {
      pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) break;
      if (r < 0) {
        how = "waitpid failed";
        break;
      }
      std::this_thread::sleep_for(10ms);
      if (i == 999) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        how = "did not stop within 10 s of SIGTERM; killed";
      }
    }
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (how.empty()) {
      char buf[128];
      if (WIFEXITED(status))
        std::snprintf(buf, sizeof buf, "exited with status %d %.0f ms after SIGTERM",
                      WEXITSTATUS(status), ms);
      else
        std::snprintf(buf, sizeof buf, "ended by signal %d %.0f ms after SIGTERM",
                      WIFSIGNALED(status) ? WTERMSIG(status) : -1, ms);
      how = buf;
    }
    pid_ = -1;
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return how;
  }

 private:
  void drain() {
    std::string pending;
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      pending.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = pending.find('\n')) != std::string::npos) {
        line(pending.substr(0, nl));
        pending.erase(0, nl + 1);
      }
      if (pending.size() > 65536) pending.clear();  // no newline in 64 KiB: drop it
    }
    if (!pending.empty()) line(pending);
    std::lock_guard lock(mu_);
    eof_ = true;
    cv_.notify_all();
  }

  // Text log lines: "<time> <level> <message> key=value ...".
  void line(const std::string& l) {
    std::lock_guard lock(mu_);
    tail_.push_back(l);
    if (tail_.size() > 40) tail_.pop_front();
    std::istringstream in(l);
    std::string time, level;
    in >> time >> level;
    if (level == "warn" || level == "warning" || level == "error" || level == "critical") {
      ++problem_count_;
      if (problems_.size() < 8) problems_.push_back(l);
    }
    if (port_ == 0 && l.find(" listening ") != std::string::npos) {
      auto p = l.find(" port=");
      if (p != std::string::npos) port_ = static_cast<std::uint16_t>(std::atoi(l.c_str() + p + 6));
      auto v = l.find(" version=");
      if (v != std::string::npos) version_ = l.substr(v + 9, l.find(' ', v + 9) - (v + 9));
      cv_.notify_all();
    }
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::uint16_t port_ = 0;
  bool eof_ = false;
  std::string version_;
  std::deque<std::string> tail_;
  int problem_count_ = 0;
  std::vector<std::string> problems_;
};

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
  explicit Conn(const asio::any_io_executor& ex) : sock(ex), watchdog(ex), backoff(ex) {
    buf.resize(16 * 1024);
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

asio::awaitable<bool> connect(Conn& c, const Window& w, ThreadStats& st) {
  c.reset();
  c.begin(Clock::now());
  auto [ec] = co_await c.sock.async_connect(w.server, kTuple);
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

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

struct HttpHead {
  int status = 0;
  std::size_t header_bytes = 0;
  std::size_t content_length = 0;
  bool has_length = false;
  bool close = false;
  bool chunked = false;
  std::string_view ws_accept;
};

bool parse_head(std::string_view head, HttpHead& h) {
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return false;
  auto sp = head.find(' ');
  if (sp == std::string_view::npos || sp + 4 > head.size()) return false;
  h.status = 0;
  for (std::size_t i = sp + 1; i < sp + 4; ++i) {
    if (head[i] < '0' || head[i] > '9') return false;
    h.status = h.status * 10 + (head[i] - '0');
  }
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    pos += 2;
    std::size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    pos = eol;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (iequals(name, "content-length")) {
      h.has_length = true;
      h.content_length = 0;
      for (char ch : value) {
        if (ch < '0' || ch > '9' || h.content_length > kMaxResponseBytes) return false;
        h.content_length = h.content_length * 10 + static_cast<std::size_t>(ch - '0');
      }
    } else if (iequals(name, "connection")) {
      h.close = iequals(value, "close");
    } else if (iequals(name, "transfer-encoding")) {
      h.chunked = true;
    } else if (iequals(name, "sec-websocket-accept")) {
      h.ws_accept = value;
    }
  }
  return true;
}

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

// "HTTP 404 not_found" from the error envelope, when there is one.
std::string status_error(int status, std::string_view body) {
  std::string out = "HTTP " + std::to_string(status);
  auto p = body.find("\"code\":\"");
  if (p != std::string_view::npos) {
    p += 8;
    auto q = body.find('"', p);
    if (q != std::string_view::npos && q - p < 64) out += " " + std::string(body.substr(p, q - p));
  }
  return out;
}

std::string http_request(std::string_view method, std::string_view target, std::uint16_t port,
                         std::string_view extra_headers, std::string_view body) {
  std::string r;
  r.reserve(256 + body.size());
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: 127.0.0.1:");
  r.append(std::to_string(port)).append("\r\nUser-Agent: parley_bench\r\n");
  r.append(extra_headers);
  if (!body.empty() || method == "POST")
    r.append("Content-Type: application/json\r\nContent-Length: ")
        .append(std::to_string(body.size()))
        .append("\r\n");
  r.append("\r\n").append(body);
  return r;
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
      connected = co_await connect(*c, w, st);
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

// One connect + hello + ready + close cycle. Returns "" and the time ready arrived, or an error.
asio::awaitable<std::string> ws_cycle(Conn& c, const WsScenario& sc, const std::string& hello,
                                      Clock::time_point& ready_at) {
  {
    auto [ec, n] = co_await asio::async_write(c.sock, asio::buffer(sc.upgrade), kTuple);
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
    if (frames > 16) co_return "no ready after 16 frames";
    Frame f;
    err = co_await read_frame(c, f);
    if (!err.empty()) co_return err;
    if (f.opcode == 0x8) co_return "ws closed before ready: " + close_code(f.payload);
    if (f.opcode == 0x1) {
      if (f.payload.find("\"type\":\"ready\"") == std::string_view::npos)
        co_return "unexpected frame before ready: " + std::string(f.payload.substr(0, 80));
      c.consume(f.bytes);
      break;
    }
    c.consume(f.bytes);  // ping/pong: nothing to do
  }
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
    if (!co_await connect(*c, w, st)) continue;
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

  double rate() const { return seconds > 0 ? ok / seconds : 0; }
  double others_cpu() const { return std::max(0.0, machine_cpu - server.total - gen_cpu); }
};

double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

// Runs one scenario: connection i goes to thread i % threads. With until_done, the run ends when
// every connection has nothing left to send (bounded by kMaxScenarioSeconds); otherwise the
// window opens after the warm-up and closes `seconds` later, and CPU is sampled at both edges.
Result run_scenario(const std::string& name, unsigned conns, unsigned threads, pid_t server_pid,
                    const tcp::endpoint& server, double warmup, double seconds, bool until_done,
                    const std::function<asio::awaitable<void>(const Window&, ThreadStats&,
                                                              unsigned conn)>& connection) {
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
    std::this_thread::sleep_until(w.end);
    after = snapshot(server_pid);
  }
  for (auto& t : pool) t.join();
  if (until_done) after = snapshot(server_pid);

  Result r;
  r.name = name;
  r.conns = conns;
  r.seconds = std::chrono::duration<double>(after.at - before.at).count();
  r.gen_cpu = after.self - before.self;
  r.machine_cpu = after.machine - before.machine;
  r.server.total = after.server.total - before.server.total;
  r.server.io = after.server.io - before.server.io;
  r.server.worker = after.server.worker - before.server.worker;
  r.server.writer = after.server.writer - before.server.writer;
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

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
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
  if (r.others_cpu() / s > 0.15)
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
  std::printf("\n%-16s %5s %8s %6s %10s %9s %9s %9s %7s %7s %7s %8s\n", "scenario", "conns", "ok",
              "errors", "ops/s", "p50 ms", "p99 ms", "p999 ms", "srv cpu", "gen cpu", "other",
              "srv us/op");
  for (const auto& r : rs) {
    double s = r.seconds > 0 ? r.seconds : 1;
    std::printf(
        "%-16s %5u %8llu %6llu %10.1f %9.3f %9.3f %9s %7.2f %7.2f %7.2f %8.1f%s\n", r.name.c_str(),
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

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    usage();
    return 2;
  }
  Options opt = *parsed;
  signal(SIGPIPE, SIG_IGN);

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
  std::vector<std::string> tokens(opt.users);
  std::vector<std::string> usernames(opt.users), passwords(opt.users);
  {
    HttpScenario sc;
    sc.pick = HttpScenario::Pick::once;
    sc.timeout = 30s;
    for (unsigned i = 0; i < opt.users; ++i) {
      char name[32], pw[48];
      std::snprintf(name, sizeof name, "bench%05u", i);
      std::snprintf(pw, sizeof pw, "bench-password-%05u", i);
      usernames[i] = name;
      passwords[i] = pw;
      sc.requests.push_back(
          http_request("POST", "/api/v1/auth/register", port, "",
                       std::string("{\"username\":\"") + name + "\",\"password\":\"" + pw + "\"}"));
    }
    sc.on_success = [&tokens](std::size_t i, std::string_view body) {
      boost::system::error_code ec;
      auto v = boost::json::parse(body, ec);
      if (ec || !v.is_object()) return;
      if (auto* t = v.as_object().if_contains("access_token"); t && t->is_string())
        tokens[i] = std::string(t->as_string());
    };
    auto r = run_scenario("register", opt.register_conns, threads, pid, ep, 0, 0, true,
                          [&](const Window& w, ThreadStats& st, unsigned c) {
                            return http_connection(sc, w, st, c, opt.register_conns);
                          });
    r.what = "POST /api/v1/auth/register, each user once (setup; Argon2id hash per user)";
    r.has_p999 = false;
    print_result(r, cores);
    results.push_back(std::move(r));
  }
  std::vector<std::string> good_tokens;
  for (auto& t : tokens)
    if (!t.empty()) good_tokens.push_back(t);
  if (good_tokens.empty()) {
    std::fprintf(stderr, "parley_bench: no user could register; the server's last lines:\n");
    for (const auto& l : server.tail()) std::fprintf(stderr, "  %s\n", l.c_str());
    server.stop();
    cleanup();
    return 1;
  }

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

  std::printf("\nsummary (%s; %s; %u cores shared by server and load generator)\n",
              cpu_model().c_str(), utc_now().c_str(), cores);
  print_table(results, cores);
  std::printf("load average after: %s\n", loadavg().c_str());

  auto [count, lines] = server.problems();
  std::string how = server.stop();
  std::printf("server %s; %d warn/error log line(s)\n", how.c_str(), count);
  for (const auto& l : lines) std::printf("  %s\n", l.c_str());
  cleanup();

  bool errors = false;
  for (const auto& r : results) errors = errors || r.errors;
  if (errors) std::printf("NOTE: some scenarios had errors; their figures are suspect.\n");
  return errors ? 3 : 0;
}
