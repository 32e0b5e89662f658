// idle: authenticated WebSockets held open (connect, upgrade, hello -> ready, then silence) from
// several source addresses, as many as the descriptor limits allow; how many, and the server's
// memory for each.
#include <sys/resource.h>

#include "load_generator.h"
#include "scenarios/chat.h"

namespace parley::bench {

namespace {

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

}  // namespace

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
  std::printf(
      "   kernel sockets (both ends, pages of 4 KiB; not user space): before [%s] after [%s]\n",
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

}  // namespace parley::bench
