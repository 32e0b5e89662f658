#include "bench_support.h"

#include <sched.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace parley::bench {

using namespace std::chrono_literals;

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

std::string machine_line() {
  char buf[64];
  std::snprintf(buf, sizeof buf, ", %u cores usable, ", usable_cores());
  return cpu_model() + buf + memory_total() + " memory, " + kernel();
}

// ---------------------------------------------------------------------------------------------
// The server process

bool ServerProcess::start(const Options& opt, const std::string& data_dir,
                          const std::vector<std::string>& extra,
                          const std::vector<std::string>& env) {
  support::LaunchOptions o;
  o.argv = {opt.server,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir,
            "--access-log",
            "false",
            "--rate-limits",
            "register_per_ip=1000000/1s,login_per_ip=1000000/1s,login_per_account=1000000/1s,"
            "refresh_per_ip=1000000/1s,totp_per_account=1000000/1s,ws_frames_per_user=1000000/1s,"
            "messages_per_user=1000000/1s,mutations_per_user=1000000/1s,"
            "conversations_per_user=1000000/1s,search_per_user=1000000/1s",
            "--max-sockets-per-user",
            "10000",
            "--max-sockets-per-address",
            "1000000",
            "--max-connections",
            "10000000"};
  o.argv.insert(o.argv.end(), opt.server_flags.begin(), opt.server_flags.end());
  o.argv.insert(o.argv.end(), extra.begin(), extra.end());
  o.env = env;
  o.drop_test_env = false;
  o.death_signal = SIGTERM;  // never outlive the bench
  o.stdin_null = true;
  o.out = support::Stream::null;
  o.raise_fd_limit = true;   // as many descriptors as the hard limit allows (inherited; made sure)
  o.keep_bytes = 64 * 1024;  // the tail; line() keeps what the summary needs
  o.on_line = [this](std::string_view l) { line(l); };
  if (!process_.start(std::move(o)).empty()) return false;
  return process_.wait_for_port(15s).has_value();
}

std::string ServerProcess::version() const {
  std::lock_guard lock(mu_);
  return version_;
}

std::pair<int, std::vector<std::string>> ServerProcess::problems() const {
  std::lock_guard lock(mu_);
  return {problem_count_, problems_};
}

std::string ServerProcess::stop() {
  if (!process_.running()) return "";
  auto t0 = Clock::now();
  bool killed = false;
  auto status = process_.stop(10s, &killed);
  if (killed) return "did not stop within 10 s of SIGTERM; killed";
  if (!status) return "waitpid failed";
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  char buf[128];
  if (WIFEXITED(*status))
    std::snprintf(buf, sizeof buf, "exited with status %d %.0f ms after SIGTERM",
                  WEXITSTATUS(*status), ms);
  else
    std::snprintf(buf, sizeof buf, "ended by signal %d %.0f ms after SIGTERM",
                  WIFSIGNALED(*status) ? WTERMSIG(*status) : -1, ms);
  return buf;
}

// Text log lines: "<time> <level> <message> key=value ...". Called on the reader thread.
void ServerProcess::line(std::string_view l) {
  std::istringstream in{std::string(l)};
  std::string time, level;
  in >> time >> level;
  std::lock_guard lock(mu_);
  if (level == "warn" || level == "warning" || level == "error" || level == "critical") {
    ++problem_count_;
    if (problems_.size() < 8) problems_.emplace_back(l);
  }
  if (version_.empty() && l.find(" listening ") != std::string_view::npos) {
    auto v = l.find(" version=");
    if (v != std::string_view::npos)
      version_ = std::string(l.substr(v + 9, l.find(' ', v + 9) - (v + 9)));
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

bool parse_head(std::string_view head, HttpHead& h, std::uint64_t max_length) {
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
        if (ch < '0' || ch > '9' || h.content_length > max_length / 10) return false;
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

std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    pos += 2;
    std::size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    pos = eol;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(line.substr(0, colon), name)) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return value;
  }
  return {};
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

// ---- blocking HTTP for set-up calls

Reply http_call(const tcp::endpoint& ep, std::string_view method, std::string_view target,
                const std::string& token, const std::string& body) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(ep, ec);
  if (ec) return {0, "", "connect: " + ec.message()};
  timeval tv{60, 0};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string req =
      http_request(method, target, ep.port(),
                   token.empty() ? "" : "Authorization: Bearer " + token + "\r\n", body);
  asio::write(s, asio::buffer(req), ec);
  if (ec) return {0, "", "write: " + ec.message()};
  std::string buf;
  char tmp[65536];
  HttpHead h;
  std::size_t head_end = std::string::npos;
  for (;;) {
    std::size_t n = s.read_some(asio::buffer(tmp), ec);
    if (ec) return {0, "", "read: " + ec.message()};
    buf.append(tmp, n);
    if (head_end == std::string::npos) {
      auto e = buf.find("\r\n\r\n");
      if (e != std::string::npos) {
        if (!parse_head(std::string_view(buf).substr(0, e + 2), h))
          return {0, "", "malformed response"};
        head_end = e + 4;
      }
    }
    if (head_end != std::string::npos && buf.size() >= head_end + h.content_length) break;
    if (buf.size() > 16 * kMaxResponseBytes) return {0, "", "response too large"};
  }
  return {h.status, buf.substr(head_end, h.content_length), ""};
}

// A string at a path of object keys in a JSON body; "" when absent.
std::string json_at(std::string_view body, std::initializer_list<const char*> path) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) return "";
  const boost::json::value* cur = &v;
  for (const char* k : path) {
    if (!cur->is_object()) return "";
    cur = cur->as_object().if_contains(k);
    if (!cur) return "";
  }
  if (cur->is_string()) return std::string(cur->as_string());
  if (cur->is_int64()) return std::to_string(cur->as_int64());
  return "";
}

// ---------------------------------------------------------------------------------------------
// Shell

std::optional<std::string> shell(const std::string& cmd) {
  auto r = support::run_shell(cmd, support::Stream::inherit);
  while (!r.out.empty() && (r.out.back() == '\n' || r.out.back() == '\r')) r.out.pop_back();
  if (r.status != 0) return std::nullopt;
  return std::move(r.out);
}

double run_parallel(unsigned n, const std::function<void(unsigned)>& fn) {
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (unsigned i = 0; i < n; ++i) threads.emplace_back(fn, i);
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

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
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double process_cpu_s(pid_t pid) {
  return stat_cpu(read_file("/proc/" + std::to_string(pid) + "/stat")).value_or(0);
}

void report(const BenchContext& ctx, const std::string& line, bool suspect) {
  std::printf("  %s\n", line.c_str());
  std::fflush(stdout);
  ctx.headlines->push_back(line);
  if (suspect) *ctx.errors = true;
}

void fail(const BenchContext& ctx, const std::string& what, const std::string& why) {
  std::printf("  %s: FAILED: %s\n", what.c_str(), why.c_str());
  std::fflush(stdout);
  ctx.headlines->push_back(what + ": failed (" + why + ")");
  *ctx.errors = true;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace parley::bench
