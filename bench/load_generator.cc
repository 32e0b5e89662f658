#include "load_generator.h"

namespace parley::bench {

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

asio::awaitable<std::string> read_response(Conn& c, HttpHead& h, bool body_expected) {
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

asio::awaitable<std::string> exchange(Conn& c, const std::string& request, HttpHead& h) {
  c.begin(Clock::now());
  auto [wec, wn] = co_await asio::async_write(c.sock, asio::buffer(request), kTuple);
  std::string err;  // (no co_await inside ?: : GCC 12 miscompiles it)
  if (wec)
    err = c.read_error(wec, "write");
  else
    err = co_await read_response(c, h);
  c.busy = false;
  co_return err;
}

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
    HttpHead h;
    std::string err = co_await exchange(*c, req, h);
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

std::string close_code(std::string_view payload) {
  if (payload.size() < 2) return "no code";
  int code = (static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]);
  return std::to_string(code) + (payload.size() > 2 ? " " + std::string(payload.substr(2)) : "");
}

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

double percentile_ms(const std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;
}

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

Result run_scenario(const std::string& name, unsigned conns, unsigned threads,
                    const ServerPids& server_pid, const tcp::endpoint& server, double warmup,
                    double seconds, bool until_done,
                    const std::function<asio::awaitable<void>(const Window&, ThreadStats&,
                                                              unsigned conn)>& connection,
                    const std::function<void(double)>& on_window) {
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
    std::printf("%-*s %5u %8llu %6llu %10.1f %9.3f %9.3f %9s %7.2f %7.2f %7.2f %8.1f%s\n", width,
                r.name.c_str(), r.conns, static_cast<unsigned long long>(r.ok),
                static_cast<unsigned long long>(r.errors), r.rate(),
                percentile_ms(r.latency_ns, 0.5), percentile_ms(r.latency_ns, 0.99),
                r.has_p999 ? fmt("%.3f", percentile_ms(r.latency_ns, 0.999)).c_str() : "-",
                r.server.total / s, r.gen_cpu / s, r.others_cpu() / s,
                r.ok ? r.server.total / static_cast<double>(r.ok) * 1e6 : 0.0,
                r.errors ? "  ERRORS" : "");
  }
  std::printf(
      "(cpu columns: cores busy on average over the window, of %u: srv = the server, gen = this "
      "load generator, other = the rest of the machine; srv us/op: server CPU time per "
      "completed operation)\n",
      cores);
}

// =============================================================================================

std::int64_t seq_in(std::string_view body) {
  auto p = body.find("\"seq\":");
  if (p == std::string_view::npos) return -1;
  std::int64_t v = 0;
  for (p += 6; p < body.size() && body[p] >= '0' && body[p] <= '9'; ++p)
    v = v * 10 + (body[p] - '0');
  return v;
}

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

void wait_for_server_fds(pid_t pid, long fds, Clock::duration limit) {
  auto until = Clock::now() + limit;
  while (Clock::now() < until && open_fds(pid) > fds) std::this_thread::sleep_for(50ms);
}

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
asio::awaitable<boost::system::error_code> connect_from(tcp::socket& s, const tcp::endpoint& server,
                                                        std::optional<asio::ip::address_v4> src) {
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

WsSet open_ws_set(Loops& loops, const std::vector<tcp::endpoint>& servers,
                  const std::vector<std::string>& hellos, unsigned count, unsigned spread,
                  unsigned lanes, std::size_t buffer_bytes) {
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

std::vector<ThreadStats> take_stats(Loops& loops, std::vector<ThreadStats>& stats) {
  std::vector<ThreadStats> out(stats.size());
  for (unsigned t = 0; t < loops.size() && t < stats.size(); ++t)
    loops.run_on(t, [&] {
      out[t] = std::move(stats[t]);
      stats[t] = ThreadStats{};
    });
  return out;
}

}  // namespace parley::bench
