// fanout: 1-to-N fan-out. One sender, N receivers each a distinct member user with one
// WebSocket, one public channel: closed loop, then at half that rate, then at a fixed 20,000
// deliveries/s.
#include "load_generator.h"
#include "scenarios/chat.h"

namespace parley::bench {

namespace {

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
      } else if (p.substr(0, 32).find("\"type\":\"error\"") != std::string_view::npos)
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
      if (due <= Clock::now())
        due_count = 1;
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

}  // namespace

void run_fanout(Env& env, unsigned n, bool at_20k) {
  const Options& opt = *env.opt;
  std::printf(
      "\n== fan-out to N = %u: one sender, %u receivers each a distinct member user with "
      "one WebSocket, one public channel\n",
      n, n);
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
  WsSet recv = open_ws_set(loops, env.endpoints(), hellos, n, opt.source_addrs, 64, 16 * 1024);
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
  while (Clock::now() < quiet_deadline && now_ns() - fs.last_other_ns.load() < 1'000'000'000)
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
                  phase == 0   ? "closed loop"
                  : phase == 1 ? "at 50% rate"
                               : "at 20k deliveries/s",
                  r.rate(), r.rate() / n, percentile_ms(r.latency_ns, 0.5),
                  percentile_ms(r.latency_ns, 0.99), percentile_ms(r.latency_ns, 0.999),
                  r.gen_cpu / std::max(1e-9, r.seconds),
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

}  // namespace parley::bench
